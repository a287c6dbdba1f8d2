"""The policy file, RFC 8461 §3.2, including the mistakes popular tools make."""

from __future__ import annotations

import pytest

from mtasts.errors import PolicyParseError
from mtasts.findings import Code, Severity
from mtasts.policy import (
    MAX_AGE_LIMIT,
    POLICY_SIZE_LIMIT,
    Mode,
    Policy,
    build_policy,
    check_policy,
    parse_policy,
    policy_hash,
    render_policy,
)

GOOD = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n"


def codes(text: str | bytes) -> list[Code]:
    return [f.code for f in check_policy(text).findings]


def test_a_good_policy() -> None:
    policy = parse_policy(GOOD)
    assert policy == Policy(
        mode=Mode.ENFORCE, max_age=604800, mx=("mail.example.com", "*.example.net")
    )
    assert check_policy(GOOD).findings == ()


@pytest.mark.parametrize(
    "text",
    [
        GOOD.replace("\n", "\r\n"),
        GOOD,
        "version: STSv1\r\nmode: enforce\nmx: mail.example.com\r\n"
        "mx: *.example.net\nmax_age: 604800",
        GOOD.rstrip("\n"),  # no terminator after the last line
    ],
    ids=["crlf", "lf", "mixed", "no-final-newline"],
)
def test_line_endings_crlf_lf_and_mixed_are_all_accepted(text: str) -> None:
    assert parse_policy(text) == parse_policy(GOOD)


def test_whitespace_after_the_colon_and_at_line_end_is_allowed() -> None:
    text = "version:STSv1\nmode:\t enforce \nmx:   mail.example.com\t\nmax_age: 86400\n"
    policy = parse_policy(text)
    assert (policy.mode, policy.mx, policy.max_age) == (Mode.ENFORCE, ("mail.example.com",), 86400)


def test_whitespace_before_the_colon_is_a_syntax_error() -> None:
    assert Code.POLICY_SYNTAX in codes(GOOD + "mode : testing\n")
    assert not check_policy(GOOD + "mode : testing\n").valid


@pytest.mark.parametrize("mode", ["enforce", "testing", "none"])
def test_the_three_modes(mode: str) -> None:
    assert parse_policy(GOOD.replace("enforce", mode)).mode == Mode(mode)


@pytest.mark.parametrize("mode", ["Enforce", "ENFORCE", "report", "enforce;"])
def test_mode_values_are_case_sensitive_and_closed(mode: str) -> None:
    assert Code.POLICY_MODE_INVALID in codes(GOOD.replace("enforce", mode))


def test_field_names_are_case_sensitive_so_Mode_is_unknown() -> None:
    text = GOOD.replace("mode: enforce", "Mode: enforce")
    result = check_policy(text)
    assert not result.valid
    assert Code.POLICY_MODE_MISSING in codes(text)
    unknown = [f for f in result.findings if f.code is Code.POLICY_FIELD_UNKNOWN]
    assert unknown and "case-sensitive" in unknown[0].message


@pytest.mark.parametrize("max_age", ["0", "86400", str(MAX_AGE_LIMIT), "0000604800"])
def test_max_age_range(max_age: str) -> None:
    assert check_policy(GOOD.replace("604800", max_age)).valid


@pytest.mark.parametrize(
    "max_age", [str(MAX_AGE_LIMIT + 1), "-1", "1e5", "86400s", "00000000001", "", "9999999999"]
)
def test_max_age_out_of_range_or_not_digits_is_invalid(max_age: str) -> None:
    text = GOOD.replace("604800", max_age)
    assert not check_policy(text).valid
    expected = Code.POLICY_SYNTAX if max_age == "" else Code.POLICY_MAX_AGE_INVALID
    assert expected in codes(text)


@pytest.mark.parametrize(
    ("missing", "code"),
    [
        ("version: STSv1\n", Code.POLICY_VERSION_MISSING),
        ("max_age: 604800\n", Code.POLICY_MAX_AGE_MISSING),
        ("mode: enforce\n", Code.POLICY_MODE_MISSING),
    ],
)
def test_a_policy_lacking_version_mode_or_max_age_is_invalid(missing: str, code: Code) -> None:
    text = GOOD.replace(missing, "")
    assert not check_policy(text).valid
    assert code in codes(text)


@pytest.mark.parametrize("version", ["STSv2", "stsv1", "STSv1.0"])
def test_version_must_be_STSv1(version: str) -> None:
    assert Code.POLICY_VERSION_INVALID in codes(GOOD.replace("STSv1", version))


@pytest.mark.parametrize("mode", ["enforce", "testing"])
def test_mx_is_required_unless_mode_is_none(mode: str) -> None:
    text = f"version: STSv1\nmode: {mode}\nmax_age: 86400\n"
    assert codes(text) == [Code.POLICY_MX_MISSING]
    assert parse_policy("version: STSv1\nmode: none\nmax_age: 86400\n").mx == ()


def test_unknown_fields_are_ignored_not_rejected() -> None:
    text = GOOD + "x-comment: hello world\nfuture_field: 1\n"
    result = check_policy(text)
    assert result.value == parse_policy(GOOD)
    assert {f.severity for f in result.findings} == {Severity.INFO}


def test_a_repeated_field_keeps_its_first_value_not_the_last() -> None:
    text = GOOD + "mode: testing\nmax_age: 1\nversion: STSv2\n"
    result = check_policy(text)
    assert result.value is not None
    assert (result.value.mode, result.value.max_age) == (Mode.ENFORCE, 604800)
    duplicates = [f for f in result.findings if f.code is Code.POLICY_FIELD_DUPLICATE]
    assert len(duplicates) == 3 and all(f.severity is Severity.WARNING for f in duplicates)


def test_mx_may_repeat_and_keeps_order() -> None:
    assert parse_policy(GOOD).mx == ("mail.example.com", "*.example.net")


@pytest.mark.parametrize(
    "mx",
    [
        "*.*.example.com",
        "mail.*.example.com",
        "*example.com",
        "*",
        "-bad.example.com",
        "bad-.example.com",
        "a..example.com",
        "mail_1.example.com",
        "mäil.example.com",
        "a" * 64 + ".example.com",
        "http://mail.example.com",
    ],
)
def test_invalid_mx_patterns(mx: str) -> None:
    assert Code.POLICY_MX_INVALID in codes(GOOD.replace("mail.example.com", mx))


@pytest.mark.parametrize(
    "mx", ["xn--mil-via.example.com", "MX1.Example.COM", "*.mx.example.com", "1mx.example.com"]
)
def test_valid_mx_patterns(mx: str) -> None:
    assert mx in parse_policy(GOOD.replace("mail.example.com", mx)).mx


def test_a_trailing_dot_on_mx_is_a_warning_and_dropped() -> None:
    result = check_policy(GOOD.replace("mail.example.com", "mail.example.com."))
    assert result.value is not None and result.value.mx[0] == "mail.example.com"
    assert [f.code for f in result.findings] == [Code.POLICY_MX_TRAILING_DOT]


@pytest.mark.parametrize(
    "line", ["just words", " mode: enforce", "mx:", "name with space: x", "ctl: a\x01b"]
)
def test_lines_that_are_not_name_colon_value(line: str) -> None:
    text = GOOD + line + "\n"
    assert Code.POLICY_SYNTAX in codes(text)
    assert not check_policy(text).valid


def test_blank_lines_are_outside_the_grammar_but_only_warned_about() -> None:
    result = check_policy(GOOD.replace("mx: mail", "\nmx: mail"))
    assert result.valid
    assert [f.code for f in result.findings] == [Code.POLICY_BLANK_LINE]


def test_a_bare_cr_is_not_a_line_ending() -> None:
    assert not check_policy(GOOD.replace("\n", "\r")).valid


def test_a_byte_order_mark_is_reported() -> None:
    assert Code.POLICY_SYNTAX in codes(b"\xef\xbb\xbf" + GOOD.encode())


def test_bytes_must_be_utf8_and_utf8_extension_values_are_fine() -> None:
    assert codes(GOOD.encode() + b"x: \xff\n") == [Code.POLICY_NOT_UTF8]
    assert check_policy((GOOD + "note: grüße\n").encode()).valid


def test_a_policy_over_64_kib_is_refused_as_senders_would() -> None:
    padding = "x: " + "a" * 100 + "\n"
    big = (GOOD + padding * (POLICY_SIZE_LIMIT // len(padding) + 1)).encode()
    assert len(big) > POLICY_SIZE_LIMIT
    assert codes(big) == [Code.POLICY_TOO_LARGE]


def test_a_short_enforce_max_age_is_warned_about() -> None:
    result = check_policy(GOOD.replace("604800", "3600"))
    assert result.valid
    assert [f.code for f in result.findings] == [Code.POLICY_MAX_AGE_SHORT]


def test_render_is_crlf_in_a_fixed_order() -> None:
    policy = parse_policy("max_age: 86400\nmx: b.example.com\nmode: testing\nversion: STSv1\n")
    assert render_policy(policy) == (
        "version: STSv1\r\nmode: testing\r\nmx: b.example.com\r\nmax_age: 86400\r\n"
    )


def test_build_policy_applies_the_parser_rules() -> None:
    assert build_policy("enforce", ["mx.example.com"], 86400).mx == ("mx.example.com",)
    with pytest.raises(PolicyParseError) as caught:
        build_policy("enforce", [], 86400)
    assert "needs at least one mx" in str(caught.value)
    with pytest.raises(PolicyParseError):
        build_policy("enforce", ["mx.example.com"], MAX_AGE_LIMIT + 1)


def test_policy_hash_is_stable_and_tracks_content() -> None:
    a = parse_policy(GOOD)
    assert policy_hash(a) == policy_hash(parse_policy(GOOD.replace("\n", "\r\n")))
    assert policy_hash(a) != policy_hash(parse_policy(GOOD.replace("604800", "604801")))
    assert len(policy_hash(a)) == 64
