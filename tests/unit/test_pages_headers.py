"""The `_headers` file as Cloudflare Pages reads and applies it: rules, splats, placeholders,
detaching, what is ignored, and how rules combine with the headers Pages sends anyway."""

from __future__ import annotations

import pytest

from mtasts_local.pages_headers import (
    MAX_LINE_LENGTH,
    MAX_RULES,
    HeadersFile,
    compile_url_pattern,
    normalise_url,
    parse_headers_file,
)

HOST = "mta-sts.example.com"
POLICY = "/.well-known/mta-sts.txt"
PAGES_DEFAULTS = {"Content-Type": "application/octet-stream", "Cache-Control": "public"}

MTA_STS_HEADERS = b"""\
# What the product deploys beside the policy.
/.well-known/mta-sts.txt
  Content-Type: text/plain; charset=utf-8
  Cache-Control: no-store
"""


def headers_for(text: str | bytes, path: str = POLICY, host: str = HOST) -> dict[str, str]:
    return parse_headers_file(text).apply(host, path, PAGES_DEFAULTS)


def test_the_products_headers_file_sets_the_policys_content_type_and_cache_control():
    rules = parse_headers_file(MTA_STS_HEADERS)

    assert rules.problems == ()
    assert [rule.url for rule in rules.rules] == [POLICY]
    assert rules.apply(HOST, POLICY, PAGES_DEFAULTS) == {
        "content-type": "text/plain; charset=utf-8",
        "cache-control": "no-store",
    }


def test_rules_for_other_paths_leave_the_defaults_alone():
    assert headers_for(MTA_STS_HEADERS, path="/index.html") == {
        "content-type": "application/octet-stream",
        "cache-control": "public",
    }


def test_no_file_and_an_empty_file_have_no_rules():
    assert parse_headers_file(None) == HeadersFile(rules=())
    assert parse_headers_file(b"\n  \n# only a comment\n").rules == ()


def test_crlf_line_ends_a_byte_order_mark_and_indentation_do_not_matter():
    text = "\ufeff/a\r\n\tX-One: 1\r\n/b\r\nX-Two: 2\r\n".encode()

    rules = parse_headers_file(text)

    assert [(rule.url, rule.set_headers) for rule in rules.rules] == [
        ("/a", (("x-one", "1"),)),
        ("/b", (("x-two", "2"),)),
    ]


def test_a_value_keeps_its_colons_and_a_repeated_name_in_one_rule_is_joined():
    text = "/*\n  Link: <https://a.example/x>; rel=preload\n  X-Multi: a\n  x-multi: b\n"

    headers = headers_for(text)

    assert headers["link"] == "<https://a.example/x>; rel=preload"
    assert headers["x-multi"] == "a, b"


def test_a_splat_matches_any_rest_of_the_path_and_can_be_used_in_a_value():
    text = "/.well-known/*\n  X-Rest: got :splat\n"

    assert headers_for(text)["x-rest"] == "got mta-sts.txt"
    assert headers_for(text, path="/.well-known/a/b")["x-rest"] == "got a/b"
    assert "x-rest" not in headers_for(text, path="/.well-knownX/a")


def test_a_path_placeholder_matches_exactly_one_segment():
    text = "/:dir/mta-sts.txt\n  X-Dir: :dir\n"

    assert headers_for(text)["x-dir"] == ".well-known"
    assert "x-dir" not in headers_for(text, path="/a/b/mta-sts.txt")


def test_an_absolute_rule_matches_only_its_host_and_a_host_placeholder_one_label():
    text = "https://:sub.example.com/*\n  X-Sub: :sub\n"

    assert headers_for(text)["x-sub"] == "mta-sts"
    assert "x-sub" not in headers_for(text, host="mta-sts.example.net")
    assert "x-sub" not in headers_for(text, host="a.b.example.com")


def test_pattern_characters_in_a_url_are_literal():
    text = "/a.b+c\n  X-Hit: yes\n"

    assert headers_for(text, path="/a.b+c")["x-hit"] == "yes"
    assert "x-hit" not in headers_for(text, path="/aXbbc")


def test_matching_rules_combine_in_file_order_appending_values_they_set_twice():
    text = "/*\n  X-Frame-Options: DENY\n  X-Tag: a\n/.well-known/*\n  X-Tag: b\n"

    headers = headers_for(text)

    assert headers["x-frame-options"] == "DENY"
    assert headers["x-tag"] == "a, b"


def test_a_rule_replaces_a_header_pages_sends_instead_of_appending_to_it():
    assert headers_for("/*\n  Cache-Control: max-age=60\n")["cache-control"] == "max-age=60"


def test_detach_removes_a_header_set_by_an_earlier_rule_or_by_pages():
    text = "/*\n  X-Robots-Tag: noindex\n/.well-known/*\n  ! X-Robots-Tag\n  ! Cache-Control\n"

    headers = headers_for(text)

    assert "x-robots-tag" not in headers
    assert "cache-control" not in headers
    assert headers_for(text, path="/other")["x-robots-tag"] == "noindex"


def test_a_rule_with_only_a_detach_is_kept():
    rules = parse_headers_file("/*\n  ! X-Powered-By\n")

    assert [rule.detach for rule in rules.rules] == [("x-powered-by",)]
    assert rules.problems == ()


def test_the_query_and_fragment_of_a_rule_url_are_dropped_and_the_path_encoded():
    assert normalise_url("/a b?x=1#top") == "/a%20b"
    assert normalise_url("https://example.com") == "https://example.com/"
    assert normalise_url("https:///example.com/x") == "https://example.com/x"


@pytest.mark.parametrize(
    "url",
    ["http://example.com/x", "https://example.com:8443/x", "ftp://example.com/"],
)
def test_urls_that_are_not_relative_or_https_without_a_port_are_rejected(url: str):
    with pytest.raises(ValueError):
        normalise_url(url)


def test_a_url_with_two_splats_or_a_repeated_placeholder_cannot_compile():
    with pytest.raises(ValueError, match="more than once"):
        compile_url_pattern("/a/*/b/*")
    with pytest.raises(ValueError, match="more than once"):
        compile_url_pattern("/:x/:x")


@pytest.mark.parametrize(
    ("text", "line_number", "message"),
    [
        ("X-Early: 1\n", 1, "path should come before header"),
        ("/a\n  X-Bad Name: 1\n", 2, "cannot include spaces"),
        ("/a\n  : value\n", 2, "no header name"),
        ("/a\n  X-Empty:\n", 2, "no header value"),
        ("/a\n  not a header\n", 2, "colon-separated"),
        ("/a\n  !X-No-Space\n", 2, "colon-separated"),
        ("/a\n/b\n  X-Ok: 1\n", 1, "no headers specified"),
        ("http://example.com/\n  X-Gone: 1\n", 1, "relative"),
        ("/a/*/*\n  X-Gone: 1\n", 1, "more than once"),
    ],
)
def test_lines_that_do_not_fit_become_problems_and_are_skipped(
    text: str, line_number: int, message: str
):
    rules = parse_headers_file(text)

    assert rules.problems, "expected a problem"
    assert rules.problems[0].line_number == line_number
    assert message in rules.problems[0].message
    assert all(name != "x-gone" for rule in rules.rules for name, _ in rule.set_headers)


def test_a_header_after_a_rejected_url_does_not_join_the_rule_before_it():
    rules = parse_headers_file("/a\n  X-A: 1\nhttp://example.com/\n  X-Lost: 1\n")

    assert [rule.set_headers for rule in rules.rules] == [(("x-a", "1"),)]
    assert "path should come before header" in rules.problems[-1].message


def test_an_overlong_line_is_ignored():
    text = f"/a\n  X-Long: {'v' * MAX_LINE_LENGTH}\n  X-Short: 1\n"

    rules = parse_headers_file(text)

    assert rules.rules[0].set_headers == (("x-short", "1"),)
    assert "longer than" in rules.problems[0].message


def test_rules_past_the_limit_are_ignored():
    text = "".join(f"/r{i}\n  X-Rule: {i}\n" for i in range(MAX_RULES + 5))

    rules = parse_headers_file(text)

    assert len(rules.rules) == MAX_RULES
    assert rules.rules[-1].url == f"/r{MAX_RULES - 1}"
    assert f"more than {MAX_RULES} rules" in rules.problems[0].message


def test_undecodable_bytes_are_replaced_not_fatal():
    rules = parse_headers_file(b"/a\n  X-Bytes: caf\xe9\n")

    assert rules.rules[0].set_headers == (("x-bytes", "caf\ufffd"),)
