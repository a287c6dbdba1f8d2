"""What one TLS-RPT report adds to each managed domain's daily counts.

A report covers one reporting organisation's view of one period, with one entry per policy it
applied (RFC 8460 §4.4). Each entry adds to the day of the report's start (reports cover one UTC
day in practice; a report spanning midnight is counted on its first day, so it is never counted
twice): successful and failed sessions by policy type, failures by result type, by receiving MX
host and by reporting organisation, and the organisation as a reporter. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Protocol

import msgspec

from mtasts.domain_names import dns_name
from mtasts.promotion_rules import DayCounts
from mtasts.report import DateRange, FailureTally, PolicyResult

UNKNOWN_MX = "(not reported)"
STS = "sts"


class DayContribution(msgspec.Struct):
    """Counters one report adds to one domain's day (added, never set)."""

    domain: str
    day: date
    successful_by_policy_type: dict[str, int] = msgspec.field(default_factory=dict)
    failed_by_policy_type: dict[str, int] = msgspec.field(default_factory=dict)
    # policy type -> result type -> failed sessions (STS failures decide promotion)
    failures_by_result_type: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)
    failures_by_mx: dict[str, int] = msgspec.field(default_factory=dict)
    failures_by_reporter: dict[str, int] = msgspec.field(default_factory=dict)
    reporters: set[str] = msgspec.field(default_factory=set)

    def add(self, result: PolicyResult, tally: FailureTally, reporter: str) -> None:
        """Add one policy result, its failure details given by what they add up to."""
        policy_type = result.policy.policy_type
        summary = result.summary
        _bump(self.successful_by_policy_type, policy_type, summary.total_successful_session_count)
        _bump(self.failed_by_policy_type, policy_type, summary.total_failure_session_count)
        _bump(self.failures_by_reporter, reporter, summary.total_failure_session_count)
        if tally.details:
            by_type = self.failures_by_result_type.setdefault(policy_type, {})
            for result_type, count in tally.by_result_type.items():
                _bump(by_type, result_type, count)
            for host, count in tally.by_mx.items():
                _bump(self.failures_by_mx, dns_name(host or "") or UNKNOWN_MX, count)
        self.reporters.add(reporter)


class ReportCounts(msgspec.Struct, frozen=True):
    contributions: tuple[DayContribution, ...]
    unmanaged_domains: tuple[str, ...]  # policy domains the product does not manage (dropped)

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(sorted({c.domain for c in self.contributions}))


class TalliedReport(Protocol):
    """A report as counted: a whole `TlsReport`, or a streamed one (only its tallies kept)."""

    @property
    def organization_name(self) -> str: ...

    @property
    def date_range(self) -> DateRange: ...

    def policy_tallies(self) -> list[tuple[PolicyResult, FailureTally]]: ...


def count_report(report: TalliedReport, is_managed: Callable[[str], bool]) -> ReportCounts:
    """The report's contributions to managed domains; other domains are only named."""
    reporter = report.organization_name.strip()
    day = report.date_range.start_datetime.date()
    by_domain: dict[str, DayContribution] = {}
    unmanaged: set[str] = set()
    for result, tally in report.policy_tallies():
        domain = dns_name(result.policy.policy_domain)
        if not is_managed(domain):
            unmanaged.add(domain)
            continue
        contribution = by_domain.setdefault(domain, DayContribution(domain, day))
        contribution.add(result, tally, reporter)
    return ReportCounts(tuple(by_domain.values()), tuple(sorted(unmanaged)))


def _bump(counters: dict[str, int], key: str, amount: int) -> None:
    if amount:
        counters[key] = counters.get(key, 0) + amount


class DayTotals(msgspec.Struct, frozen=True):
    """A domain's counts for one UTC day, as read back."""

    day: date
    successful_by_policy_type: dict[str, int] = msgspec.field(default_factory=dict)
    failed_by_policy_type: dict[str, int] = msgspec.field(default_factory=dict)
    failures_by_result_type: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)
    failures_by_mx: dict[str, int] = msgspec.field(default_factory=dict)
    failures_by_reporter: dict[str, int] = msgspec.field(default_factory=dict)
    reporters: frozenset[str] = frozenset()

    def sts_day(self) -> DayCounts:
        """The day as the promotion rules weigh it: the STS policy's sessions only."""
        return DayCounts(
            day=self.day,
            successful_sessions=self.successful_by_policy_type.get(STS, 0),
            failed_sessions=self.failed_by_policy_type.get(STS, 0),
            failures_by_result_type=dict(self.failures_by_result_type.get(STS, {})),
            reporters=self.reporters,
        )


class WindowSummary(msgspec.Struct, frozen=True):
    """A domain's report evidence over a range of days (the window query)."""

    days_with_data: int
    successful_sessions: int  # STS
    failed_sessions: int  # STS
    failures_by_result_type: dict[str, int]  # STS
    reporters: frozenset[str]


def summarise(days: Iterable[DayTotals]) -> WindowSummary:
    sts = [d.sts_day() for d in days]
    by_type: dict[str, int] = {}
    for day in sts:
        for result_type, count in day.failures_by_result_type.items():
            _bump(by_type, result_type, count)
    return WindowSummary(
        days_with_data=len(sts),
        successful_sessions=sum(d.successful_sessions for d in sts),
        failed_sessions=sum(d.failed_sessions for d in sts),
        failures_by_result_type=dict(sorted(by_type.items())),
        reporters=frozenset().union(*(d.reporters for d in sts)),
    )
