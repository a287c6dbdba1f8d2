"""The API's use cases: onboard, change, approve or force a promotion, demote, remove, and the
status views a ticket shows. Pure orchestration over ports (stores, the workflow, the validator,
the remover, the clock); `api.wiring` builds them on AWS, tests pass fakes.

Every change that the workflow must act on bumps the domain's generation, saves the
configuration (optimistic version: a concurrent change is a 409, never a lost update), stops the
old execution and starts the new one; Step Functions refuses a second execution with the same
name, so a retried start is harmless.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import msgspec

from mtasts.api import models
from mtasts.api.dashboard_view import dashboard_status
from mtasts.api.views import domain_status, effective_state, report_days, summary, validation
from mtasts.domain_config import DomainConfig, DomainConfigStore, Lifecycle, RuleOverrides
from mtasts.domain_names import DomainNameError, canonical_domain
from mtasts.errors import (
    ApiInputError,
    DomainNotFoundError,
    InvalidTransitionError,
)
from mtasts.fleet_validation import ValidationRecord
from mtasts.policy_state import AuditEntry, PublishedPolicy
from mtasts.promotion import WindowResult
from mtasts.report_counts import DayTotals
from mtasts.status_page import DomainStatus as StatusPageDomain

MAX_PAGE = 100
MAX_REPORT_DAYS = 366
# The status page: a month of sessions per domain, and the audit entries its mode band reads.
DASHBOARD_DAYS = 30
DASHBOARD_HISTORY = 100
MAX_DASHBOARD_PAGE = 50
# Where a domain can be approved or promoted from: it is being observed, or was stopped by it.
OBSERVING = frozenset(
    {Lifecycle.ONBOARDING, Lifecycle.TESTING, Lifecycle.DEMOTED, Lifecycle.BLOCKED}
)


class Workflow(Protocol):
    def start(self, config: DomainConfig, execution_input: Mapping[str, Any]) -> str:
        """Start the promotion execution for the config's generation; its ARN."""
        ...

    def stop(self, config: DomainConfig, cause: str) -> None:
        """Stop the config's generation's execution if it runs; no error if it does not."""
        ...


class Policies(Protocol):
    def load(self, domain: str) -> PublishedPolicy | None: ...

    def history(self, domain: str, limit: int = 100) -> list[AuditEntry]: ...

    def append(self, entry: AuditEntry) -> None: ...


class Validations(Protocol):
    def latest(self, domain: str) -> ValidationRecord | None: ...


class ReportDays(Protocol):
    def days(self, domain: str, first: date, last: date) -> Sequence[DayTotals]: ...


class Remover(Protocol):
    def begin(self, domain: str, request_id: str) -> Any:
        """Publish `mode: none` with a new id; has `records_deletable_at`."""
        ...


class DashboardPage(msgspec.Struct, frozen=True):
    domains: list[StatusPageDomain]
    generated_at: datetime
    next_cursor: str | None


class DomainService(msgspec.Struct):
    configs: DomainConfigStore
    policies: Policies
    validations: Validations
    reports: ReportDays
    workflow: Workflow
    validate_now: Callable[[str], None]
    evaluate: Callable[[str], WindowResult | None]
    remover: Remover
    # Hands the rest of a removal (wait out the longest max_age, then delete) to the workflow.
    finish_removal: Callable[[DomainConfig, str], None]
    # (domain, enforce max_age or None, request id): publish enforce now (a forced promotion).
    deploy_enforce: Callable[[str, int | None, str], None]
    now: Callable[[], datetime]
    fleet_window_days: int = 14
    timing: Mapping[str, Any] | None = None  # the executions' waits (tests shorten them)
    base_path: str = ""
    # What each change recorded, for the audit trail (the API's own entries).
    audit_prefix: str = "api"

    # --- reads ---------------------------------------------------------------------------------

    def get(self, name: str) -> DomainConfig:
        config = self.configs.get(domain_in_path(name))
        if config is None:
            raise DomainNotFoundError(f"{name} is not managed")
        return config

    def status(self, name: str) -> models.DomainStatus:
        config = self.get(name)
        policy = self.policies.load(config.domain)
        return domain_status(
            config,
            policy,
            self.validations.latest(config.domain),
            self.evaluate(config.domain) if policy is not None else None,
            self.fleet_window_days,
            self.now(),
        )

    def list(
        self,
        limit: int,
        cursor: str | None,
        state: Lifecycle | None = None,
        mode: str | None = None,
    ) -> models.DomainPage:
        after = decode_cursor(cursor)
        found: list[models.DomainSummary] = []
        # Filters apply to what a person sees (the effective state, the published mode), so
        # they run here, over store pages; a few rounds at most for any realistic fleet.
        for _ in range(50):
            configs, after = self.configs.page(limit, after)
            for config in configs:
                view = summary(config, self.policies.load(config.domain))
                if (state is None or view.state is state) and (mode is None or view.mode == mode):
                    found.append(view)
                if len(found) == limit:
                    more = config is not configs[-1] or after is not None
                    return models.DomainPage(
                        domains=found, next_cursor=encode_cursor(config.domain) if more else None
                    )
            if after is None:
                break
        return models.DomainPage(domains=found, next_cursor=encode_cursor(after))

    def report_days(
        self, name: str, first: date | None, last: date | None
    ) -> models.ReportDaysView:
        config = self.get(name)
        last = last or self.now().date()
        first = first or last - timedelta(days=13)
        if first > last:
            raise ApiInputError("from is after to", ({"field": "from", "message": "after to"},))
        if (last - first).days >= MAX_REPORT_DAYS:
            message = f"at most {MAX_REPORT_DAYS} days per request"
            raise ApiInputError(message, ({"field": "from", "message": message},))
        return report_days(config.domain, self.reports.days(config.domain, first, last))

    def dashboard(self, limit: int, cursor: str | None) -> DashboardPage:
        """A page of the fleet as the status page draws it, in domain order."""
        now = self.now()
        configs, after = self.configs.page(limit, decode_cursor(cursor))
        first_day = now.date() - timedelta(days=DASHBOARD_DAYS - 1)
        statuses = [
            dashboard_status(
                config,
                self.policies.load(config.domain),
                self.policies.history(config.domain, DASHBOARD_HISTORY),
                self.reports.days(config.domain, first_day, now.date()),
                self.validations.latest(config.domain),
                now.date(),
                DASHBOARD_DAYS,
            )
            for config in configs
        ]
        return DashboardPage(statuses, now, encode_cursor(after))

    def history(self, name: str, limit: int) -> models.History:
        config = self.get(name)
        entries = self.policies.history(config.domain, limit)
        return models.History(
            domain=config.domain,
            entries=[models.HistoryEntry.model_validate(e, from_attributes=True) for e in entries],
        )

    def validate(self, name: str) -> models.Validated:
        config = self.get(name)
        self.validate_now(config.domain)
        latest = self.validations.latest(config.domain)
        return models.Validated(domain=config.domain, validation=validation(latest))

    # --- changes -------------------------------------------------------------------------------

    def onboard(self, request: models.OnboardRequest, request_id: str) -> models.Accepted:
        now = self.now()
        config = DomainConfig(
            domain=request.domain,
            mx=tuple(request.mx) if request.mx is not None else None,
            rua=tuple(request.rua) if request.rua is not None else None,
            enforce_max_age=request.enforce_max_age,
            auto_promote=request.auto_promote,
            approval=request.approval,
            rules=RuleOverrides(window_days=request.window_days),
            callback_url=request.callback_url,
            created_at=now,
            updated_at=now,
        )
        saved = self.configs.create(config)  # DomainExistsError: 409
        self._audit(saved, "onboarded", None, _settings(saved), request_id)
        return self._accepted(saved, self._start(saved))

    def change(self, name: str, request: models.ChangeRequest, request_id: str) -> models.Accepted:
        config = self.get(name)
        _refuse_when_removing(config)
        given = request.model_dump(exclude_unset=True)
        updates: dict[str, Any] = {}
        if "mx" in given:
            updates["mx"] = tuple(request.mx) if request.mx is not None else None
        if "max_age" in given:
            updates["enforce_max_age"] = request.max_age
        for key in ("approval", "auto_promote", "callback_url"):
            if key in given and given[key] is not None:
                updates[key] = getattr(request, key)
        if "window_days" in given:
            updates["rules"] = config.rules.model_copy(update={"window_days": request.window_days})
        if request.mode == "testing" or config.state is Lifecycle.ENFORCE:
            updates["state"] = Lifecycle.TESTING  # the new generation starts in testing
        return self._restart(config, updates, "changed", request_id)

    def promote(
        self, name: str, request: models.PromoteRequest, request_id: str
    ) -> models.Accepted:
        config = self.get(name)
        state = effective_state(config, self.policies.load(config.domain))
        if state not in OBSERVING:
            raise InvalidTransitionError(f"{config.domain} is {state.value}; nothing to promote")
        if not request.force:
            approved = config.model_copy(update={"approved": True, "updated_at": self.now()})
            saved = self.configs.save(approved)
            self._audit(saved, "approved", None, {"approved": True}, request_id)
            return self._accepted(saved, None, "approved: promoted once the window is clean")
        if not request.reason:
            message = "a forced promotion needs a reason (it goes into the audit trail)"
            raise ApiInputError(message, ({"field": "reason", "message": message},))
        self.workflow.stop(config, f"forced promotion: {request.reason}")
        self.deploy_enforce(config.domain, config.enforce_max_age, request_id)
        moved = config.moved_to(Lifecycle.ENFORCE, f"forced: {request.reason}", self.now())
        saved = self.configs.save(moved.model_copy(update={"approved": True}))
        self._audit(saved, "force-promoted", None, {"reason": request.reason}, request_id)
        return self._accepted(saved, None, "enforce published, served and announced")

    def demote(self, name: str, request: models.DemoteRequest, request_id: str) -> models.Accepted:
        config = self.get(name)
        _refuse_when_removing(config)
        reason = request.reason or "demoted through the API"
        updates = {"state": Lifecycle.DEMOTED, "state_reason": reason, "approved": False}
        return self._restart(config, updates, "demoted-by-request", request_id)

    def remove(self, name: str, request_id: str) -> models.Accepted:
        config = self.get(name)
        _refuse_when_removing(config)
        self.workflow.stop(config, "removal requested")
        started = self.remover.begin(config.domain, request_id)
        self.finish_removal(config, request_id)
        due = started.records_deletable_at
        moved = config.moved_to(Lifecycle.REMOVING, f"records deletable at {due}", self.now())
        saved = self.configs.save(moved)
        self._audit(
            saved, "removal-requested", None, {"records_deletable_at": str(due)}, request_id
        )
        return self._accepted(saved, None, f"mode none announced; records deletable at {due}")

    # --- helpers -------------------------------------------------------------------------------

    def _restart(
        self, config: DomainConfig, updates: dict[str, Any], action: str, request_id: str
    ) -> models.Accepted:
        changed = config.model_copy(
            update={**updates, "generation": config.generation + 1, "updated_at": self.now()}
        )
        DomainConfig.model_validate(changed.model_dump())  # model_copy does not validate
        saved = self.configs.save(changed)
        self.workflow.stop(config, f"superseded by generation {saved.generation}")
        self._audit(saved, action, _settings(config), _settings(saved), request_id)
        return self._accepted(saved, self._start(saved))

    def _start(self, config: DomainConfig) -> str:
        execution: dict[str, Any] = {
            "domain": config.domain,
            "approval": "manual" if not config.auto_promote else config.approval,
            "rules": config.rules.given(),
        }
        if config.enforce_max_age is not None:
            execution["max_age"] = config.enforce_max_age
        if self.timing:
            execution["timing"] = dict(self.timing)
        return self.workflow.start(config, execution)

    def _accepted(
        self, config: DomainConfig, execution: str | None, detail: str | None = None
    ) -> models.Accepted:
        return models.Accepted(
            domain=config.domain,
            state=config.state,
            generation=config.generation,
            status_url=f"{self.base_path}/domains/{config.domain}",
            execution=execution,
            detail=detail,
        )

    def _audit(
        self,
        config: DomainConfig,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        request_id: str,
    ) -> None:
        self.policies.append(
            AuditEntry(
                domain=config.domain,
                action=f"{self.audit_prefix}-{action}",
                before=before,
                after=after,
                at=self.now(),
                request_id=request_id,
            )
        )


def _settings(config: DomainConfig) -> dict[str, Any]:
    return config.model_dump(
        mode="json",
        include={"mx", "rua", "enforce_max_age", "auto_promote", "approval", "rules", "generation"},
    )


def _refuse_when_removing(config: DomainConfig) -> None:
    if config.state is Lifecycle.REMOVING:
        raise InvalidTransitionError(f"{config.domain} is being removed; onboard it again later")


def domain_in_path(name: str) -> str:
    """The canonical domain from a path, or a 400 naming what is wrong with it."""
    try:
        return canonical_domain(name)
    except DomainNameError as error:
        raise ApiInputError(str(error), ({"field": "domain", "message": str(error)},)) from error


def encode_cursor(domain: str | None) -> str | None:
    return base64.urlsafe_b64encode(domain.encode()).decode().rstrip("=") if domain else None


def decode_cursor(cursor: str | None) -> str | None:
    """The domain a page continues after; opaque to clients so the store may change."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return canonical_domain(raw.decode("ascii"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        problem = {"field": "cursor", "message": "not a cursor this API returned"}
        raise ApiInputError("invalid cursor", (problem,)) from error
