"""Validate the whole fleet in one run: every managed domain, concurrently and within bounds,
then remember each verdict, publish what changed and report the figures.

The use case is pure orchestration over ports: where the domains come from and where results go
(DynamoDB, EventBridge, CloudWatch metrics in AWS) are adapters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

import msgspec
from pydantic import AwareDatetime, BaseModel, ConfigDict

from mtasts.findings import Finding, Severity
from mtasts.policy_state import PublishedPolicy
from mtasts.validation_rules import Verdict

HISTORY_DAYS = 90


class ValidationRecord(BaseModel):
    """What is stored per run and domain, and what a status query shows."""

    model_config = ConfigDict(frozen=True)

    domain: str
    checked_at: AwareDatetime
    ok: bool
    errors: int
    warnings: int
    mode: str | None
    policy_id: str | None
    nearest_certificate_expiry: AwareDatetime | None
    findings: tuple[Finding, ...]

    @classmethod
    def of(cls, verdict: Verdict, checked_at: datetime) -> ValidationRecord:
        return cls(
            domain=verdict.domain,
            checked_at=checked_at,
            ok=verdict.ok,
            errors=verdict.count(Severity.ERROR),
            warnings=verdict.count(Severity.WARNING),
            mode=verdict.policy.mode.value if verdict.policy else None,
            policy_id=verdict.policy_id,
            nearest_certificate_expiry=verdict.nearest_expiry,
            findings=verdict.findings,
        )

    def days_to_expiry(self) -> int | None:
        if self.nearest_certificate_expiry is None:
            return None
        return (self.nearest_certificate_expiry - self.checked_at).days


class ValidationStore(Protocol):
    def managed_domains(self) -> Mapping[str, PublishedPolicy]:
        """Every domain the product manages, with what it published for it."""
        ...

    def latest(self, domain: str) -> ValidationRecord | None: ...

    def record(self, result: ValidationRecord) -> None:
        """Store as the latest and append to the history (which expires by itself)."""
        ...


class StateChanges(Protocol):
    def changed(self, previous: ValidationRecord | None, current: ValidationRecord) -> None:
        """Tell the world a domain went from green to red or back."""
        ...


class FleetMetrics(Protocol):
    def domain(self, result: ValidationRecord) -> None: ...

    def run(self, checked: int, failing: int) -> None: ...


class FleetSummary(msgspec.Struct, frozen=True):
    checked: int
    failing: tuple[str, ...]
    changed: tuple[str, ...]


ValidateMany = Callable[[Sequence[str], Mapping[str, PublishedPolicy]], Awaitable[list[Verdict]]]


async def validate_fleet(
    validate: ValidateMany,
    store: ValidationStore,
    changes: StateChanges,
    metrics: FleetMetrics,
    now: Callable[[], datetime],
    only: frozenset[str] | None = None,
) -> FleetSummary:
    """Every managed domain, or only those in `only` (a targeted run: its verdicts are stored
    and published alike, but it reports no fleet totals, which would read on a dashboard as the
    fleet shrinking to a few domains)."""
    managed = store.managed_domains()
    if only is not None:
        managed = {d: p for d, p in managed.items() if d in only}
    domains = sorted(managed)
    verdicts = await validate(domains, managed)
    checked_at = now()
    changed: list[str] = []
    for verdict in verdicts:
        result = ValidationRecord.of(verdict, checked_at)
        previous = store.latest(result.domain)
        # A first verdict counts as a change only when it is red: silence means "fine".
        if (previous.ok if previous else True) != result.ok:
            changes.changed(previous, result)
            changed.append(result.domain)
        store.record(result)
        metrics.domain(result)
    failing = tuple(v.domain for v in verdicts if not v.ok)
    if only is None:
        metrics.run(len(verdicts), len(failing))
    return FleetSummary(len(verdicts), failing, tuple(changed))
