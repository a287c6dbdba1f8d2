"""`_smtp._tls` TXT record, RFC 8460 §3, including the mistakes popular checkers make."""

from __future__ import annotations

import pytest

from mtasts.errors import RecordParseError
from mtasts.findings import Code, Severity
from mtasts.tlsrpt_record import (
    check_tlsrpt_record,
    parse_tlsrpt_record,
    render_tlsrpt_record,
    select_tlsrpt_record,
)


def codes(text: str) -> set[Code]:
    return {f.code for f in check_tlsrpt_record(text).findings}


def test_a_single_mailto() -> None:
    record = parse_tlsrpt_record("v=TLSRPTv1; rua=mailto:tlsrpt@example.com")
    assert (record.version, record.rua, record.extensions) == (
        "TLSRPTv1",
        ["mailto:tlsrpt@example.com"],
        {},
    )


@pytest.mark.parametrize(
    "text",
    [
        "v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/v1",
        "v=TLSRPTv1; rua=mailto:a@example.com, https://r.example.com/v1",
        "v=TLSRPTv1; rua=mailto:a@example.com ,https://r.example.com/v1",
        "v=TLSRPTv1;rua=mailto:a@example.com , https://r.example.com/v1;",
    ],
)
def test_whitespace_around_the_comma_is_allowed(text: str) -> None:
    assert parse_tlsrpt_record(text).rua == ["mailto:a@example.com", "https://r.example.com/v1"]


def test_extension_fields_are_allowed_and_kept_aside() -> None:
    record = parse_tlsrpt_record("v=TLSRPTv1; rua=mailto:a@example.com; future-ext=1")
    assert record.extensions == {"future-ext": "1"}


@pytest.mark.parametrize(
    "text",
    ["v=tlsrptv1; rua=mailto:a@example.com", "V=TLSRPTv1; rua=mailto:a@example.com"],
)
def test_version_is_case_sensitive(text: str) -> None:
    assert not check_tlsrpt_record(text).valid


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("v=TLSRPTv1", Code.TLSRPT_RUA_MISSING),
        ("v=TLSRPTv1; ext=1", Code.TLSRPT_RUA_MISSING),
        ("v=TLSRPTv1; rua=mailto:nobody", Code.TLSRPT_RUA_INVALID),
        ("v=TLSRPTv1; rua=https:///path", Code.TLSRPT_RUA_INVALID),
        ("v=TLSRPTv1; rua=mailto:a@example.com!10m", Code.TLSRPT_RUA_INVALID),
        ("v=TLSRPTv1; rua=", Code.TLSRPT_RUA_INVALID),
        ("v=TLSRPTv1; rua=mailto:a@x.example; rua=mailto:b@x.example", Code.TLSRPT_RUA_DUPLICATE),
        ("v=TLSRPTv1; rua=http://r.example.com", Code.TLSRPT_RUA_INVALID),
    ],
)
def test_invalid_records(text: str, code: Code) -> None:
    assert code in codes(text)
    assert not check_tlsrpt_record(text).valid


def test_an_unsupported_scheme_beside_a_good_one_is_only_a_warning() -> None:
    result = check_tlsrpt_record("v=TLSRPTv1; rua=ftp://x.example/r, mailto:a@example.com")
    assert result.valid
    assert [(f.code, f.severity) for f in result.findings] == [
        (Code.TLSRPT_RUA_UNSUPPORTED_SCHEME, Severity.WARNING)
    ]


def test_exactly_one_record_or_no_reporting() -> None:
    good = "v=TLSRPTv1; rua=mailto:a@example.com"
    assert select_tlsrpt_record(["v=spf1 -all", good]).valid
    assert [f.code for f in select_tlsrpt_record([good, good]).findings] == [
        Code.TLSRPT_RECORD_MULTIPLE
    ]
    assert [f.code for f in select_tlsrpt_record(["v=spf1"]).findings] == [
        Code.TLSRPT_RECORD_MISSING
    ]


def test_render_round_trips() -> None:
    text = render_tlsrpt_record(["mailto:a@example.com", "https://r.example.com/x"])
    assert text == "v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/x"
    assert parse_tlsrpt_record(text).rua == ["mailto:a@example.com", "https://r.example.com/x"]


@pytest.mark.parametrize("rua", [[], ["mailto:broken"], ["mailto:a@example.com, b"]])
def test_render_refuses_bad_destinations(rua: list[str]) -> None:
    with pytest.raises(RecordParseError):
        render_tlsrpt_record(rua)
