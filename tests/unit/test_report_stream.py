"""Reading a report as a stream must come out as reading it whole: the same envelope, failure
details that add up to the same tallies, the same refusal and the same reason, wherever the
chunks happen to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtasts import report_stream
from mtasts.errors import MtaStsError, ReportError, ReportTooLargeError
from mtasts.report import TlsReport
from mtasts.report_extract import read_reports
from mtasts.report_stream import read_stream
from tests.unit.test_report_fast_path import (
    INVALID_VARIANTS,
    RAW_CASES,
    VALID_VARIANTS,
    dumps,
    mutated_reports,
)
from tests.unit.test_report_model import BASE, DETAIL, detail_variant, variant

CHUNK_SIZES = (1, 2, 7, 64, 1 << 20)


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    return (data[start : start + size] for start in range(0, len(data), size))


def whole(data: bytes) -> tuple[Any, ...]:
    """The outcome of reading `data` whole, as the stream reader should give it."""
    try:
        report = TlsReport.from_json(data)
    except ReportError as error:
        return _refused(error)
    tallies = [tally for _, tally in report.policy_tallies()]
    return ("accepted", _without_details(report), tallies)


def streamed(data: bytes, size: int) -> tuple[Any, ...]:
    try:
        report = read_stream(chunked(data, size))
    except ReportError as error:
        return _refused(error)
    return ("accepted", _without_details(report.envelope), list(report.tallies))


def _refused(error: ReportError) -> tuple[Any, ...]:
    message = str(error)
    # Where two parsers find bad JSON they word it in their own way; that it is bad is the same.
    if message.startswith("invalid report: not valid JSON"):
        message = "invalid report: not valid JSON"
    return ("refused", type(error), message)


def _without_details(report: TlsReport) -> dict[str, Any]:
    dumped = report.model_dump()
    for result in dumped["policies"]:
        del result["failure_details"]
    return dumped


def assert_same(data: bytes, sizes: tuple[int, ...] = CHUNK_SIZES) -> None:
    expected = whole(data.removeprefix(b"\xef\xbb\xbf"))
    for size in sizes:
        assert streamed(data, size) == expected, f"chunks of {size}"


@pytest.mark.parametrize("report", VALID_VARIANTS + INVALID_VARIANTS)
def test_every_model_case_reads_as_it_does_whole(report: Any) -> None:
    assert_same(dumps(report))


@pytest.mark.parametrize("data", RAW_CASES)
def test_edge_case_bytes_read_as_they_do_whole(data: bytes) -> None:
    assert_same(data)


ODD = detail_variant(x_vendor={"nested": [1, "},"]})  # msgspec refuses it; the rules take it
MANY = [
    detail_variant(failed_session_count=n, receiving_mx_hostname=f"mx{n % 3}") for n in range(40)
]


@pytest.mark.parametrize(
    "details",
    [
        pytest.param(MANY, id="many"),
        pytest.param([*MANY, ODD, *MANY], id="one-odd-detail-amid-many"),
        pytest.param(
            [detail_variant(additional_information="a},{b}]") for _ in range(9)],
            id="brackets-in-strings",
        ),
        pytest.param([DETAIL, 5, DETAIL], id="a-number-among-details"),
        pytest.param([DETAIL, [DETAIL]], id="a-list-among-details"),
        pytest.param(
            [*MANY, detail_variant(failed_session_count=-1), *MANY], id="a-bad-detail-amid-many"
        ),
        pytest.param(
            [{"result_type": "x", "failed_session_count": 2}] * 3, id="snake-case-details"
        ),
        pytest.param([detail_variant(failed_session_count="4")] * 3, id="counts-as-strings"),
        pytest.param([], id="none"),
    ],
)
@pytest.mark.parametrize("pretty", [False, True])
def test_failure_details_of_every_kind_add_up_as_they_do_whole(
    details: list[Any], pretty: bool
) -> None:
    report = variant(policies__0__failure_details=details)
    report["policies"].append({**report["policies"][0], "summary": BASE["policies"][0]["summary"]})
    data = json.dumps(report, indent=2 if pretty else None).encode()
    assert_same(data)


def test_keys_that_repeat_count_as_they_do_whole() -> None:
    result = BASE["policies"][0]
    first = json.dumps({**result, "failure-details": MANY})[:-1]
    again = json.dumps(result["failure-details"])
    doubled = f'{first}, "failure-details": {again}}}'.encode()
    report = dumps(BASE).replace(json.dumps(result).encode(), doubled)
    assert report != dumps(BASE)
    assert_same(report)
    policies = dumps(BASE).replace(
        b'"policies": [', b'"policies": [' + json.dumps(result).encode() + b'], "policies": ['
    )
    assert_same(policies)


def test_a_tally_adds_up_every_detail_by_result_type_and_mx() -> None:
    report = read_stream(chunked(dumps(variant(policies__0__failure_details=MANY)), 5))
    (tally,) = report.tallies
    assert tally.details == 40
    assert tally.by_mx == {f"mx{k}": sum(n for n in range(40) if n % 3 == k) for k in range(3)}
    assert tally.by_result_type == {DETAIL["result-type"]: sum(range(40))}
    assert report.json_size == len(dumps(variant(policies__0__failure_details=MANY)))


def test_a_utf8_bom_split_across_chunks_is_dropped() -> None:
    data = b"\xef\xbb\xbf" + dumps(BASE)
    assert streamed(data, 1) == whole(dumps(BASE))


def test_an_envelope_too_big_to_hold_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_stream, "ENVELOPE_LIMIT", 1000)
    many_policies = variant(policies=[BASE["policies"][0]] * 5)
    with pytest.raises(ReportTooLargeError, match="without its failure details"):
        read_stream(chunked(dumps(many_policies), 64))
    one_big_value = variant(policies__0__policy__policy_string=["x" * 2000])
    with pytest.raises(ReportTooLargeError, match="a value"):
        read_stream(chunked(dumps(one_big_value), 64))
    many = variant(policies__0__failure_details=[DETAIL] * 500)
    assert read_stream(chunked(dumps(many), 64)).tallies[0].details == 500


def test_one_giant_failure_detail_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_stream, "ENVELOPE_LIMIT", 1000)
    giant = variant(policies__0__failure_details=[detail_variant(receiving_ip="1" * 5000)])
    with pytest.raises(ReportTooLargeError, match="failure detail"):
        read_stream(chunked(dumps(giant), 64))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_reports(), st.sampled_from(CHUNK_SIZES[:-1]))
def test_random_reports_read_as_they_do_whole(data: bytes, size: int) -> None:
    assert_same(data, (size,))


json_text = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["policies", "failure-details", "policy", "summary", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
).map(lambda value: json.dumps(value).encode())


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        json_text,
        json_text.map(lambda data: data[: len(data) // 2]),
        st.binary(max_size=100).map(lambda junk: dumps(BASE)[:200] + junk),
    ),
    st.sampled_from((1, 3, 1 << 20)),
)
def test_streaming_anything_raises_nothing_but_its_own_error(data: bytes, size: int) -> None:
    try:
        read_stream(chunked(data, size))
    except MtaStsError:
        pass
    try:
        read_reports(data, in_memory=0)
    except MtaStsError:
        pass
