"""The msgspec fast path of `TlsReport.from_json` against the path of record, and the one-step
gunzip of `load_reports` against its general path.

Whatever the fast path accepts must be accepted by the pydantic rules and read the same way, and
whatever it cannot vouch for goes to them: so every case below, valid or not, must come out of
`from_json` exactly as it comes out of `_from_json_checked` (same dump, same original, same
error message). Likewise `load_reports`'s one-step gunzip must give exactly what its general path
gives, and leave everything else to it."""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AliasChoices, TypeAdapter

from mtasts import report_extract
from mtasts.errors import ReportError, ReportTooLargeError
from mtasts.report import (
    _DETAIL_FIELDS,
    DateRangeFields,
    FailureDetailFields,
    PolicyDescriptor,
    PolicyDescriptorFields,
    PolicyResult,
    PolicyResultFields,
    ReportFields,
    Summary,
    SummaryFields,
    TlsReport,
    UtcDatetime,
    _DateRangeText,
    _Detail,
    _ReportBody,
    plain_datetime,
)
from mtasts.report_extract import load_reports
from tests.unit.test_report_model import (
    BASE,
    DETAIL,
    EQUIVALENT_DETAILS,
    detail_variant,
    variant,
)

CORPUS = Path(__file__).parent.parent / "corpus" / "reports"


def outcome(parse: Any, data: bytes) -> tuple[Any, ...]:
    try:
        report = parse(data)
    except ReportError as exc:
        return ("refused", type(exc), str(exc))
    try:
        original: Any = report.original()
    except ValueError as exc:  # orjson refuses what pydantic-core accepted (e.g. 1e400, unread)
        original = ("original() raises", type(exc))
    return ("accepted", report.model_dump(), original)


def assert_same(data: bytes) -> None:
    assert outcome(TlsReport.from_json, data) == outcome(TlsReport._from_json_checked, data)


def dumps(report: Any) -> bytes:
    # json, not orjson: it writes integers of any size.
    return json.dumps(report, ensure_ascii=False).encode()


def with_details(*details: Any) -> dict[str, Any]:
    return variant(policies__0__failure_details=list(details))


VALID_VARIANTS = [
    BASE,
    variant(policies__0__policy__mx_host_pattern=..., policies__0__policy__mx_host=["a"]),
    variant(policies__0__policy__mx_host_pattern=..., policies__0__policy__mx_host="a"),
    variant(policies__0__policy__mx_host=["ignored"]),
    variant(date_range__start_datetime="2026-11-01T00:00:00"),
    variant(date_range__start_datetime="2026-11-01T02:00:00+02:00"),
    variant(date_range__start_datetime="2026-11-01T00:00:00.250Z"),
    variant(date_range__start_datetime="2026-11-01T00:00:00.1234567Z"),
    variant(date_range__start_datetime="2026-11-01"),
    variant(date_range__start_datetime=1793491200),
    variant(contact_info=..., policies__0__failure_details=...),
    variant(policies__0__policy__policy_string=..., policies__0__policy__mx_host_pattern=...),
    variant(policies__0__failure_details=None),
    variant(policies__0__summary__total_successful_session_count="42"),
    variant(policies__0__summary__total_successful_session_count=42.0),
    variant(policies__0__policy__policy_string="version: STSv1\r\nmode: testing"),
    variant(policies__0__policy__policy_type="something-new"),
    variant(policies=[]),
    variant(x_vendor={"deep": [[[{"a": None}]]]}),
    variant(policies__0__x_vendor=1, policies__0__policy__x_vendor=[1.5]),
    *(with_details(DETAIL, detail, DETAIL) for detail in EQUIVALENT_DETAILS),
    with_details(detail_variant(failed_session_count=10**30)),
    with_details(detail_variant(failed_session_count=0)),
    with_details(*[detail_variant(failed_session_count=n) for n in range(50)]),
    with_details(detail_variant(result_type="")),
    with_details(detail_variant(receiving_mx_helo=None, receiving_ip=None)),
    with_details(detail_variant(additional_information=None)),
    with_details(detail_variant(additional_info_uri=7)),  # not read: the RFC name is there
]

INVALID_VARIANTS = [
    variant(report_id=...),
    variant(report_id=""),
    variant(report_id=7),
    variant(organization_name=""),
    variant(policies=...),
    variant(policies=None),
    variant(policies="x"),
    variant(policies=[1]),
    variant(policies=[{}]),
    variant(date_range__end_datetime="2026-10-01T00:00:00Z"),
    variant(date_range__start_datetime="yesterday"),
    variant(date_range=...),
    variant(policies__0__summary__total_failure_session_count=-1),
    variant(policies__0__summary=...),
    variant(policies__0__policy__policy_domain=...),
    variant(policies__0__policy__mx_host_pattern=[1]),
    variant(policies__0__failure_details={"result-type": "x"}),
    variant(policies__0__failure_details="x"),
    with_details(None),
    with_details([]),
    with_details(DETAIL, DETAIL, "certificate-expired"),
    with_details(DETAIL, detail_variant(sending_mta_ip=25)),
    with_details(detail_variant(additional_information=["a"])),
    with_details(detail_variant(failed_session_count=-2)),
    with_details(detail_variant(failed_session_count=4.5)),
    with_details(detail_variant(failed_session_count=None)),
    with_details(detail_variant(failed_session_count=...)),
    with_details(detail_variant(result_type=...)),
    with_details(detail_variant(result_type=None)),
    with_details(detail_variant(result_type=3)),
    with_details(detail_variant(receiving_mx_hostname=True)),
    with_details(detail_variant(additional_information=..., additional_info_uri=7)),
    # A broken envelope and a broken detail: the path of record says which comes first.
    variant(report_id="", policies__0__failure_details=[detail_variant(failed_session_count=-1)]),
]


@pytest.mark.parametrize("report", VALID_VARIANTS + INVALID_VARIANTS)
def test_every_model_case_comes_out_as_the_path_of_record_says(report: Any) -> None:
    assert_same(dumps(report))


def test_the_cases_cover_both_outcomes() -> None:
    accepted = [outcome(TlsReport.from_json, dumps(r))[0] for r in VALID_VARIANTS]
    refused = [outcome(TlsReport.from_json, dumps(r))[0] for r in INVALID_VARIANTS]
    assert set(accepted) == {"accepted"} and set(refused) == {"refused"}


RAW_CASES = [
    b"",
    b"{",
    b"[]",
    b"null",
    b'"a report"',
    b"\xef\xbb\xbf" + orjson.dumps(BASE),
    b"\xff\xfe",
    b'{"report-id": NaN}',
    orjson.dumps(BASE) + b" x",
    orjson.dumps(BASE, option=orjson.OPT_INDENT_2),
    # Repeated keys: the last one counts, in a detail, a policy and the report.
    dumps(BASE).replace(
        b'"failed-session-count": 3', b'"failed-session-count": 5, "failed-session-count": 3'
    ),
    dumps(BASE).replace(
        b'"failed-session-count": 3', b'"failed-session-count": -5, "failed-session-count": 3'
    ),
    dumps(BASE).replace(
        b'"failed-session-count": 3', b'"failed-session-count": 3, "failed-session-count": "x"'
    ),
    dumps(BASE).replace(b'"failure-details": [', b'"failure-details": [], "failure-details": ['),
    dumps(BASE).replace(b'"failure-details": [', b'"failure-details": 7, "failure-details": ['),
    dumps(BASE).replace(b'"report-id": "r-1"', b'"report-id": "r-0", "report-id": "r-1"'),
    dumps(BASE).replace(b'"report-id": "r-1"', b'"report_id": "r-9", "report-id": "r-1"'),
    # Numbers and strings at the edges of the two JSON parsers.
    dumps(BASE).replace(b'"failed-session-count": 3', b'"failed-session-count": 3.0'),
    dumps(BASE).replace(b'"failed-session-count": 3', b'"failed-session-count": 3e0'),
    dumps(BASE).replace(b'"failed-session-count": 3', b'"failed-session-count": -0'),
    dumps(BASE).replace(b'"failed-session-count": 3', b'"failed-session-count": true'),
    dumps(BASE).replace(b'"failed-session-count": 3', b'"failed-session-count": 1e400'),
    dumps(BASE).replace(b'"failed-session-count": 3', b'"failed-session-count": ' + b"9" * 400),
    dumps(BASE).replace(
        b'"total-failure-session-count": 3', b'"total-failure-session-count": 1e400'
    ),
    dumps(BASE).replace(b'"192.0.2.25"', b'"\\ud800"'),
    dumps(BASE).replace(b'"192.0.2.25"', b'"\\udc00\\ud800"'),
    dumps(BASE).replace(b'"192.0.2.25"', b'"\\ud83d\\ude00 \\u0000"'),
    dumps(BASE).replace(b'"192.0.2.25"', b'"\xed\xa0\x80"'),
    dumps(BASE).replace(b'"192.0.2.25"', b'"a\x01b"'),
    dumps(BASE).replace(b'"r-1"', b'"\\ud800"'),
    dumps(BASE).replace(b'"r-1"', b'"r-1", "x": ' + b"[" * 5000 + b"]" * 5000),
    dumps(BASE).replace(b'"r-1"', b'"r-1", "x": ' + b"[" * 150 + b"]" * 150),
    dumps(BASE).replace(b'"sts"', b'"sts", "x": ' + b"[" * 500 + b"]" * 500),
    dumps(BASE).replace(b'"sts"', b'"sts", "x": {"y": [1, {"z": null}]}'),
    dumps(BASE).replace(b'"total-failure-session-count": 3', b'"total-failure-session-count": [3]'),
    dumps(BASE).replace(b'"failure-details"', b'"x": "\\ud800", "failure-details"'),
    dumps(BASE).replace(b'"failure-details"', b'"x": 1e400, "failure-details"'),
]


@pytest.mark.parametrize("data", RAW_CASES)
def test_edge_case_bytes_come_out_as_the_path_of_record_says(data: bytes) -> None:
    assert_same(data)


def test_a_reloaded_dump_comes_out_as_the_path_of_record_says() -> None:
    assert_same(TlsReport.from_json(dumps(BASE)).model_dump_json().encode())


CORPUS_JSON = sorted(CORPUS.glob("*.json")) + sorted((CORPUS / "invalid").glob("*.json"))


@pytest.mark.parametrize("path", CORPUS_JSON, ids=lambda p: p.name)
def test_corpus_documents_come_out_as_the_path_of_record_says(path: Path) -> None:
    assert_same(path.read_bytes())


def test_senders_variants_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """What real senders send (and the benchmark corpus) must not need the path of record."""
    from benchmarks.report_parsing import build_corpus

    documents = [gzip.decompress(sample.payload) for sample in build_corpus()]
    documents += [dumps(report) for report in VALID_VARIANTS[:7]]
    documents += [(CORPUS / "rfc-two-policies.json").read_bytes()]
    expected = [outcome(TlsReport._from_json_checked, data) for data in documents]

    def refuse(data: bytes) -> TlsReport:
        raise AssertionError("the fast path handed a sender's report to the path of record")

    monkeypatch.setattr(TlsReport, "_from_json_checked", refuse)
    assert [outcome(TlsReport.from_json, data) for data in documents] == expected


# --- what msgspec decodes is what the pydantic models read ---------------------------------------


def alias_names(model: Any) -> set[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [name]
        assert all(isinstance(choice, str) for choice in choices)
        names |= {str(choice) for choice in choices}
    return names


def encoded_names(struct: Any) -> set[str]:
    return {field.encode_name for field in msgspec.structs.fields(struct)}


def snake_case_names(model: Any) -> set[str]:
    """The Python names that the rules also accept as keys (a reloaded dump)."""
    return {
        name
        for name, info in model.model_fields.items()
        if isinstance(info.validation_alias, AliasChoices) and "_" in name
    }


@pytest.mark.parametrize(
    ("struct", "model"),
    [
        (_ReportBody, ReportFields),
        (_DateRangeText, DateRangeFields),
        (PolicyResult, PolicyResultFields),
        (PolicyDescriptor, PolicyDescriptorFields),
        (Summary, SummaryFields),
    ],
)
def test_the_structs_read_every_name_the_rules_read_but_the_snake_case_ones(
    struct: Any, model: Any
) -> None:
    """The RFC names and the senders' variants are read; the snake_case names are unknown keys,
    which the structs refuse (so the rules read them): none is skipped."""
    assert encoded_names(struct) == alias_names(model) - snake_case_names(model)
    assert struct.__struct_config__.forbid_unknown_fields


def test_the_fast_detail_has_exactly_the_rfc_names_the_rules_read() -> None:
    encoded = encoded_names(_Detail)
    rfc_names = alias_names(FailureDetailFields) - {name for name, _ in _DETAIL_FIELDS}
    assert encoded == rfc_names == {rfc for _, rfc in _DETAIL_FIELDS} | {"additional-info-uri"}


# --- random reports ------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "x", "2026-11-01T00:00:00Z", "2026-11-01T00:00:00", "7", "-1"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["a", "result-type", "failed-session-count"]), inner, max_size=3
        )
    ),
    max_leaves=6,
)
DETAIL_KEYS = [rfc for _, rfc in _DETAIL_FIELDS] + [name for name, _ in _DETAIL_FIELDS]
DETAIL_KEYS += ["additional-info-uri", "x-vendor"]
PATHS = [
    ("report-id",),
    ("report_id",),
    ("organization-name",),
    ("contact-info",),
    ("date-range",),
    ("date-range", "start-datetime"),
    ("date-range", "end-datetime"),
    ("policies",),
    ("policies", 0),
    ("policies", 0, "policy", "mx-host"),
    ("policies", 0, "policy", "policy-string"),
    ("policies", 0, "summary", "total-failure-session-count"),
    ("policies", 0, "failure-details"),
    ("policies", 0, "failure_details"),
    ("policies", 0, "failure-details", 0),
    *(("policies", 0, "failure-details", 0, key) for key in DETAIL_KEYS),
]


@st.composite
def mutated_reports(draw: st.DrawFn) -> bytes:
    report: Any = json.loads(json.dumps(with_details(DETAIL, DETAIL)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        *parents, last = draw(st.sampled_from(PATHS))
        node = report
        try:
            for part in parents:
                node = node[part]
            if draw(st.booleans()) and isinstance(node, dict):
                node.pop(last, None)
            else:
                node[last] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue
    return dumps(report)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_reports())
def test_random_reports_come_out_as_the_path_of_record_says(data: bytes) -> None:
    assert_same(data)


# --- datetimes: the plain shape is read as the rules read it -------------------------------------

RULES_DATETIME = TypeAdapter(UtcDatetime)


def digits(low: int, high: int) -> st.SearchStrategy[str]:
    """Two digits, nine times in ten in range."""
    return (
        st.integers(0, 9)
        .flatmap(lambda k: st.integers(low, high) if k else st.integers(0, 99))
        .map("{:02d}".format)
    )


zones = st.one_of(
    st.sampled_from(["", "Z", "z"]),
    st.tuples(st.sampled_from("+-"), digits(0, 23), digits(0, 59)).map(
        lambda parts: f"{parts[0]}{parts[1]}:{parts[2]}"
    ),
)
plain_shaped = st.builds(
    lambda year, month, day, hour, minute, second, fraction, zone: (
        f"{year:04d}-{month}-{day}T{hour}:{minute}:{second}{fraction}{zone}"
    ),
    st.one_of(st.integers(1, 9999), st.sampled_from([0, 1, 9999])),
    digits(1, 12),
    digits(1, 31),
    digits(0, 23),
    digits(0, 59),
    digits(0, 60),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,9}", fullmatch=True)),
    zones,
)
near_misses = st.one_of(
    plain_shaped.map(lambda text: text.replace("T", " ")),
    plain_shaped.map(lambda text: text.replace("-", "", 2)),
    plain_shaped.map(lambda text: text[:16]),
    st.from_regex(r"2026-W[0-9]{2}-[1-7]T00:00:00Z", fullmatch=True),
    st.text(max_size=30),
)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(plain_shaped, near_misses))
def test_the_fast_datetime_reads_as_the_rules_or_leaves_it_to_them(text: str) -> None:
    fast = plain_datetime(text)
    if fast is None:
        return  # the rules decide
    assert fast == RULES_DATETIME.validate_python(text)
    assert fast.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01T00:00:00Z",
        "2026-11-01T00:00:00",
        "2026-11-01T02:00:00+02:00",
        "2026-11-01T00:00:00.250Z",
        "2026-11-01T00:00:00.123456-00:00",
        "0001-01-01T00:00:00-01:00",
    ],
)
def test_the_usual_datetimes_take_the_fast_path(text: str) -> None:
    assert plain_datetime(text) == RULES_DATETIME.validate_python(text)


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-02-30T00:00:00Z"]
)
def test_a_datetime_off_the_calendar_is_a_report_error_not_a_crash(text: str) -> None:
    assert plain_datetime(text) is None
    with pytest.raises(ReportError, match="start-datetime"):
        TlsReport.from_json(dumps(variant(date_range__start_datetime=text)))


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01T00:00:00.1234565Z",
        "2026-11-01T00:00:00.9999995Z",
        "2026-11-01T23:59:59.99999951",
    ],
)
def test_msgspec_would_round_what_the_rules_truncate_so_the_range_is_read_as_text(
    text: str,
) -> None:
    """Why `from_json` reads the date range from text, not with msgspec's own datetime
    decoding: past six fractional digits msgspec rounds and pydantic truncates, and a decoded
    datetime no longer shows which it was. `plain_datetime` leaves such text to the rules."""
    natively = msgspec.json.decode(orjson.dumps(text), type=datetime)
    by_the_rules = RULES_DATETIME.validate_python(text)
    assert natively.replace(tzinfo=UTC) != by_the_rules
    assert plain_datetime(text) is None


# --- the one-step gunzip against the general path -----------------

GZ_REPORT = gzip.compress(dumps(BASE), mtime=0)
GZ_BIG_REPORT = gzip.compress(dumps(with_details(*[DETAIL] * 400)), mtime=0)


def deflate_bits(*fields: tuple[int, int]) -> bytes:
    """(value, width) fields packed as DEFLATE packs them, from the least significant bit."""
    value = count = 0
    for field_value, width in fields:
        value |= field_value << count
        count += width
    return value.to_bytes((count + 7) // 8, "little")


def huffman(code: int, length: int) -> tuple[int, int]:
    """A Huffman code goes in from its most significant bit."""
    return int(format(code, f"0{length}b")[::-1], 2), length


def fixed_code(symbol: int) -> tuple[int, int]:
    """The code of a literal/length symbol in a fixed-Huffman block (RFC 1951 §3.2.6)."""
    if symbol < 144:
        return huffman(0x30 + symbol, 8)
    if symbol < 256:
        return huffman(0x190 + symbol - 144, 9)
    if symbol < 280:
        return huffman(symbol - 256, 7)
    return huffman(0xC0 + symbol - 280, 8)


def gzip_member(
    deflated: bytes, content: bytes, flags: int = 0, header_fields: bytes = b""
) -> bytes:
    trailer = struct.pack("<II", zlib.crc32(content), len(content))
    return b"\x1f\x8b\x08" + bytes([flags]) + bytes(6) + header_fields + deflated + trailer


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


def header_crc(flags: int, header_fields: bytes) -> bytes:
    head = b"\x1f\x8b\x08" + bytes([flags]) + bytes(6) + header_fields
    return struct.pack("<H", zlib.crc32(head) & 0xFFFF)


def with_invalid_length_or_distance(length_symbol: int, distance_symbol: int) -> bytes:
    """A fixed-Huffman block: `{`, then a match with a length or distance symbol that RFC 1951
    reserves. zlib refuses them; a lenient inflater (libdeflate) reads 286 and 287 as a length
    of 258, so the trailer is written for that reading: only the code can make it refuse."""
    stream = deflate_bits(
        (1, 1),  # BFINAL
        (1, 2),  # BTYPE: fixed Huffman
        fixed_code(ord("{")),
        fixed_code(length_symbol),
        huffman(distance_symbol, 5),
        fixed_code(256),
    )
    return gzip_member(stream, b"{" * 259)


def with_dynamic_header(hlit: int, hdist: int, precode: tuple[int, ...]) -> bytes:
    """A dynamic-Huffman block header (then junk) that zlib refuses: too many length or
    distance codes, or a precode of one symbol (an incomplete code)."""
    lengths = [(length, 3) for length in precode]
    stream = deflate_bits((1, 1), (2, 2), (hlit, 5), (hdist, 5), (len(precode) - 4, 4), *lengths)
    return gzip_member(stream + b"\x55" * 24, b"{}")


HEADER_FIELDS = struct.pack("<H", 4) + b"ab\x00\x00" + b"r.json\x00" + b"a comment\x00"
GZIP_CASES = [
    GZ_REPORT,
    GZ_BIG_REPORT,
    gzip.compress(dumps(BASE), compresslevel=0, mtime=0),  # stored blocks
    gzip.compress(dumps(BASE), compresslevel=1, mtime=0),
    gzip.compress(dumps(BASE), compresslevel=9, mtime=0),
    gzip.compress(b"\xef\xbb\xbf \n" + dumps(BASE), mtime=0),
    gzip.compress(b"not json", mtime=0),
    gzip.compress(b"", mtime=0),
    gzip.compress(GZ_REPORT, mtime=0),
    gzip_member(raw_deflate(dumps(BASE)), dumps(BASE), 0x1C, HEADER_FIELDS),
    gzip_member(
        raw_deflate(dumps(BASE)), dumps(BASE), 0x1E, HEADER_FIELDS + header_crc(0x1E, HEADER_FIELDS)
    ),
    gzip_member(raw_deflate(dumps(BASE)), dumps(BASE), 0x1E, HEADER_FIELDS + b"\x00\x00"),
    gzip_member(raw_deflate(dumps(BASE)), dumps(BASE), 0x20),  # a reserved flag
    # Several members, padding, and a second member that is broken or not one.
    GZ_REPORT + GZ_REPORT,
    GZ_REPORT + gzip.compress(b"", mtime=0),
    GZ_REPORT + gzip.compress(b" \n", mtime=0),
    gzip.compress(dumps(BASE)[:40], mtime=0) + gzip.compress(dumps(BASE)[40:], mtime=0),
    GZ_REPORT + bytes(8),
    GZ_REPORT + b"trailing garbage",
    GZ_REPORT + b"\x1f",
    GZ_REPORT + b"\x1f\x8b",
    GZ_REPORT + b"\x1f\x8b\x09" + GZ_REPORT[3:],  # not deflate
    GZ_REPORT + GZ_REPORT[:-9],  # a truncated second member
    # Truncated or corrupt members.
    GZ_REPORT[:-1],
    GZ_REPORT[:-8],
    GZ_REPORT[:30],
    GZ_REPORT[:-8] + bytes(8),  # CRC and length wrong
    GZ_REPORT[:-4] + struct.pack("<I", len(dumps(BASE)) + 1),  # the length wrong
    GZ_REPORT[:-8] + struct.pack("<I", zlib.crc32(dumps(BASE)) ^ 1) + GZ_REPORT[-4:],
    GZ_REPORT[:20] + bytes([GZ_REPORT[20] ^ 0x40]) + GZ_REPORT[21:],
    gzip_member(deflate_bits((1, 1), (0, 2)) + struct.pack("<HH", 2, 2) + b"{}", b"{}"),
    # Streams that zlib refuses and a lenient inflater would read.
    with_invalid_length_or_distance(286, 0),
    with_invalid_length_or_distance(287, 0),
    with_invalid_length_or_distance(257, 30),
    with_invalid_length_or_distance(257, 31),
    with_dynamic_header(30, 0, (0, 0, 0, 1)),
    with_dynamic_header(31, 0, (0, 0, 0, 1)),
    with_dynamic_header(0, 30, (0, 0, 0, 1)),
    with_dynamic_header(0, 31, (0, 0, 0, 1)),
    with_dynamic_header(0, 0, (0, 0, 0, 1)),
]


def one_step(data: bytes, allowed: int) -> tuple[Any, ...]:
    """What `_gunzip_in_one_step` gives."""
    try:
        return ("inflated", report_extract._gunzip_in_one_step(data, allowed))
    except ReportTooLargeError as exc:
        return ("too large", str(exc))


def loaded(data: bytes, limit: int) -> tuple[Any, ...]:
    try:
        result = load_reports(data, "r.json.gz", limit)
    except ReportError as exc:
        return ("refused", type(exc), str(exc))
    return ("accepted", [(r.model_dump(), r._original_json) for r in result.reports], result.mail)


def assert_one_step_is_the_general_paths(data: bytes, limit: int = 64 << 20) -> None:
    """`load_reports` gives what its general path (which never takes the one step) gives: the
    same reports, originals and errors."""
    fast = loaded(data, limit)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report_extract, "_gunzip_in_one_step", lambda data, allowed: None)
        assert loaded(data, limit) == fast


@pytest.mark.parametrize("data", GZIP_CASES)
def test_the_one_step_gunzip_reads_exactly_what_the_general_path_reads(data: bytes) -> None:
    assert_one_step_is_the_general_paths(data)


@pytest.mark.parametrize("limit", [100, 2_000, len(dumps(BASE)), len(dumps(BASE)) + 1])
def test_the_one_step_gunzip_keeps_the_size_budget(limit: int) -> None:
    assert_one_step_is_the_general_paths(GZ_REPORT, limit)
    assert_one_step_is_the_general_paths(GZ_BIG_REPORT, limit)


def test_the_one_step_gunzip_takes_the_usual_attachment_and_nothing_else() -> None:
    """The cases above are not all left to the general path: a single member is inflated in one
    step, and the streams that only a lenient inflater reads are not."""
    inflated = [one_step(data, 64 << 20)[1] for data in GZIP_CASES]
    assert inflated[0] == dumps(BASE)
    assert inflated[GZIP_CASES.index(GZ_REPORT + GZ_REPORT)] is None
    lenient = GZIP_CASES[-9:]
    assert [one_step(data, 64 << 20)[1] for data in lenient] == [None] * len(lenient)


@st.composite
def damaged_gzip(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from([GZ_REPORT, GZ_REPORT + GZ_REPORT, GZIP_CASES[9]])))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        where = draw(st.integers(min_value=0, max_value=len(data)))
        kind = draw(st.sampled_from(["flip", "cut", "append", "insert"]))
        if kind == "flip" and where < len(data):
            data[where] ^= draw(st.integers(min_value=1, max_value=255))
        elif kind == "cut":
            del data[where:]
        elif kind == "append":
            data += draw(st.sampled_from([b"\x1f\x8b", b"\x00" * 8, GZ_REPORT[:12], b"x"]))
        else:
            data[where:where] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_gzip())
def test_damaged_gzip_reads_in_one_step_as_on_the_general_path(data: bytes) -> None:
    assert_one_step_is_the_general_paths(data)
