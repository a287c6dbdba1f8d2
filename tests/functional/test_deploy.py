"""The deploy use case on in-memory ports: ordering (RFC 8461 §8.1), the rotation rule, the
safety gate, and what an interruption at every step leaves behind."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mtasts.deploy import Deployer, DeployRequest, NotPublishedError
from mtasts.errors import MtaStsError, UnsafePolicyError
from mtasts.policy import Mode, build_policy
from tests.functional.fakes import (
    FakeAudit,
    FakeDns,
    FakeFetcher,
    FakeHost,
    FakeResolver,
    FakeStore,
    Faults,
    InjectedFault,
    SteppingClock,
)

DOMAIN = "example.com"
RUA = ("mailto:tlsrpt@reports.example.net",)
MX = ["mx1.example.com", "mx2.example.com"]


class NotServed(MtaStsError):
    pass


@dataclass
class Rig:
    faults: Faults
    host: FakeHost
    dns: FakeDns
    store: FakeStore
    audit: FakeAudit
    resolver: FakeResolver
    deployer: Deployer
    steps: list[str]

    def served(self) -> bytes | None:
        return self.host.served.get(DOMAIN)


def make_rig(fail_on: dict[str, int] | None = None) -> Rig:
    faults = Faults(fail_on or {})
    host = FakeHost(faults)
    fetcher = FakeFetcher(host)

    def confirm(domain: str, expected: bytes) -> None:
        faults.tick("confirm")
        if fetcher.fetch(domain).body != expected:
            raise NotServed(f"{domain} does not serve the policy")

    dns, store, audit = FakeDns(faults), FakeStore(faults), FakeAudit()
    resolver = FakeResolver({DOMAIN: list(MX)})
    steps: list[str] = []
    deployer = Deployer(
        host=host,
        dns=dns,
        resolver=resolver,
        fetcher=fetcher,
        confirm_served=confirm,
        store=store,
        audit=audit,
        clock=SteppingClock(),
        on_step=steps.append,
    )
    return Rig(faults, host, dns, store, audit, resolver, deployer, steps)


def request(mode: Mode = Mode.TESTING, **changes: object) -> DeployRequest:
    fields: dict[str, object] = {
        "domain": DOMAIN,
        "mode": mode,
        "max_age": 86400,
        "rua": RUA,
        "mx": tuple(MX),
    }
    fields.update(changes)
    return DeployRequest(**fields)  # type: ignore[arg-type]


def test_first_deploy_serves_then_announces_both_records() -> None:
    rig = make_rig()
    outcome = rig.deployer.deploy(request())

    expected = build_policy("testing", MX, 86400).render().encode()
    assert rig.served() == expected
    assert rig.dns.sts_contents(DOMAIN) == [f"v=STSv1; id={outcome.policy_id}"]
    assert [r.content for r in rig.dns.txt_records(f"_smtp._tls.{DOMAIN}")] == [
        "v=TLSRPTv1; rua=mailto:tlsrpt@reports.example.net"
    ]
    assert outcome.policy_changed and outcome.changed
    state = rig.store.load(DOMAIN)
    assert state is not None and state.announced and state.policy_id == outcome.policy_id
    assert state.longest_max_age == 86400
    assert rig.faults.log.index("confirm") < rig.faults.log.index("dns.ensure_txt")
    assert [e.action for e in rig.audit.entries] == [
        "policy-published",
        "dns-record-changed",
        "dns-record-changed",
    ]


def test_identical_redeploy_uploads_nothing_and_keeps_the_id() -> None:
    rig = make_rig()
    first = rig.deployer.deploy(request())
    audit_before, uploads_before = len(rig.audit.entries), rig.host.uploads

    again = rig.deployer.deploy(request())

    assert again.policy_id == first.policy_id and not again.changed
    assert rig.faults.calls["host.publish"] == 1
    assert rig.host.uploads == uploads_before
    assert len(rig.audit.entries) == audit_before


def test_switching_to_enforce_rotates_the_id_only_after_the_new_bytes_are_served() -> None:
    rig = make_rig()
    first = rig.deployer.deploy(request())
    rig.faults.log.clear()

    second = rig.deployer.deploy(request(Mode.ENFORCE, max_age=604800))

    assert second.policy_id > first.policy_id
    assert b"mode: enforce" in (rig.served() or b"")
    assert rig.dns.sts_contents(DOMAIN) == [f"v=STSv1; id={second.policy_id}"]
    log = rig.faults.log
    assert log.index("host.publish") < log.index("confirm") < log.index("dns.ensure_txt")
    state = rig.store.load(DOMAIN)
    assert state is not None and state.longest_max_age == 604800


def test_enforce_with_an_uncovered_mx_publishes_nothing() -> None:
    rig = make_rig()
    with pytest.raises(UnsafePolicyError) as caught:
        rig.deployer.deploy(request(Mode.ENFORCE, mx=("mx1.example.com",)))
    assert caught.value.uncovered == ("mx2.example.com",)
    assert rig.host.served == {} and rig.dns.records == {} and rig.store.states == {}


def test_a_change_that_drops_a_covered_live_mx_is_refused() -> None:
    rig = make_rig()
    rig.deployer.deploy(request())
    with pytest.raises(UnsafePolicyError, match="mx2.example.com"):
        rig.deployer.deploy(request(mx=("mx1.example.com",)))


def test_patterns_are_derived_from_live_mx_when_none_are_given() -> None:
    rig = make_rig()
    rig.resolver.mx[DOMAIN] = ["contoso-com.mail.protection.outlook.com"]
    outcome = rig.deployer.deploy(request(Mode.ENFORCE, mx=None, max_age=604800))
    assert outcome.mx == ("*.mail.protection.outlook.com",)


def test_no_mx_to_derive_from_is_a_typed_refusal() -> None:
    rig = make_rig()
    rig.resolver.mx[DOMAIN] = []
    with pytest.raises(UnsafePolicyError, match="no mx patterns"):
        rig.deployer.deploy(request(mx=None))


def test_a_rua_change_rewrites_the_tlsrpt_record_without_rotating_the_id() -> None:
    rig = make_rig()
    first = rig.deployer.deploy(request())
    again = rig.deployer.deploy(request(rua=("mailto:other@reports.example.net",)))
    assert again.policy_id == first.policy_id and not again.policy_changed
    assert [r.content for r in rig.dns.txt_records(f"_smtp._tls.{DOMAIN}")] == [
        "v=TLSRPTv1; rua=mailto:other@reports.example.net"
    ]


def test_announce_alone_needs_a_published_policy() -> None:
    with pytest.raises(NotPublishedError):
        make_rig().deployer.announce(DOMAIN, "req-1")


def test_announce_refuses_to_touch_dns_when_the_host_lost_the_policy() -> None:
    rig = make_rig()
    rig.deployer.publish(request())
    rig.host.served.clear()
    with pytest.raises(NotServed):
        rig.deployer.announce(DOMAIN, "req-2")
    assert rig.dns.records == {}


def test_a_host_that_lost_the_policy_gets_it_again_on_redeploy() -> None:
    rig = make_rig()
    first = rig.deployer.deploy(request())
    rig.host.served.clear()
    again = rig.deployer.deploy(request())
    assert rig.served() is not None and again.policy_id == first.policy_id


STEPS = [
    ("host.publish", 1),
    ("confirm", 1),
    ("store.save", 1),
    ("dns.ensure_txt", 1),
    ("dns.ensure_txt", 2),
    ("store.save", 2),
]


@pytest.mark.parametrize(("operation", "nth"), STEPS)
@pytest.mark.parametrize("mode", [Mode.TESTING, Mode.ENFORCE])
def test_an_interruption_at_any_step_leaves_a_safe_state_a_rerun_completes(
    operation: str, nth: int, mode: Mode
) -> None:
    rig = make_rig()
    rig.deployer.deploy(request())
    base = rig.faults.calls.copy()
    rig.faults.fail_on = {operation: base[operation] + nth}

    requested = build_policy(mode.value, MX, 604800).render().encode()
    with pytest.raises(InjectedFault):
        rig.deployer.deploy(request(mode, max_age=604800))
    _assert_no_id_ahead_of_the_served_policy(rig, requested)

    rig.faults.fail_on = {}
    outcome = rig.deployer.deploy(request(mode, max_age=604800))
    assert rig.dns.sts_contents(DOMAIN) == [f"v=STSv1; id={outcome.policy_id}"]
    assert rig.served() == requested and outcome.mode is mode
    _assert_no_id_ahead_of_the_served_policy(rig, requested)


def _assert_no_id_ahead_of_the_served_policy(rig: Rig, requested: bytes) -> None:
    """One `v=STSv1` record, and its id is either the served policy's or an older one (the new
    policy is served and the id not yet rotated): never a new id beside an old file."""
    (record,) = rig.dns.sts_contents(DOMAIN)
    announced_id = record.removeprefix("v=STSv1; id=")
    state = rig.store.load(DOMAIN)
    assert state is not None
    if state.policy_id == announced_id:
        assert rig.served() in (state.policy_text.encode(), requested)
    else:
        assert announced_id < state.policy_id and not state.announced
        assert rig.served() == state.policy_text.encode() == requested
