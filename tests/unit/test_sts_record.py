"""`_mta-sts` TXT record, RFC 8461 §3.1, including the mistakes popular checkers make."""

from __future__ import annotations

import pytest

from mtasts._txt_fields import join_txt_strings
from mtasts.errors import PolicyIdError, RecordParseError
from mtasts.findings import Code, Severity
from mtasts.sts_record import (
    check_sts_record,
    parse_sts_record,
    render_sts_record,
    select_sts_record,
)


def codes(text: str) -> set[Code]:
    return {f.code for f in check_sts_record(text).findings}


@pytest.mark.parametrize(
    "text",
    [
        "v=STSv1; id=20160831085700Z",
        "v=STSv1;id=abc",
        "v=STSv1 ; id=abc",
        "v=STSv1\t;\tid=abc",
        "v=STSv1; id=abc;",
        "v=STSv1; id=abc; ",
        "v=STSv1; id=" + "a" * 32,
        "v=STSv1; id=0",
    ],
)
def test_valid_records(text: str) -> None:
    assert check_sts_record(text).valid, check_sts_record(text).findings


def test_the_id_and_version_are_read() -> None:
    record = parse_sts_record("v=STSv1; id=20261128T1")
    assert (record.version, record.id, record.extensions) == ("STSv1", "20261128T1", {})


@pytest.mark.parametrize(
    "text",
    ["v=STSv1; id=" + "a" * 33, "v=STSv1; id=abc-def", "v=STSv1; id=abc_def", "v=STSv1; id="],
)
def test_ids_longer_than_32_or_with_punctuation_are_rejected(text: str) -> None:
    result = check_sts_record(text)
    assert not result.valid
    assert Code.STS_RECORD_ID_INVALID in codes(text)


def test_extension_fields_are_allowed_and_kept_aside() -> None:
    record = parse_sts_record("v=STSv1; ext-1.x=some_value; id=abc; other=1")
    assert record.id == "abc"
    assert record.extensions == {"ext-1.x": "some_value", "other": "1"}


@pytest.mark.parametrize(
    "text",
    ["v=STSv1; id=abc; =x", "v=STSv1; id=abc; -bad=x", "v=STSv1; id=abc; e=has space"],
)
def test_malformed_extensions_are_errors(text: str) -> None:
    assert Code.STS_RECORD_INVALID in codes(text)
    assert not check_sts_record(text).valid


@pytest.mark.parametrize(
    "text",
    ["V=STSv1; id=abc", "v=stsv1; id=abc", "v=STSv2; id=abc", " v=STSv1; id=abc"],
)
def test_version_is_first_and_case_sensitive(text: str) -> None:
    assert not check_sts_record(text).valid


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("v=STSv1", Code.STS_RECORD_ID_MISSING),
        ("v=STSv1;", Code.STS_RECORD_ID_MISSING),
        ("v=STSv1 id=abc", Code.STS_RECORD_INVALID),
        ("v=STSv1; ; id=abc", Code.STS_RECORD_INVALID),
        ("v=STSv1; id=a; id=b", Code.STS_RECORD_ID_DUPLICATE),
        ("v=STSv1; ID=abc", Code.STS_RECORD_ID_MISSING),  # field names are case-sensitive
    ],
)
def test_grammar_violations(text: str, code: Code) -> None:
    assert code in codes(text)
    assert not check_sts_record(text).valid


def test_trailing_whitespace_without_delimiter_is_tolerated_with_a_warning() -> None:
    result = check_sts_record("v=STSv1; id=abc ")
    assert result.valid
    assert [f.severity for f in result.findings] == [Severity.WARNING]


def test_unrelated_txt_records_beside_it_are_ignored_not_errors() -> None:
    result = select_sts_record(
        ["google-site-verification=xyz", "v=STSv1; id=abc", "v=spf1 -all", "v=STSv10; id=x"]
    )
    assert result.valid and result.value is not None
    assert result.value.id == "abc"
    assert result.findings == ()


def test_no_record_means_no_policy() -> None:
    result = select_sts_record(["v=spf1 -all"])
    assert not result.valid
    assert [f.code for f in result.findings] == [Code.STS_RECORD_MISSING]


def test_two_records_mean_no_policy_even_if_both_are_valid() -> None:
    result = select_sts_record(["v=STSv1; id=a", "v=STSv1; id=b"])
    assert not result.valid
    assert [f.code for f in result.findings] == [Code.STS_RECORD_MULTIPLE]


def test_a_broken_second_record_still_counts_as_a_second_record() -> None:
    result = select_sts_record(["v=STSv1; id=a", "v=STSv1"])
    assert [f.code for f in result.findings] == [Code.STS_RECORD_MULTIPLE]


def test_a_record_split_into_strings_is_joined_without_spaces() -> None:
    joined = join_txt_strings([b"v=STSv1; id=2026", b"1128"])
    assert parse_sts_record(joined).id == "20261128"


def test_render_round_trips_and_refuses_bad_ids() -> None:
    text = render_sts_record("20261128153000", {"ext": "v1"})
    assert text == "v=STSv1; id=20261128153000; ext=v1"
    assert parse_sts_record(text).id == "20261128153000"
    with pytest.raises(PolicyIdError):
        render_sts_record("2026-11-28")
    with pytest.raises(RecordParseError):
        render_sts_record("abc", {"bad name": "x"})


def test_parse_raises_a_typed_error_with_findings() -> None:
    with pytest.raises(RecordParseError) as caught:
        parse_sts_record("v=STSv1; id=bad!")
    assert caught.value.findings
    assert "bad!" in str(caught.value)
