"""The promotion workflow's tasks on in-memory ports: the window evaluation's evidence and rule
layering, drift healing through a real Deployer, and notifications recorded then published."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from mtasts.deploy import Deployer, DeployRequest, NotPublishedError
from mtasts.deploy_tasks import InvalidTaskInputError
from mtasts.domain_config import DomainConfig, Lifecycle, RuleOverrides
from mtasts.drift_healing import heal_drift
from mtasts.findings import Code, error
from mtasts.fleet_validation import ValidationRecord
from mtasts.notifications import Notification, notify
from mtasts.policy import Mode, build_policy, content_hash
from mtasts.policy_state import PublishedPolicy
from mtasts.promotion import EvidenceSources, evaluate_domain
from mtasts.promotion_rules import PromotionRules
from mtasts.report_counts import DayTotals
from tests.functional.fakes import (
    FakeAudit,
    FakeDns,
    FakeFetcher,
    FakeHost,
    FakeResolver,
    FakeStore,
    Faults,
    SteppingClock,
)

DOMAIN = "example.com"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
MX = ["mx1.example.com", "mx2.example.com"]
FLEET = PromotionRules(window_days=14, min_reporters=2, min_sessions=100)


def published(served_at: datetime, mx: tuple[str, ...] = tuple(MX)) -> PublishedPolicy:
    text = build_policy("testing", mx, 86400).render()
    return PublishedPolicy(
        domain=DOMAIN,
        policy_id="20261101000000",
        policy_hash=content_hash(text.encode()),
        policy_text=text,
        mode=Mode.TESTING,
        max_age=86400,
        mx=mx,
        rua=("mailto:r@example.net",),
        served_at=served_at,
        announced_at=served_at,
        longest_max_age=86400,
        version=1,
    )


@dataclass
class Sources:
    state: PublishedPolicy | None
    days: list[DayTotals] = field(default_factory=list)
    runs: list[ValidationRecord] = field(default_factory=list)
    config: DomainConfig | None = None
    asked: list[tuple[date, date]] = field(default_factory=list)

    def load(self, domain: str) -> PublishedPolicy | None:
        return self.state

    def get(self, domain: str) -> DomainConfig | None:
        return self.config

    def days_of(self, domain: str, first: date, last: date) -> list[DayTotals]:
        self.asked.append((first, last))
        return self.days

    def since(self, domain: str, start: datetime) -> list[ValidationRecord]:
        return [r for r in self.runs if r.checked_at >= start]

    def build(self, live_mx: list[str] = MX) -> EvidenceSources:
        return EvidenceSources(
            policies=self,
            reports=Reports(self),
            validations=self,
            resolver=FakeResolver({DOMAIN: live_mx}),
            configs=self,
            now=lambda: NOW,
        )


@dataclass
class Reports:
    sources: Sources

    def days(self, domain: str, first: date, last: date) -> list[DayTotals]:
        return self.sources.days_of(domain, first, last)


def run(ok: bool, at: datetime) -> ValidationRecord:
    findings = () if ok else (error(Code.MX_CERTIFICATE_EXPIRED, "mx1: expired"),)
    return ValidationRecord(
        domain=DOMAIN,
        checked_at=at,
        ok=ok,
        errors=0 if ok else 1,
        warnings=0,
        mode="testing",
        policy_id="20261101000000",
        nearest_certificate_expiry=None,
        findings=findings,
    )


def day(ok: int, reporters: set[str], failures: dict[str, int] | None = None) -> DayTotals:
    return DayTotals(
        day=NOW.date(),
        successful_by_policy_type={"sts": ok},
        failed_by_policy_type={"sts": sum((failures or {}).values())},
        failures_by_result_type={"sts": dict(failures or {})},
        reporters=frozenset(reporters),
    )


def clean_sources() -> Sources:
    return Sources(
        published(NOW - timedelta(days=15)),
        days=[day(150, {"Alpha", "Beta"})],
        runs=[run(True, NOW - timedelta(days=20)), run(True, NOW - timedelta(hours=1))],
    )


def test_a_clean_window_with_enough_evidence_is_clean_and_asks_for_its_days() -> None:
    sources = clean_sources()

    result = evaluate_domain({"domain": DOMAIN}, sources.build(), FLEET)

    assert result.verdict == "clean" and not result.approval_pending
    assert result.validator_runs == 1  # the run before the window does not count
    assert sources.asked == [((NOW - timedelta(days=15)).date(), NOW.date())]
    assert result.problem_key == "clean" and result.reporters == 2


def test_rules_layer_fleet_then_domain_configuration_then_execution_input() -> None:
    sources = clean_sources()
    sources.config = DomainConfig(
        domain=DOMAIN,
        rules=RuleOverrides(min_sessions=1000, window_days=30),
        created_at=NOW,
        updated_at=NOW,
    )

    by_config = evaluate_domain({"domain": DOMAIN}, sources.build(), FLEET)
    by_input = evaluate_domain(
        {"domain": DOMAIN, "rules": {"window_days": 10}}, sources.build(), FLEET
    )

    assert by_config.verdict == "insufficient" and by_config.rules.window_days == 30
    assert by_input.rules.window_days == 10 and by_input.rules.min_sessions == 1000


def test_manual_approval_holds_a_clean_window_until_the_domain_is_approved() -> None:
    sources = clean_sources()
    sources.config = DomainConfig(domain=DOMAIN, approval="manual", created_at=NOW, updated_at=NOW)

    waiting = evaluate_domain({"domain": DOMAIN}, sources.build(), FLEET)
    sources.config = sources.config.model_copy(update={"approved": True})
    approved = evaluate_domain({"domain": DOMAIN}, sources.build(), FLEET)

    assert waiting.verdict == "clean" and waiting.approval_pending
    assert approved.approval == "manual" and not approved.approval_pending


def test_the_problem_key_names_problems_not_counts() -> None:
    sources = clean_sources()
    sources.days = [day(100, {"Alpha", "Beta"}, {"certificate-expired": 3})]
    sources.runs.append(run(False, NOW))
    first = evaluate_domain({"domain": DOMAIN}, sources.build(), FLEET)
    sources.days = [day(100, {"Alpha", "Beta"}, {"certificate-expired": 9})]
    again = evaluate_domain({"domain": DOMAIN}, sources.build(["mx3.example.net", *MX]), FLEET)

    assert first.verdict == "dirty"
    assert first.problem_key == "dirty|certificate-expired|mx-certificate-expired|"
    assert again.problem_key == "dirty|certificate-expired|mx-certificate-expired|mx3.example.net"


@pytest.mark.parametrize(
    "event", [{"domain": "not a domain"}, {"domain": DOMAIN, "rules": {"min_sessions": -1}}]
)
def test_bad_input_is_a_typed_error_a_catch_records(event: dict[str, Any]) -> None:
    with pytest.raises(InvalidTaskInputError):
        evaluate_domain(event, clean_sources().build(), FLEET)


def test_a_domain_without_a_policy_cannot_be_weighed() -> None:
    with pytest.raises(NotPublishedError):
        evaluate_domain({"domain": DOMAIN}, Sources(None).build(), FLEET)


# --- drift ---------------------------------------------------------------------------------------


@dataclass
class Seen:
    stored: dict[str, datetime] = field(default_factory=dict)

    def load(self, domain: str) -> dict[str, datetime]:
        return dict(self.stored)

    def save(self, domain: str, seen: Any) -> None:
        self.stored = dict(seen)


def drift_rig(live: list[str]) -> tuple[Deployer, FakeStore, FakeDns, FakeHost, FakeResolver]:
    faults = Faults()
    host = FakeHost(faults)
    fetcher = FakeFetcher(host)
    dns, store = FakeDns(faults), FakeStore(faults)
    resolver = FakeResolver({DOMAIN: ["mx1.example.com"]})
    deployer = Deployer(
        host=host,
        dns=dns,
        resolver=resolver,
        fetcher=fetcher,
        confirm_served=lambda d, b: None,
        store=store,
        audit=FakeAudit(),
        clock=SteppingClock(),
    )
    deployer.deploy(DeployRequest(DOMAIN, Mode.TESTING, 86400, ("mailto:r@example.net",)))
    resolver.mx[DOMAIN] = live
    return deployer, store, dns, host, resolver


def test_a_new_mx_is_added_served_and_announced_with_a_new_id() -> None:
    deployer, store, dns, host, resolver = drift_rig(MX)
    before = store.states[DOMAIN]
    seen = Seen()

    result = heal_drift({"domain": DOMAIN}, store, seen, resolver, deployer, lambda: NOW)

    assert result.changed and result.added == ["mx2.example.com"] and result.removed == []
    assert result.policy_id != before.policy_id == result.previous_policy_id
    assert b"mx: mx2.example.com\r\n" in host.served[DOMAIN]
    assert dns.sts_contents(DOMAIN) == [f"v=STSv1; id={result.policy_id}"]
    assert set(seen.stored) == {"mx1.example.com", "mx2.example.com"}


def test_no_drift_changes_nothing_but_remembers_the_sighting() -> None:
    deployer, store, dns, host, resolver = drift_rig(["mx1.example.com"])
    before = store.states[DOMAIN]
    seen = Seen()

    result = heal_drift({"domain": DOMAIN}, store, seen, resolver, deployer, lambda: NOW)

    assert not result.changed and result.policy_id == before.policy_id
    assert store.states[DOMAIN] == before and seen.stored == {"mx1.example.com": NOW}


# --- notifications -------------------------------------------------------------------------------


@dataclass
class Sink:
    published: list[Notification] = field(default_factory=list)

    def publish(self, notification: Notification) -> None:
        self.published.append(notification)


@dataclass
class Configs:
    config: DomainConfig | None = None

    def get(self, domain: str) -> DomainConfig | None:
        return self.config

    def save(self, config: DomainConfig) -> DomainConfig:
        self.config = config.model_copy(update={"version": config.version + 1})
        return self.config


def test_a_notification_is_recorded_moves_the_lifecycle_then_is_published() -> None:
    sink, audit = Sink(), FakeAudit()
    configs = Configs(
        DomainConfig(domain=DOMAIN, state=Lifecycle.TESTING, created_at=NOW, updated_at=NOW)
    )
    event = {
        "kind": "promoted",
        "domain": DOMAIN,
        "evaluation": {"verdict": "clean", "reasons": ["clean for 15 day(s)"]},
        "deployed": {"policy_id": "20261129120000", "mx": MX},
        "request_id": "example-com-g1",
    }

    sent = notify(event, [sink], audit, configs, lambda: NOW)

    assert sink.published == [sent] and sent.kind == "promoted"
    assert "20261129120000" in sent.summary and "clean for 15 day(s)" in sent.summary
    (entry,) = audit.entries
    assert entry.action == "promoted" and entry.request_id == "example-com-g1"
    assert entry.after is not None and entry.after["evidence"]["deployed"]["mx"] == MX
    assert configs.config is not None and configs.config.state is Lifecycle.ENFORCE


def test_a_failure_summary_carries_the_lambda_error_message() -> None:
    cause = '{"errorType": "UnsafePolicyError", "errorMessage": "example.com: mx3 is not covered"}'
    event = {
        "kind": "failed",
        "domain": DOMAIN,
        "error": {"Error": "UnsafePolicyError", "Cause": cause},
    }

    sent = notify(event, [], FakeAudit(), Configs(), lambda: NOW)

    assert "(UnsafePolicyError): example.com: mx3 is not covered." in sent.summary
