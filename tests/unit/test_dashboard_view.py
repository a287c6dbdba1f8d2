"""What the status page and the API show of a domain, from its stored facts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mtasts.api.dashboard_view import daily_sessions, dashboard_status, mode_changes
from mtasts.api.views import effective_state
from mtasts.domain_config import DomainConfig, Lifecycle
from mtasts.findings import Code, Finding, Severity
from mtasts.fleet_validation import ValidationRecord
from mtasts.policy import Mode
from mtasts.policy_state import AuditEntry, PublishedPolicy
from mtasts.report_counts import DayTotals

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
DOMAIN = "example.com"


def config(state: Lifecycle = Lifecycle.ONBOARDING, reason: str | None = None) -> DomainConfig:
    return DomainConfig(
        domain=DOMAIN, state=state, state_reason=reason, created_at=T0, updated_at=T0
    )


def published(mode: Mode, announced: bool = True) -> PublishedPolicy:
    return PublishedPolicy(
        domain=DOMAIN,
        policy_id="20261101090000",
        policy_hash="h",
        policy_text="version: STSv1\r\n",
        mode=mode,
        max_age=86_400,
        mx=("mx.example.com",),
        rua=(),
        served_at=T0,
        announced_at=T0 if announced else None,
    )


def entry(action: str, at: datetime, **after: object) -> AuditEntry:
    return AuditEntry(
        domain=DOMAIN, action=action, before=None, after=dict(after), at=at, request_id="r"
    )


@pytest.mark.parametrize(
    ("state", "mode", "announced", "shown"),
    [
        (Lifecycle.ONBOARDING, Mode.TESTING, False, Lifecycle.ONBOARDING),
        (Lifecycle.ONBOARDING, Mode.TESTING, True, Lifecycle.TESTING),
        (Lifecycle.ONBOARDING, Mode.ENFORCE, True, Lifecycle.PROMOTING),
        (Lifecycle.BLOCKED, Mode.ENFORCE, True, Lifecycle.PROMOTING),
        (Lifecycle.DEMOTED, Mode.ENFORCE, False, Lifecycle.PROMOTING),
        # set back to testing by a change: on its way down, not up
        (Lifecycle.TESTING, Mode.ENFORCE, True, Lifecycle.TESTING),
        (Lifecycle.ENFORCE, Mode.ENFORCE, True, Lifecycle.ENFORCE),
        (Lifecycle.BLOCKED, Mode.TESTING, True, Lifecycle.BLOCKED),
    ],
)
def test_the_state_a_person_sees(
    state: Lifecycle, mode: Mode, announced: bool, shown: Lifecycle
) -> None:
    assert effective_state(config(state), published(mode, announced)) is shown


def test_no_policy_yet_shows_the_recorded_state() -> None:
    assert effective_state(config(Lifecycle.ONBOARDING), None) is Lifecycle.ONBOARDING


def test_mode_changes_come_from_publications_oldest_first() -> None:
    history = [  # newest first, as the store answers
        entry("promoted", T0 + timedelta(days=15), summary="..."),
        entry("policy-published", T0 + timedelta(days=14), mode="enforce", policy_id="2"),
        entry("dns-record-changed", T0 + timedelta(hours=1), name="_mta-sts.example.com"),
        entry("policy-published", T0, mode="testing", policy_id="1"),
    ]
    changes = mode_changes(history)
    assert [(c.mode, c.policy_id, c.at) for c in changes] == [
        ("testing", "1", T0),
        ("enforce", "2", T0 + timedelta(days=14)),
    ]


def test_days_without_reports_are_drawn_as_zero() -> None:
    days = [
        DayTotals(date(2026, 11, 2), successful_by_policy_type={"sts": 50}),
        DayTotals(
            date(2026, 11, 4),
            successful_by_policy_type={"sts": 40, "no-policy-found": 9},
            failed_by_policy_type={"sts": 2},
        ),
    ]
    drawn = daily_sessions(days, date(2026, 11, 1), date(2026, 11, 5))
    assert [(d.day.day, d.successful, d.failed) for d in drawn] == [
        (1, 0, 0),
        (2, 50, 0),
        (3, 0, 0),
        (4, 40, 2),  # the STS policy's sessions only, as the promotion rules weigh them
        (5, 0, 0),
    ]


def test_a_domain_on_the_page_starts_when_it_was_onboarded_and_shows_its_last_findings() -> None:
    finding = Finding(code=Code.MX_CERTIFICATE_EXPIRED, severity=Severity.ERROR, message="expired")
    latest = ValidationRecord(
        domain=DOMAIN,
        checked_at=T0,
        ok=False,
        errors=1,
        warnings=0,
        mode="testing",
        policy_id="1",
        nearest_certificate_expiry=None,
        findings=(finding,),
    )
    status = dashboard_status(
        config(Lifecycle.BLOCKED, "expired certificate"),
        published(Mode.TESTING),
        [entry("policy-published", T0, mode="testing", policy_id="1")],
        [],
        latest,
        last_day=date(2026, 11, 3),
        max_days=30,
    )
    assert (status.domain, status.mode, status.state) == (DOMAIN, "testing", "blocked")
    assert status.reason == "expired certificate"
    assert [d.day for d in status.days] == [date(2026, 11, d) for d in (1, 2, 3)]
    assert list(status.findings) == [finding]
    assert [c.mode for c in status.modes] == ["testing"]
