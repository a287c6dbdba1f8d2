"""MX pattern derivation and the publication safety gate."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtasts.errors import UnsafePolicyError
from mtasts.mx_coverage import (
    KNOWN_PROVIDERS,
    HostedProvider,
    check_publication_safe,
    derive_mx_patterns,
    uncovered_hosts,
)
from mtasts.policy import build_policy

M365 = "contoso-com.mail.protection.outlook.com"


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        ([M365], ("*.mail.protection.outlook.com",)),
        (
            ["aspmx.l.google.com", "alt1.aspmx.l.google.com", "alt2.aspmx.l.google.com"],
            ("aspmx.l.google.com", "*.aspmx.l.google.com"),
        ),
        (["mx0a-00123401.pphosted.com", "mx0b-00123401.pphosted.com"], ("*.pphosted.com",)),
        (["MX1.Example.NET.", "mx2.example.net"], ("mx1.example.net", "mx2.example.net")),
        (["smtp.google.com"], ("smtp.google.com",)),
        ([], ()),
    ],
)
def test_derived_patterns_fold_known_providers_and_keep_other_hosts_exact(
    hosts: list[str], expected: tuple[str, ...]
) -> None:
    assert derive_mx_patterns(hosts) == expected


def test_a_host_two_labels_under_a_provider_suffix_stays_exact() -> None:
    # `*.pphosted.com` would not match it (§4.1: one label), so folding would lose it.
    assert derive_mx_patterns(["a.b.pphosted.com"]) == ("a.b.pphosted.com",)


def test_a_lookalike_suffix_is_not_a_provider() -> None:
    assert derive_mx_patterns(["mx.evilmail.protection.outlook.com.example"]) == (
        "mx.evilmail.protection.outlook.com.example",
    )


def test_extra_providers_extend_the_table() -> None:
    providers = (*KNOWN_PROVIDERS, HostedProvider("Local", "aspmx.mailhost.test"))
    hosts = ["aspmx.mailhost.test", "alt1.aspmx.mailhost.test", "alt2.aspmx.mailhost.test"]
    assert derive_mx_patterns(hosts, providers) == ("aspmx.mailhost.test", "*.aspmx.mailhost.test")


hosts = st.lists(
    st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){1,3}", fullmatch=True), max_size=6
)


@given(hosts)
def test_derived_patterns_always_cover_every_host(mx: list[str]) -> None:
    patterns = derive_mx_patterns(mx)
    if patterns:
        policy = build_policy("enforce", patterns, 604800)
        assert uncovered_hosts(policy, mx) == ()


def test_enforce_with_an_uncovered_mx_is_refused_with_the_hosts_named() -> None:
    policy = build_policy("enforce", ["mx1.example.com"], 604800)
    with pytest.raises(UnsafePolicyError) as caught:
        check_publication_safe(policy, ["mx1.example.com", "mx2.example.com."])
    assert caught.value.uncovered == ("mx2.example.com",)
    assert "mx2.example.com" in str(caught.value)


def test_wildcards_cover_only_one_label_in_the_gate() -> None:
    policy = build_policy("enforce", ["*.example.com"], 604800)
    with pytest.raises(UnsafePolicyError) as caught:
        check_publication_safe(policy, ["mx.example.com", "a.b.example.com", "example.com"])
    assert caught.value.uncovered == ("a.b.example.com", "example.com")


def test_enforce_without_any_mx_is_refused() -> None:
    with pytest.raises(UnsafePolicyError, match="no MX records"):
        check_publication_safe(build_policy("enforce", ["mx.example.com"], 604800), [])


def test_testing_may_leave_a_new_mx_uncovered_but_may_not_drop_a_covered_one() -> None:
    current = build_policy("testing", ["mx1.example.com", "mx2.example.com"], 86400)
    live = ["mx1.example.com", "mx2.example.com", "mx3.example.com"]
    check_publication_safe(
        build_policy("testing", ["mx1.example.com", "mx2.example.com"], 86400), live, current
    )

    with pytest.raises(UnsafePolicyError) as caught:
        check_publication_safe(build_policy("testing", ["mx1.example.com"], 86400), live, current)
    assert caught.value.uncovered == ("mx2.example.com",)


def test_dropping_a_pattern_for_a_host_no_longer_in_dns_is_allowed() -> None:
    current = build_policy("enforce", ["mx1.example.com", "old.example.com"], 604800)
    new = build_policy("enforce", ["mx1.example.com"], 604800)
    check_publication_safe(new, ["mx1.example.com"], current)


def test_mode_none_is_always_safe() -> None:
    current = build_policy("enforce", ["mx1.example.com"], 604800)
    check_publication_safe(build_policy("none", [], 86400), ["mx1.example.com"], current)
