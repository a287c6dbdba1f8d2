"""What the status page shows of a domain, from the stored facts: the modes it was published in
(the audit trail's `policy-published` entries), its daily STS sessions with the days without
reports shown as gaps, and the findings of its last validation. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from mtasts.api.views import effective_state
from mtasts.domain_config import DomainConfig
from mtasts.fleet_validation import ValidationRecord
from mtasts.policy_state import AuditEntry, PublishedPolicy
from mtasts.report_counts import DayTotals
from mtasts.status_page import DaySessions, DomainStatus, ModeChange

PUBLISHED = "policy-published"


def mode_changes(history: Sequence[AuditEntry]) -> list[ModeChange]:
    """Oldest first; a republication in the same mode (an MX change) is a change of id only, and
    is kept so the page can show when each id began."""
    published = sorted(
        (e for e in history if e.action == PUBLISHED and e.after), key=lambda e: e.at
    )
    return [
        ModeChange(at=e.at, mode=str(e.after["mode"]), policy_id=str(e.after["policy_id"]))
        for e in published
        if e.after is not None
    ]


def daily_sessions(days: Sequence[DayTotals], first: date, last: date) -> list[DaySessions]:
    """Every day from `first` to `last`; a day without reports counts zero both ways."""
    by_day = {totals.day: totals.sts_day() for totals in days}
    result = []
    day = first
    while day <= last:
        counts = by_day.get(day)
        result.append(
            DaySessions(
                day=day,
                successful=counts.successful_sessions if counts else 0,
                failed=counts.failed_sessions if counts else 0,
            )
        )
        day += timedelta(days=1)
    return result


def dashboard_status(
    config: DomainConfig,
    policy: PublishedPolicy | None,
    history: Sequence[AuditEntry],
    days: Sequence[DayTotals],
    latest: ValidationRecord | None,
    last_day: date,
    max_days: int,
) -> DomainStatus:
    first_day = max(config.created_at.date(), last_day - timedelta(days=max_days - 1))
    return DomainStatus(
        domain=config.domain,
        mode=policy.mode.value if policy else "none",
        state=effective_state(config, policy).value,
        reason=config.state_reason,
        modes=mode_changes(history),
        days=daily_sessions(days, first_day, last_day),
        findings=latest.findings if latest else (),
    )
