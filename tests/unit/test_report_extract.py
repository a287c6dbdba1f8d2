"""Getting reports out of mail, JSON, gzip and zip; refusing decompression bombs."""

from __future__ import annotations

import email
import email.policy
import gzip
import io
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import orjson
import pytest
from msgspec.structs import replace

from mtasts import report_extract
from mtasts.errors import ReportError, ReportTooLargeError
from mtasts.report import TlsReport
from mtasts.report_extract import extract_mail, load_reports, read_reports
from mtasts.report_stream import StreamedReport
from tests.giant_report import write_giant_report

REPORT = {
    "organization-name": "Example Mail Co",
    "date-range": {
        "start-datetime": "2026-11-01T00:00:00Z",
        "end-datetime": "2026-11-01T23:59:59Z",
    },
    "contact-info": "tlsrpt@mail.example",
    "report-id": "2026-11-01T00:00:00Z_example.com",
    "policies": [
        {
            "policy": {
                "policy-type": "sts",
                "policy-string": ["version: STSv1", "mode: testing"],
                "policy-domain": "example.com",
                "mx-host-pattern": ["*.example.com"],
            },
            "summary": {"total-successful-session-count": 10, "total-failure-session-count": 2},
            "failure-details": [
                {
                    "result-type": "certificate-expired",
                    "sending-mta-ip": "192.0.2.1",
                    "receiving-mx-hostname": "mx1.example.com",
                    "failed-session-count": 2,
                }
            ],
        }
    ],
}
JSON = orjson.dumps(REPORT)
GIB = 1 << 30


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def report_mail(payload: bytes, maintype: str, subtype: str, filename: str) -> bytes:
    message = EmailMessage()
    message["From"] = "noreply-smtp-tls-reporting@mail.example"
    message["To"] = "tlsrpt@example.com"
    message["Subject"] = "Report Domain: example.com Submitter: mail.example Report-ID: <r1>"
    message["TLS-Report-Domain"] = "example.com"
    message["TLS-Report-Submitter"] = "mail.example"
    message.set_content("This is an aggregate TLS report.")
    message.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (JSON, "r.json"),
        (b"\xef\xbb\xbf  \n" + JSON, "bom.json"),
        (gzip.compress(JSON), "mail.example!example.com!1!2.json.gz"),
        (gzip.compress(JSON), "report.gz"),
        (zipped({"r.json": JSON}), "r.zip"),
        (zipped({"r.json.gz": gzip.compress(JSON)}), "nested.zip"),
        (gzip.compress(JSON), None),
    ],
)
def test_files_are_recognised_by_content(data: bytes, name: str | None) -> None:
    (report,) = load_reports(data, name).reports
    assert report.report_id == REPORT["report-id"]


@pytest.mark.parametrize(
    ("payload", "maintype", "subtype", "filename"),
    [
        (gzip.compress(JSON), "application", "tlsrpt+gzip", "r.json.gz"),
        (JSON, "application", "tlsrpt+json", "r.json"),
        (gzip.compress(JSON), "application", "gzip", "r.json.gz"),
        (gzip.compress(JSON), "application", "octet-stream", "r.json.gz"),
        (zipped({"r.json": JSON}), "application", "zip", "r.zip"),
        (gzip.compress(JSON), "application", "octet-stream", "r.gz"),
    ],
)
def test_mail_with_the_report_attached_in_the_ways_senders_do(
    payload: bytes, maintype: str, subtype: str, filename: str
) -> None:
    loaded = load_reports(report_mail(payload, maintype, subtype, filename))
    assert [r.organization_name for r in loaded.reports] == ["Example Mail Co"]
    assert loaded.mail is not None
    assert (loaded.mail.report_domain, loaded.mail.report_submitter) == (
        "example.com",
        "mail.example",
    )
    assert loaded.mail.subject is not None and "Report-ID: <r1>" in loaded.mail.subject


def test_a_forwarded_report_inside_message_rfc822_is_found() -> None:
    inner = EmailMessage()
    inner["Subject"] = "original"
    inner.set_content("see attachment")
    inner.add_attachment(gzip.compress(JSON), maintype="application", subtype="tlsrpt+gzip")
    outer = EmailMessage()
    outer["Subject"] = "Fwd: report"
    outer.set_content("forwarding")
    outer.add_attachment(inner)
    assert len(load_reports(outer.as_bytes()).reports) == 1


def test_a_mail_with_no_report_says_so() -> None:
    message = EmailMessage()
    message["Subject"] = "hello"
    message.set_content("no report here")
    with pytest.raises(ReportError, match="no TLS-RPT report"):
        extract_mail(message.as_bytes())


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (gzip.compress(JSON)[:-30], "truncated gzip"),
        (b"\x1f\x8b\x08\x00garbage-garbage-garbage", "corrupt gzip"),
        (zipped({"readme.txt": b"hello"}), "no json report"),
        (b"PK\x03\x04broken", "corrupt zip"),
        (b"[1, 2]", "not a json object"),
        (b"{not json", "not valid json"),
    ],
)
def test_broken_inputs_get_a_clear_typed_error(data: bytes, reason: str) -> None:
    with pytest.raises(ReportError) as caught:
        load_reports(data)
    assert reason in str(caught.value).lower()


def gzip_of_zeros(total: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 24)
    parts = [compressor.compress(block) for _ in range(total // len(block))]
    return b"".join(parts) + compressor.flush()


@pytest.fixture(scope="module")
def gigabyte_bomb() -> bytes:
    return gzip_of_zeros(GIB)


def peak_traced_memory(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        action()
    except ReportTooLargeError:
        pass
    else:
        raise AssertionError("the bomb was not refused")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.slow
def test_a_gzip_bomb_is_refused_with_little_memory(gigabyte_bomb: bytes) -> None:
    with pytest.raises(ReportTooLargeError, match="decompression bomb"):
        load_reports(gigabyte_bomb)
    assert peak_traced_memory(lambda: load_reports(gigabyte_bomb)) < 100 * 1024 * 1024


@pytest.mark.slow
def test_a_bomb_whose_trailer_lies_about_its_size_is_refused_too(gigabyte_bomb: bytes) -> None:
    liar = gigabyte_bomb[:-4] + (100).to_bytes(4, "little")  # ISIZE claims 100 bytes
    assert peak_traced_memory(lambda: load_reports(liar)) < 100 * 1024 * 1024


def test_the_cap_is_configurable_and_counts_every_member() -> None:
    data = zipped({"a.json": JSON, "b.json": JSON})
    assert len(load_reports(data, limit=2 * len(JSON)).reports) == 2
    with pytest.raises(ReportTooLargeError):
        load_reports(data, limit=2 * len(JSON) - 1)


def test_a_zip_bomb_is_refused() -> None:
    bomb = zipped({f"{i}.json": bytes(8 << 20) for i in range(4)})  # 32 MiB of zeros
    with pytest.raises(ReportTooLargeError):
        load_reports(bomb, limit=16 << 20)


def test_multi_member_gzip_is_read_whole() -> None:
    half = len(JSON) // 2
    data = gzip.compress(JSON[:half]) + gzip.compress(JSON[half:])
    (report,) = load_reports(data).reports
    assert report.report_id == REPORT["report-id"]


def test_nesting_is_bounded() -> None:
    data = JSON
    for _ in range(5):
        data = gzip.compress(data)
    with pytest.raises(ReportError, match="nested"):
        load_reports(data)


def test_the_original_is_kept_verbatim() -> None:
    raw = orjson.dumps({**REPORT, "x-vendor-field": {"k": 1}})
    (report,) = load_reports(raw).reports
    assert report.original()["x-vendor-field"] == {"k": 1}


@pytest.mark.parametrize("step", [1, 7, 1 << 20])
def test_gunzip_in_any_step_size_gives_every_byte_and_charges_them_exactly(
    monkeypatch: pytest.MonkeyPatch, step: int
) -> None:
    monkeypatch.setattr(report_extract, "_INFLATE_STEP", step)
    data = gzip.compress(JSON) + gzip.compress(b"") + gzip.compress(JSON[:10])
    expected = JSON + JSON[:10]
    assert report_extract.gunzip(data, report_extract._Budget(len(expected))) == expected
    with pytest.raises(ReportTooLargeError):
        report_extract.gunzip(data, report_extract._Budget(len(expected) - 1))


@pytest.mark.parametrize("step", [1, 1 << 20])
def test_gunzip_tells_a_truncated_stream_from_a_small_step(
    monkeypatch: pytest.MonkeyPatch, step: int
) -> None:
    monkeypatch.setattr(report_extract, "_INFLATE_STEP", step)
    whole = gzip.compress(JSON)
    for cut in (11, len(whole) // 2, len(whole) - 1):
        with pytest.raises(ReportError, match="truncated gzip"):
            report_extract.gunzip(whole[:cut], report_extract._Budget(GIB))


# --- the bomb rule: at most MAX_RATIO times the input, whatever the limit ------------------------


@pytest.mark.slow
def test_a_bomb_is_refused_by_its_ratio_however_high_the_limit(gigabyte_bomb: bytes) -> None:
    with pytest.raises(ReportTooLargeError, match="decompression bomb"):
        read_reports(gigabyte_bomb, limit=GIB, in_memory=1 << 20)
    streamed_peak = peak_traced_memory(lambda: read_reports(gigabyte_bomb, limit=GIB))
    assert streamed_peak < 32 * 1024 * 1024


def test_the_budget_is_the_limit_or_a_hundred_times_the_input_whichever_is_smaller() -> None:
    small = len(JSON)
    assert report_extract._allowance(small, GIB) == report_extract.FREE_ALLOWANCE
    assert report_extract._allowance(1 << 20, GIB) == 100 << 20
    assert report_extract._allowance(1 << 30, 64 << 20) == 64 << 20
    bomb = gzip_of_zeros(32 << 20)  # about 32 KiB: 1000 times smaller than what it gives
    with pytest.raises(ReportTooLargeError):
        load_reports(report_mail(bomb, "application", "gzip", "r.json.gz"), limit=GIB)


# --- read_reports: giant documents streamed, the same reports as read whole ----------------------

CORPUS = Path(__file__).parents[1] / "corpus" / "reports"
SAMPLES = sorted(
    p for p in CORPUS.iterdir() if p.suffix in (".gz", ".zip", ".json", ".eml")
    and not p.name.endswith(".expected.json")
)  # fmt: skip


def reads_alike(whole: TlsReport, streamed: StreamedReport) -> bool:
    def envelope(report: TlsReport) -> dict[str, object]:
        dumped = report.model_dump()
        for result in dumped["policies"]:
            del result["failure_details"]
        return dumped

    tallies = [tally for _, tally in whole.policy_tallies()]
    return envelope(whole) == envelope(streamed.envelope) and tallies == list(streamed.tallies)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_every_corpus_sample_streams_to_the_same_report(sample: Path) -> None:
    data = sample.read_bytes()
    whole = load_reports(data, sample.name)
    streamed = read_reports(data, sample.name, in_memory=100)
    assert all(isinstance(r, StreamedReport) for r in streamed.reports)
    assert len(whole.reports) == len(streamed.reports)
    for one, other in zip(whole.reports, streamed.reports, strict=True):
        assert isinstance(other, StreamedReport) and reads_alike(one, other)
        assert other.source is not None and other.source.payload in data or sample.suffix == ".eml"
    assert (whole.mail is None) == (streamed.mail is None)


def test_small_documents_are_read_whole_and_big_ones_streamed() -> None:
    data = zipped({"a.json": JSON, "b.json.gz": gzip.compress(JSON)})
    assert [type(r) for r in read_reports(data).reports] == [TlsReport, TlsReport]
    streamed = read_reports(data, in_memory=len(JSON) - 1).reports
    assert [type(r) for r in streamed] == [StreamedReport, StreamedReport]


def test_streamed_reports_compare_by_what_was_read_not_where_it_came_from() -> None:
    plain = read_reports(JSON, in_memory=10).reports
    zipped_ = read_reports(zipped({"a.json.gz": gzip.compress(JSON)}), in_memory=10).reports
    ((one,), (other,)) = plain, zipped_
    assert isinstance(one, StreamedReport) and isinstance(other, StreamedReport)
    assert one.source != other.source
    assert one == other and not one != other
    assert one != replace(other, json_size=other.json_size + 1)


@pytest.mark.parametrize("step", [1, 5, 1 << 20])
def test_multi_member_gzip_streams_in_any_step(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    monkeypatch.setattr(report_extract, "_STREAM_STEP", step)
    half = len(JSON) // 2
    data = gzip.compress(JSON[:half]) + gzip.compress(b"") + gzip.compress(JSON[half:])
    (streamed,) = read_reports(data, in_memory=10).reports
    assert isinstance(streamed, StreamedReport)
    assert reads_alike(load_reports(data).reports[0], streamed)


def test_a_giant_report_streams_to_what_it_reads_whole(tmp_path: Path) -> None:
    giant = write_giant_report(tmp_path / "giant.json.gz", 1 << 20)
    data = giant.path.read_bytes()
    (whole,) = load_reports(data).reports
    (streamed,) = read_reports(data).reports
    assert isinstance(streamed, StreamedReport) and reads_alike(whole, streamed)
    assert streamed.json_size == giant.json_bytes and streamed.source is not None
    assert sum(t.details for t in streamed.tallies) == giant.details
    assert streamed.source.payload == data  # what is archived: the attachment as received


def test_a_zip_inside_gzip_is_held_whole_only_up_to_a_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    inner = zipped({"r.json": JSON})
    data = gzip.compress(inner)
    assert len(load_reports(data).reports) == 1
    monkeypatch.setattr(report_extract, "_MAX_NESTED_ZIP", 100)
    monkeypatch.setattr(report_extract, "_INFLATE_STEP", 64)
    with pytest.raises(ReportTooLargeError, match="zip archive inside"):
        load_reports(data)


# --- the mail parser ----------------------------------------------------------------------------


@pytest.mark.parametrize("sample", sorted(CORPUS.glob("*.eml")), ids=lambda p: p.name)
def test_mail_is_parsed_as_message_from_bytes_parses_it(sample: Path) -> None:
    raw = sample.read_bytes()
    ours = report_extract._parse_message(raw)
    stdlib = email.message_from_bytes(raw, policy=email.policy.default)
    assert ours.as_bytes() == stdlib.as_bytes()
    assert [p.get_payload(decode=True) for p in ours.walk()] == [
        p.get_payload(decode=True) for p in stdlib.walk()
    ]
