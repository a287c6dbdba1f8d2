"""Whether a domain's observation window is clean enough to switch it to `enforce`.

Pure: the store supplies the evidence (daily TLS-RPT counts, validator runs, the policy state and
the live MX hosts); these rules weigh it and say why, in sentences fit for a ticket. Silence is not
success: without enough reporters and sessions the verdict is `insufficient`, never `clean`,
unless the domain explicitly opted in to promotion without reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum

import msgspec
from pydantic import BaseModel, ConfigDict, Field

from mtasts.policy import Policy


class WindowVerdict(StrEnum):
    CLEAN = "clean"  # promote
    DIRTY = "dirty"  # evidence of failures: do not promote, say why
    INSUFFICIENT = "insufficient"  # not enough evidence yet: keep observing


class PromotionRules(BaseModel):
    """The thresholds; fleet defaults come from template parameters, each domain may override."""

    model_config = ConfigDict(frozen=True)

    window_days: int = Field(14, ge=1, le=365)
    min_reporters: int = Field(2, ge=0)
    min_sessions: int = Field(100, ge=0)
    max_failure_ratio: float = Field(0.0, ge=0.0, le=1.0)
    ignore_result_types: tuple[str, ...] = ()
    allow_without_reports: bool = False

    def with_overrides(self, overrides: Mapping[str, object]) -> PromotionRules:
        known = {k: v for k, v in overrides.items() if k in type(self).model_fields}
        return type(self).model_validate({**self.model_dump(), **known})


class DayCounts(msgspec.Struct, frozen=True):
    """One UTC day of TLS-RPT evidence for the domain's STS policy."""

    day: date
    successful_sessions: int
    failed_sessions: int
    failures_by_result_type: Mapping[str, int] = msgspec.field(default_factory=dict)
    reporters: frozenset[str] = frozenset()


class ValidatorRun(msgspec.Struct, frozen=True):
    checked_at: datetime
    ok: bool
    error_codes: tuple[str, ...] = ()


class Evidence(msgspec.Struct, frozen=True):
    now: datetime
    window_start: datetime  # when `testing` began, or the last policy change if later
    days: Sequence[DayCounts]
    validator_runs: Sequence[ValidatorRun]  # in the window, oldest first
    policy: Policy
    live_mx: Sequence[str]


class WindowEvaluation(msgspec.Struct, frozen=True):
    verdict: WindowVerdict
    reasons: tuple[str, ...]
    days_observed: int
    reporters: int
    successful_sessions: int
    failed_sessions: int  # counted failures (ignored result types left out)
    failures_by_result_type: Mapping[str, int]

    @property
    def clean(self) -> bool:
        return self.verdict is WindowVerdict.CLEAN


def evaluate_window(evidence: Evidence, rules: PromotionRules) -> WindowEvaluation:
    """The verdict and every reason for it; `dirty` outranks `insufficient`."""
    days = [d for d in evidence.days if d.day >= evidence.window_start.date()]
    reporters = frozenset().union(*(d.reporters for d in days))
    successful = sum(d.successful_sessions for d in days)
    by_type = _failures_by_type(days)
    counted = sum(n for t, n in by_type.items() if t not in rules.ignore_result_types)
    elapsed = evidence.now - evidence.window_start

    dirty = _failure_reasons(by_type, counted, successful, rules)
    dirty += _validator_reasons(evidence.validator_runs)
    dirty += _coverage_reasons(evidence.policy, evidence.live_mx)
    insufficient = _evidence_reasons(elapsed, len(reporters), successful, rules)
    if not evidence.validator_runs:  # not yet looked at: no evidence either way
        insufficient.append("the validator has not checked the domain in the window yet")

    verdict = WindowVerdict.CLEAN
    if dirty:
        verdict = WindowVerdict.DIRTY
    elif insufficient:
        verdict = WindowVerdict.INSUFFICIENT
    reasons = tuple(dirty + insufficient) or (_clean_reason(elapsed, reporters, successful),)
    return WindowEvaluation(
        verdict, reasons, elapsed.days, len(reporters), successful, counted, by_type
    )


def _failures_by_type(days: Sequence[DayCounts]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for day in days:
        for result_type, count in day.failures_by_result_type.items():
            totals[result_type] = totals.get(result_type, 0) + count
    return dict(sorted(totals.items()))


def _failure_reasons(
    by_type: Mapping[str, int], counted: int, successful: int, rules: PromotionRules
) -> list[str]:
    total = successful + counted
    if counted == 0 or total == 0:
        return []
    ratio = counted / total
    if ratio <= rules.max_failure_ratio:
        return []
    detail = ", ".join(f"{n} {t}" for t, n in by_type.items() if t not in rules.ignore_result_types)
    return [
        f"senders reported {counted} failed session(s) of {total} ({ratio:.2%}, allowed "
        f"{rules.max_failure_ratio:.2%}): {detail}"
    ]


def _validator_reasons(runs: Sequence[ValidatorRun]) -> list[str]:
    if not runs:
        return []
    reasons: list[str] = []
    failed = [r for r in runs if not r.ok]
    if failed:
        codes = sorted({c for r in failed for c in r.error_codes})
        reasons.append(
            f"the validator found errors in {len(failed)} of {len(runs)} run(s) in the window"
            + (f" ({', '.join(codes)})" if codes else "")
        )
    if not runs[-1].ok:
        reasons.append(f"the last validator run ({runs[-1].checked_at:%Y-%m-%d %H:%M} UTC) failed")
    return reasons


def _coverage_reasons(policy: Policy, live_mx: Sequence[str]) -> list[str]:
    uncovered = [h for h in live_mx if policy.match(h) is None]
    if not uncovered:
        return []
    return [f"MX host(s) not covered by the policy: {', '.join(uncovered)}"]


def _evidence_reasons(
    elapsed: timedelta, reporters: int, successful: int, rules: PromotionRules
) -> list[str]:
    reasons: list[str] = []
    if elapsed < timedelta(days=rules.window_days):
        left = timedelta(days=rules.window_days) - elapsed
        reasons.append(
            f"observed for {elapsed.days} of {rules.window_days} day(s); {_days_hours(left)} to go"
        )
    if rules.allow_without_reports:
        return reasons
    if reporters < rules.min_reporters:
        reasons.append(
            f"{reporters} reporting organisation(s) so far, {rules.min_reporters} needed "
            "(silence is not success)"
        )
    if successful < rules.min_sessions:
        reasons.append(f"{successful} successful session(s) reported, {rules.min_sessions} needed")
    return reasons


def _days_hours(span: timedelta) -> str:
    hours = int(span.total_seconds() // 3600)
    return f"{hours // 24} day(s) {hours % 24} hour(s)"


def _clean_reason(elapsed: timedelta, reporters: frozenset[str], successful: int) -> str:
    return (
        f"clean for {elapsed.days} day(s): {successful} successful session(s) reported by "
        f"{len(reporters)} organisation(s) ({', '.join(sorted(reporters)) or 'none'}), no "
        "failures, validator green, every MX covered"
    )
