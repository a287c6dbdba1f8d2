"""MX host matching, RFC 8461 §4.1, including the mistakes popular checkers make."""

from __future__ import annotations

import pytest

from mtasts.policy import mx_matches, parse_policy


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("*.example.com", "mail.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", ".example.com", False),
        ("*.example.com", "mailexample.com", False),
        ("*.example.com", "mail.example.com.evil.net", False),
        ("*.example.com", "MAIL.EXAMPLE.COM", True),
        ("*.EXAMPLE.com", "mail.example.com.", True),
        ("mail.example.com", "mail.example.com", True),
        ("mail.example.com", "Mail.Example.Com.", True),
        ("mail.example.com.", "mail.example.com", True),
        ("mail.example.com", "mail.example.com.evil.net", False),
        ("mail.example.com", "evil-mail.example.com", False),
        ("mail.example.com", "x.mail.example.com", False),
        ("example.com", "mail.example.com", False),
    ],
)
def test_wildcards_cover_exactly_one_left_most_label(
    pattern: str, host: str, expected: bool
) -> None:
    assert mx_matches(pattern, host) is expected


def test_policy_match_returns_the_first_covering_pattern() -> None:
    policy = parse_policy(
        "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.example.com\nmax_age: 86400\n"
    )
    assert policy.match("mx1.example.com") == "mx1.example.com"
    assert policy.match("mx2.example.com") == "*.example.com"
    assert policy.match("mx.other.example") is None
