"""What the API shows of a domain: the lifecycle state a person should see, the last validation,
the window's progress and the next step. Pure functions of the stored facts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from mtasts.api import models
from mtasts.domain_config import DomainConfig, Lifecycle
from mtasts.fleet_validation import ValidationRecord
from mtasts.policy import Mode
from mtasts.policy_state import PublishedPolicy
from mtasts.promotion import WindowResult
from mtasts.report_counts import DayTotals

_HEADING_FOR_ENFORCE = frozenset({Lifecycle.ONBOARDING, Lifecycle.DEMOTED, Lifecycle.BLOCKED})


def effective_state(config: DomainConfig, policy: PublishedPolicy | None) -> Lifecycle:
    """The workflow records outcomes (promoted, blocked, ...) on the configuration, but nothing
    records "testing is now served" or "enforce is being published": a domain still
    `onboarding` whose testing policy is served and announced is in testing, with its window
    under way; one on its way to enforce whose policy already is enforce is being promoted (a
    domain set back to `testing` by a change is not: it is on its way down)."""
    if policy is None:
        return config.state
    if policy.mode is Mode.ENFORCE and config.state in _HEADING_FOR_ENFORCE:
        return Lifecycle.PROMOTING
    if config.state is Lifecycle.ONBOARDING and policy.mode is Mode.TESTING and policy.announced:
        return Lifecycle.TESTING
    return config.state


def summary(config: DomainConfig, policy: PublishedPolicy | None) -> models.DomainSummary:
    return models.DomainSummary(
        domain=config.domain,
        state=effective_state(config, policy),
        mode=policy.mode.value if policy else None,
        generation=config.generation,
        updated_at=config.updated_at,
    )


def validation(record: ValidationRecord | None) -> models.ValidationView | None:
    if record is None:
        return None
    return models.ValidationView(
        checked_at=record.checked_at,
        ok=record.ok,
        errors=record.errors,
        warnings=record.warnings,
        findings=[
            models.FindingView.model_validate(f.model_dump(mode="json")) for f in record.findings
        ],
    )


def window(result: WindowResult | None, window_days: int) -> models.WindowView | None:
    if result is None:
        return None
    failing_days = 1 if result.failed_sessions else 0  # a lower bound: counts are per window
    return models.WindowView(
        start=result.window_start,
        window_days=result.rules.window_days if result.rules else window_days,
        days_observed=result.days_observed,
        days_clean=max(0, result.days_observed - failing_days),
        reporters=result.reporters,
        successful_sessions=result.successful_sessions,
        failed_sessions=result.failed_sessions,
        failures_by_result_type=result.failures_by_result_type,
        verdict=result.verdict.value,
        reasons=result.reasons,
    )


def next_step(
    state: Lifecycle, config: DomainConfig, view: models.WindowView | None, now: datetime
) -> models.NextStep:
    if state is Lifecycle.ONBOARDING:
        return models.NextStep(action="publish-testing", at=now, detail="first deploy under way")
    if state in (Lifecycle.TESTING, Lifecycle.DEMOTED) and view is not None:
        due = view.start + timedelta(days=view.window_days)
        if view.verdict == "clean" and (config.approval == "manual" or not config.auto_promote):
            action = "promote" if config.approved else "await-approval"
            return models.NextStep(action=action, at=now, detail="; ".join(view.reasons))
        detail = "; ".join(view.reasons) or "observing"
        return models.NextStep(action="promote", at=max(due, now), detail=detail)
    details = {
        Lifecycle.PROMOTING: ("verify-enforce", "enforce is being published"),
        Lifecycle.ENFORCE: ("watch", "watching reports; failures demote"),
        Lifecycle.BLOCKED: ("fix-and-change", config.state_reason or "a person should look"),
        Lifecycle.REMOVING: ("delete-records", config.state_reason or "waiting out max_age"),
        Lifecycle.FAILED: ("fix-and-change", config.state_reason or "the workflow failed"),
    }
    action, detail = details.get(state, ("observe", "observing"))
    return models.NextStep(action=action, at=None, detail=detail)


def domain_status(
    config: DomainConfig,
    policy: PublishedPolicy | None,
    latest: ValidationRecord | None,
    evaluation: WindowResult | None,
    fleet_window_days: int,
    now: datetime,
) -> models.DomainStatus:
    state = effective_state(config, policy)
    progress = window(evaluation, config.rules.window_days or fleet_window_days)
    return models.DomainStatus(
        domain=config.domain,
        state=state,
        state_reason=config.state_reason,
        generation=config.generation,
        config=models.DomainSettings(
            mx=list(config.mx) if config.mx is not None else None,
            rua=list(config.rua) if config.rua is not None else None,
            enforce_max_age=config.enforce_max_age,
            auto_promote=config.auto_promote,
            approval=config.approval,
            approved=config.approved,
            window_days=config.rules.window_days,
            callback_url=str(config.callback_url) if config.callback_url else None,
        ),
        mode=policy.mode.value if policy else None,
        policy_id=policy.policy_id if policy else None,
        announced=bool(policy and policy.announced),
        last_validation=validation(latest),
        window=progress,
        next_step=next_step(state, config, progress, now),
        created_at=config.created_at,
        updated_at=config.updated_at,
    )


def report_days(domain: str, days: Sequence[DayTotals]) -> models.ReportDaysView:
    """The STS policy's sessions per day, as the promotion rules weigh them."""
    views = []
    for totals in days:
        day = totals.sts_day()
        views.append(
            models.DayView(
                date=day.day,
                successful_sessions=day.successful_sessions,
                failed_sessions=day.failed_sessions,
                failures_by_result_type=dict(day.failures_by_result_type),
                reporters=sorted(day.reporters),
            )
        )
    return models.ReportDaysView(domain=domain, days=views)
