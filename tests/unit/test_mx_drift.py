"""MX drift: new hosts are covered at once; departed ones linger for the longest max_age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mtasts.mx_drift import plan_mx_drift

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
WEEK = 604800


def test_a_new_mx_host_is_added_exactly_or_as_its_provider_wildcard() -> None:
    plan = plan_mx_drift(
        ["mx1.example.com"],
        ["mx1.example.com", "mx2.example.com", "contoso.mail.protection.outlook.com"],
        {},
        NOW,
        WEEK,
    )
    assert plan.added == ("mx2.example.com", "*.mail.protection.outlook.com")
    assert plan.patterns == (
        "mx1.example.com",
        "mx2.example.com",
        "*.mail.protection.outlook.com",
    )
    assert plan.changed and plan.removed == ()
    assert set(plan.last_seen) == set(plan.patterns)


def test_nothing_changes_while_every_host_is_covered() -> None:
    plan = plan_mx_drift(["*.example.com"], ["mx1.example.com"], {}, NOW, WEEK)
    assert not plan.changed and plan.patterns == ("*.example.com",)
    assert plan.last_seen == {"*.example.com": NOW}


def test_a_departed_host_is_removed_only_after_the_longest_max_age() -> None:
    seen = {"old.example.com": NOW - timedelta(seconds=WEEK - 60), "mx1.example.com": NOW}
    early = plan_mx_drift(
        ["mx1.example.com", "old.example.com"], ["mx1.example.com"], seen, NOW, WEEK
    )
    assert not early.changed and early.last_seen["old.example.com"] == seen["old.example.com"]

    later = NOW + timedelta(seconds=60)
    due = plan_mx_drift(
        ["mx1.example.com", "old.example.com"], ["mx1.example.com"], seen, later, WEEK
    )
    assert due.removed == ("old.example.com",) and due.patterns == ("mx1.example.com",)
    assert "old.example.com" not in due.last_seen


def test_a_pattern_never_seen_matching_is_kept() -> None:
    plan = plan_mx_drift(["mx1.example.com", "future.example.com"], ["mx1.example.com"], {}, NOW, 0)
    assert not plan.changed


def test_the_last_pattern_is_never_removed() -> None:
    seen = {"mx1.example.com": NOW - timedelta(days=30)}
    plan = plan_mx_drift(["mx1.example.com"], [], seen, NOW, WEEK)
    assert not plan.changed and plan.patterns == ("mx1.example.com",)
