"""The promotion workflow's look at one domain: gather the evidence of its observation window
from the stores and weigh it with the promotion rules (`promotion_rules`).

The window starts when the policy now served was first served (`served_at`): the later of when
`testing` began and the last policy change, so evidence about an older policy never counts. The
rules are the fleet's defaults, overridden by the domain's configuration, overridden by the
execution's input. Pure orchestration over ports: the stores, live DNS and the clock are given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

import msgspec
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from mtasts.deploy import NotPublishedError
from mtasts.deploy_tasks import InvalidTaskInputError
from mtasts.domain_config import DomainConfig
from mtasts.domain_names import DomainName
from mtasts.findings import Severity
from mtasts.fleet_validation import ValidationRecord
from mtasts.policy import Mode, parse_policy
from mtasts.policy_state import PublishedPolicy
from mtasts.ports import MxResolver
from mtasts.promotion_rules import (
    Evidence,
    PromotionRules,
    ValidatorRun,
    WindowEvaluation,
    WindowVerdict,
    evaluate_window,
)
from mtasts.report_counts import DayTotals

Approval = Literal["auto", "manual"]


class Phase(StrEnum):
    OBSERVE = "observe"  # in testing: is the window clean enough to promote?
    WATCH = "watch"  # in enforce after a promotion: has anything failed since?


class EvaluateTaskInput(BaseModel):
    # Step Functions passes the whole execution state: ignore what is not ours.
    model_config = ConfigDict(extra="ignore", frozen=True)

    domain: DomainName
    phase: Phase = Phase.OBSERVE
    rules: dict[str, Any] = Field(default_factory=dict)  # per-execution rule overrides
    approval: Approval | None = None  # None: the domain's configuration, else "auto"


class WindowResult(BaseModel):
    """What the state machine branches on (`verdict`, `approval_pending`, `problem_key`) and
    what a notification shows as evidence."""

    domain: str
    phase: Phase
    verdict: WindowVerdict
    reasons: list[str]
    evaluated_at: AwareDatetime
    window_start: AwareDatetime
    policy_id: str
    mode: Mode
    days_observed: int
    reporters: int
    successful_sessions: int
    failed_sessions: int
    failures_by_result_type: dict[str, int]
    validator_runs: int
    live_mx: list[str]
    rules: PromotionRules
    approval: Approval
    approval_pending: bool  # clean, but a person has yet to approve the promotion
    # Names the problems behind a `dirty` verdict (failure types, validator codes, uncovered
    # hosts) without their counts: a person is told once per distinct problem, not per round.
    problem_key: str


class PolicyReader(Protocol):
    def load(self, domain: str) -> PublishedPolicy | None: ...


class ReportDays(Protocol):
    def days(self, domain: str, first: date, last: date) -> Sequence[DayTotals]: ...


class ValidationHistory(Protocol):
    def since(self, domain: str, start: datetime) -> Sequence[ValidationRecord]:
        """Every run from `start` on, oldest first."""
        ...


class DomainConfigs(Protocol):
    def get(self, domain: str) -> DomainConfig | None: ...


class EvidenceSources(msgspec.Struct, frozen=True):
    policies: PolicyReader
    reports: ReportDays
    validations: ValidationHistory
    resolver: MxResolver
    configs: DomainConfigs
    now: Callable[[], datetime]


def evaluate_domain(
    event: Mapping[str, Any], sources: EvidenceSources, fleet: PromotionRules
) -> WindowResult:
    """The verdict on the domain's current window, with the evidence behind it."""
    task = parse_task(EvaluateTaskInput, event)
    state = sources.policies.load(task.domain)
    if state is None:
        raise NotPublishedError(f"{task.domain}: no policy has been published, nothing to weigh")
    config = sources.configs.get(task.domain)
    rules = _rules(fleet, config, task.rules)
    now = sources.now()
    start = state.served_at
    policy = parse_policy(state.policy_text)
    runs = [_run(r) for r in sources.validations.since(task.domain, start)]
    evidence = Evidence(
        now=now,
        window_start=start,
        days=[d.sts_day() for d in sources.reports.days(task.domain, start.date(), now.date())],
        validator_runs=runs,
        policy=policy,
        live_mx=sources.resolver.mx_hosts(task.domain),
    )
    evaluation = evaluate_window(evidence, rules)
    approval: Approval = task.approval or (config.approval if config else "auto")
    approved = config.approved if config else False
    return WindowResult(
        domain=task.domain,
        phase=task.phase,
        verdict=evaluation.verdict,
        reasons=list(evaluation.reasons),
        evaluated_at=now,
        window_start=start,
        policy_id=state.policy_id,
        mode=state.mode,
        days_observed=evaluation.days_observed,
        reporters=evaluation.reporters,
        successful_sessions=evaluation.successful_sessions,
        failed_sessions=evaluation.failed_sessions,
        failures_by_result_type=dict(evaluation.failures_by_result_type),
        validator_runs=len(runs),
        live_mx=list(evidence.live_mx),
        rules=rules,
        approval=approval,
        approval_pending=evaluation.clean and approval == "manual" and not approved,
        problem_key=problem_key(evaluation, evidence, rules),
    )


def problem_key(evaluation: WindowEvaluation, evidence: Evidence, rules: PromotionRules) -> str:
    if evaluation.verdict is not WindowVerdict.DIRTY:
        return evaluation.verdict.value
    failures = sorted(
        t
        for t, n in evaluation.failures_by_result_type.items()
        if n and t not in rules.ignore_result_types
    )
    codes = sorted({c for r in evidence.validator_runs if not r.ok for c in r.error_codes})
    unchecked = ["unchecked"] if not evidence.validator_runs else []
    uncovered = sorted(h for h in evidence.live_mx if evidence.policy.match(h) is None)
    parts = [",".join(failures), ",".join(codes + unchecked), ",".join(uncovered)]
    return "dirty|" + "|".join(parts)


def parse_task[M: BaseModel](model: type[M], event: Mapping[str, Any]) -> M:
    """The event as the task's model, or InvalidTaskInputError naming every problem (a Catch
    records it; retrying cannot help)."""
    try:
        return model.model_validate(event)
    except ValidationError as error:
        raise InvalidTaskInputError(f"invalid task input: {_problems(error)}") from error


def _rules(
    fleet: PromotionRules, config: DomainConfig | None, given: Mapping[str, object]
) -> PromotionRules:
    try:
        rules = fleet.with_overrides(config.rules.given() if config else {})
        return rules.with_overrides(given)
    except ValidationError as error:
        raise InvalidTaskInputError(f"invalid promotion rules: {_problems(error)}") from error


def _run(record: ValidationRecord) -> ValidatorRun:
    codes = tuple(f.code.value for f in record.findings if f.severity is Severity.ERROR)
    return ValidatorRun(checked_at=record.checked_at, ok=record.ok, error_codes=codes)


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in error.errors()
    )
