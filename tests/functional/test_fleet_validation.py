"""Fleet validation on in-memory ports: what is stored, published and measured."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from mtasts.findings import Code, Severity
from mtasts.fleet_validation import FleetSummary, ValidateMany, ValidationRecord, validate_fleet
from mtasts.policy import Mode
from mtasts.policy_state import PublishedPolicy
from mtasts.validation_rules import Verdict, finding

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


class Store:
    def __init__(self, domains: Sequence[str]) -> None:
        self.domains = domains
        self.records: dict[str, list[ValidationRecord]] = {}

    def managed_domains(self) -> Mapping[str, PublishedPolicy]:
        return {d: published(d) for d in self.domains}

    def latest(self, domain: str) -> ValidationRecord | None:
        history = self.records.get(domain)
        return history[-1] if history else None

    def record(self, result: ValidationRecord) -> None:
        self.records.setdefault(result.domain, []).append(result)


class Changes:
    def __init__(self) -> None:
        self.seen: list[tuple[bool | None, bool]] = []

    def changed(self, previous: ValidationRecord | None, current: ValidationRecord) -> None:
        self.seen.append((previous.ok if previous else None, current.ok))


class Metrics:
    def __init__(self) -> None:
        self.domains: list[str] = []
        self.runs: list[tuple[int, int]] = []

    def domain(self, result: ValidationRecord) -> None:
        self.domains.append(result.domain)

    def run(self, checked: int, failing: int) -> None:
        self.runs.append((checked, failing))


def published(domain: str) -> PublishedPolicy:
    return PublishedPolicy(
        domain=domain,
        policy_id="20261129000000",
        policy_hash="0" * 64,
        policy_text="version: STSv1\r\nmode: none\r\nmax_age: 0\r\n",
        mode=Mode.NONE,
        max_age=0,
        mx=(),
        rua=(),
        served_at=NOW,
    )


def judge_with(broken: set[str]) -> ValidateMany:
    async def validate(
        domains: Sequence[str], expected: Mapping[str, PublishedPolicy]
    ) -> list[Verdict]:
        assert set(expected) == set(domains)
        return [
            Verdict(
                d,
                (finding(Code.MX_UNREACHABLE, Severity.ERROR, "down", d),) if d in broken else (),
                None,
                None,
                None,
            )
            for d in domains
        ]

    return validate


def test_only_changes_of_state_are_published_and_every_run_is_stored() -> None:
    store, changes, metrics = Store(["b.example", "a.example"]), Changes(), Metrics()

    def run(broken: set[str]) -> FleetSummary:
        return asyncio.run(validate_fleet(judge_with(broken), store, changes, metrics, lambda: NOW))

    first = run({"b.example"})
    second = run({"b.example"})
    third = run(set())

    assert (
        first.checked == 2 and first.failing == ("b.example",) and first.changed == ("b.example",)
    )
    assert second.changed == () and third.changed == ("b.example",)
    assert changes.seen == [(None, False), (False, True)]
    assert [len(store.records[d]) for d in ("a.example", "b.example")] == [3, 3]
    assert metrics.runs == [(2, 1), (2, 1), (2, 0)]
    assert metrics.domains[:2] == ["a.example", "b.example"]


def test_a_targeted_run_checks_only_the_named_domains_and_reports_no_fleet_totals() -> None:
    store, changes, metrics = Store(["a.example", "b.example"]), Changes(), Metrics()
    summary = asyncio.run(
        validate_fleet(
            judge_with({"b.example"}),
            store,
            changes,
            metrics,
            lambda: NOW,
            frozenset({"b.example"}),
        )
    )
    assert summary.checked == 1 and summary.failing == ("b.example",)
    assert set(store.records) == {"b.example"} and metrics.runs == []
    assert metrics.domains == ["b.example"]
