"""The API's pure parts: use cases over in-memory fakes, problem documents, cursors, views."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest

from mtasts.api import models
from mtasts.api.problems import problem_for
from mtasts.api.service import DomainService, decode_cursor, encode_cursor
from mtasts.domain_config import DomainConfig, Lifecycle
from mtasts.errors import (
    ApiInputError,
    DomainExistsError,
    DomainNotFoundError,
    InvalidTransitionError,
    MtaStsError,
    StoreConflictError,
    WorkflowError,
)
from mtasts.policy_state import AuditEntry

NOW = datetime(2026, 11, 3, 12, tzinfo=UTC)


class FakeConfigs:
    def __init__(self) -> None:
        self.items: dict[str, DomainConfig] = {}

    def get(self, domain: str) -> DomainConfig | None:
        return self.items.get(domain)

    def create(self, config: DomainConfig) -> DomainConfig:
        if config.domain in self.items:
            raise DomainExistsError(config.domain)
        return self._put(config)

    def save(self, config: DomainConfig) -> DomainConfig:
        if self.items[config.domain].version != config.version:
            raise StoreConflictError(config.domain)
        return self._put(config)

    def _put(self, config: DomainConfig) -> DomainConfig:
        saved = config.model_copy(update={"version": config.version + 1})
        self.items[config.domain] = saved
        return saved

    def page(
        self, limit: int, after: str | None = None, state: Lifecycle | None = None
    ) -> tuple[list[DomainConfig], str | None]:
        names = sorted(n for n in self.items if after is None or n > after)
        chosen = [self.items[n] for n in names[:limit]]
        return chosen, (chosen[-1].domain if len(names) > limit else None)


@dataclass
class FakePolicies:
    audit: list[AuditEntry] = field(default_factory=list)

    def load(self, domain: str) -> None:
        return None

    def history(self, domain: str, limit: int = 100) -> list[AuditEntry]:
        return [e for e in reversed(self.audit) if e.domain == domain][:limit]

    def append(self, entry: AuditEntry) -> None:
        self.audit.append(entry)


@dataclass
class FakeWorkflow:
    started: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    def start(self, config: DomainConfig, execution_input: Mapping[str, Any]) -> str:
        self.started.append((config.execution_name(), dict(execution_input)))
        return f"arn:{config.execution_name()}"

    def stop(self, config: DomainConfig, cause: str) -> None:
        self.stopped.append(config.execution_name())


def service(workflow: FakeWorkflow | None = None) -> DomainService:
    class Nothing:
        def latest(self, domain: str) -> None:
            return None

        def days(self, domain: str, first: date, last: date) -> list[Any]:
            return []

        def begin(self, domain: str, request_id: str) -> Any:
            raise AssertionError("not called")

    return DomainService(
        configs=FakeConfigs(),
        policies=FakePolicies(),
        validations=Nothing(),
        reports=Nothing(),
        workflow=workflow or FakeWorkflow(),
        validate_now=lambda domain: None,
        evaluate=lambda domain: None,
        remover=Nothing(),
        finish_removal=lambda config, request_id: None,
        deploy_enforce=lambda domain, max_age, request_id: None,
        now=lambda: NOW,
        timing={"observe_seconds": 1},
    )


def test_onboarding_stores_the_config_starts_generation_one_and_refuses_a_second() -> None:
    workflow = FakeWorkflow()
    api = service(workflow)
    request = models.OnboardRequest(domain="Bücher.Example.", approval="manual", window_days=5)

    accepted = api.onboard(request, "req-1")

    assert accepted.domain == "xn--bcher-kva.example" and accepted.generation == 1
    assert accepted.status_url == "/domains/xn--bcher-kva.example"
    name, execution = workflow.started[0]
    assert name == "xn--bcher-kva-example-g1"
    assert execution == {
        "domain": "xn--bcher-kva.example",
        "approval": "manual",
        "rules": {"window_days": 5},
        "timing": {"observe_seconds": 1},
    }
    with pytest.raises(DomainExistsError):
        api.onboard(request, "req-2")


def test_a_change_bumps_the_generation_stops_the_old_execution_and_starts_the_new() -> None:
    workflow = FakeWorkflow()
    api = service(workflow)
    api.onboard(models.OnboardRequest(domain="a.example"), "r1")

    accepted = api.change("a.example", models.ChangeRequest(window_days=3), "r2")

    assert accepted.generation == 2
    assert workflow.stopped == ["a-example-g1"]
    assert [n for n, _ in workflow.started] == ["a-example-g1", "a-example-g2"]
    assert workflow.started[1][1]["rules"] == {"window_days": 3}


def test_forcing_needs_a_reason_and_removed_domains_cannot_be_promoted() -> None:
    api = service()
    api.onboard(models.OnboardRequest(domain="a.example"), "r1")
    with pytest.raises(ApiInputError) as raised:
        api.promote("a.example", models.PromoteRequest(force=True), "r2")
    assert raised.value.errors[0]["field"] == "reason"
    api.promote("a.example", models.PromoteRequest(force=True, reason="CAB-1"), "r3")
    with pytest.raises(InvalidTransitionError):
        api.promote("a.example", models.PromoteRequest(), "r4")


def test_unknown_and_malformed_domains_are_404_and_400() -> None:
    api = service()
    with pytest.raises(DomainNotFoundError):
        api.status("unknown.example")
    for bad in ("192.0.2.1", "*.example.com", "example.com/x", "a"):
        with pytest.raises(ApiInputError):
            api.status(bad)


def test_paging_walks_every_domain_once_with_an_opaque_cursor() -> None:
    api = service()
    for name in ("c.example", "a.example", "b.example"):
        api.onboard(models.OnboardRequest(domain=name), "r")
    seen, cursor = [], None
    while True:
        page = api.list(2, cursor)
        seen += [d.domain for d in page.domains]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["a.example", "b.example", "c.example"]
    assert decode_cursor(encode_cursor("b.example")) == "b.example"
    with pytest.raises(ApiInputError):
        decode_cursor("!!!")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ApiInputError("x"), 400),
        (DomainNotFoundError("x"), 404),
        (DomainExistsError("x"), 409),
        (StoreConflictError("x"), 409),
        (WorkflowError("x"), 503),
    ],
)
def test_each_typed_error_has_one_status(error: MtaStsError, status: int) -> None:
    document = problem_for(error, "/domains/x")
    assert document.status == status and document.instance == "/domains/x"
    assert document.type.startswith("https://")
