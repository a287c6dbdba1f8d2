"""Property tests: render then parse is the identity, and no input makes a parser raise
anything but the library's own typed error."""

from __future__ import annotations

import gzip
import io
import zipfile

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from mtasts.errors import MtaStsError
from mtasts.policy import (
    MAX_AGE_LIMIT,
    Mode,
    Policy,
    check_policy,
    mx_matches,
    parse_policy,
    render_policy,
)
from mtasts.report_extract import load_reports
from mtasts.sts_record import check_sts_record, parse_sts_record, render_sts_record
from mtasts.tlsrpt_record import check_tlsrpt_record, parse_tlsrpt_record, render_tlsrpt_record

label = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9\-]{0,14}[a-zA-Z0-9])?", fullmatch=True)
domain = st.lists(label, min_size=1, max_size=4).map(".".join)
mx_pattern = st.tuples(st.booleans(), domain).map(lambda t: ("*." if t[0] else "") + t[1])
extension_name = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}", fullmatch=True)
extension_value = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="=;"), min_size=1
)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    mode = draw(st.sampled_from(list(Mode)))
    minimum = 0 if mode is Mode.NONE else 1
    mx = draw(st.lists(mx_pattern, min_size=minimum, max_size=5))
    return Policy(mode=mode, max_age=draw(st.integers(0, MAX_AGE_LIMIT)), mx=tuple(mx))


@given(policies())
def test_render_then_parse_returns_the_same_policy(policy: Policy) -> None:
    assert parse_policy(render_policy(policy)) == policy
    assert parse_policy(render_policy(policy).encode()) == policy


@given(
    st.from_regex(r"[A-Za-z0-9]{1,32}", fullmatch=True),
    st.dictionaries(extension_name.filter(lambda n: n != "id"), extension_value, max_size=3),
)
def test_render_then_parse_returns_the_same_sts_record(
    policy_id: str, extensions: dict[str, str]
) -> None:
    record = parse_sts_record(render_sts_record(policy_id, extensions))
    assert (record.id, record.extensions) == (policy_id, extensions)


rua_uri = st.one_of(
    st.tuples(st.from_regex(r"[a-z0-9.+\-]{1,20}", fullmatch=True), domain).map(
        lambda t: f"mailto:{t[0]}@{t[1]}"
    ),
    st.tuples(domain, st.from_regex(r"(/[a-z0-9]{1,8}){0,3}", fullmatch=True)).map(
        lambda t: f"https://{t[0]}{t[1]}"
    ),
)


@given(
    st.lists(rua_uri, min_size=1, max_size=4),
    st.dictionaries(extension_name.filter(lambda n: n != "rua"), extension_value, max_size=3),
)
def test_render_then_parse_returns_the_same_tlsrpt_record(
    rua: list[str], extensions: dict[str, str]
) -> None:
    record = parse_tlsrpt_record(render_tlsrpt_record(rua, extensions))
    assert (record.rua, record.extensions) == (rua, extensions)


@given(label, domain)
def test_a_wildcard_covers_one_label_and_never_two(first: str, suffix: str) -> None:
    assert mx_matches(f"*.{suffix}", f"{first}.{suffix}")
    assert not mx_matches(f"*.{suffix}", f"{first}.{first}.{suffix}")
    assert not mx_matches(f"*.{suffix}", suffix)


# Text built from the policy's own vocabulary reaches deeper than random characters alone.
policy_line = st.one_of(
    st.text(max_size=40),
    st.tuples(
        st.sampled_from(["version", "mode", "max_age", "mx", "Mode", "x", ""]),
        st.sampled_from([":", ": ", " :", ":\t", ""]),
        st.one_of(
            st.sampled_from(["STSv1", "enforce", "testing", "none", "86400", "*.a.example"]),
            st.text(max_size=20),
        ),
    ).map("".join),
)
policy_text = st.lists(policy_line, max_size=8).flatmap(
    lambda lines: st.sampled_from(["\n", "\r\n", "\r"]).map(lambda end: end.join(lines))
)


@given(st.one_of(policy_text, st.text()))
def test_policy_parsing_never_raises_anything_but_its_own_error(text: str) -> None:
    result = check_policy(text)
    assert result.valid == (result.value is not None)
    try:
        parse_policy(text)
    except MtaStsError:
        pass


@given(st.binary(max_size=300))
def test_policy_bytes_never_raise(data: bytes) -> None:
    check_policy(data)


record_text = st.one_of(
    st.text(max_size=60),
    st.tuples(
        st.sampled_from(["v=STSv1", "v=TLSRPTv1", "v=STSv1;", "v=TLSRPTv1; "]),
        st.lists(
            st.tuples(
                st.sampled_from(["id", "rua", "ext", "", "ID"]),
                st.sampled_from(["=", "", "=="]),
                st.text(max_size=20),
            ).map("".join),
            max_size=4,
        ).map(";".join),
    ).map("; ".join),
)


@given(record_text)
def test_record_parsing_never_raises(text: str) -> None:
    check_sts_record(text)
    check_tlsrpt_record(text)


def _zipped(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("r.json", data)
    return buffer.getvalue()


json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "report-id",
                    "organization-name",
                    "date-range",
                    "policies",
                    "policy",
                    "summary",
                    "failure-details",
                    "start-datetime",
                    "end-datetime",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=200)
@given(
    st.one_of(
        st.binary(max_size=400),
        json_value.map(orjson.dumps),
        st.binary(max_size=200).map(lambda b: b"{" + b),
        st.binary(max_size=200).map(gzip.compress),
        st.binary(max_size=200).map(lambda b: gzip.compress(b)[: len(b) // 2 + 5]),
        st.binary(max_size=200).map(_zipped),
        st.text(max_size=200).map(lambda t: ("Content-Type: application/json\n\n" + t).encode()),
    )
)
def test_report_loading_never_raises_anything_but_its_own_error(data: bytes) -> None:
    try:
        load_reports(data)
    except MtaStsError:
        pass
