"""RFC 8461 §8.3 removal on in-memory ports."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mtasts.policy import Mode
from mtasts.removal import REMOVAL_MAX_AGE, RemovalNotDueError, Remover
from tests.functional.fakes import SteppingClock
from tests.functional.test_deploy import DOMAIN, make_rig, request


def test_removal_publishes_none_then_waits_for_the_longest_max_age() -> None:
    rig = make_rig()
    enforced = rig.deployer.deploy(request(Mode.ENFORCE, max_age=604800))
    remover = Remover(rig.deployer)

    started = remover.begin(DOMAIN, "req-remove")
    assert started.outcome.mode is Mode.NONE and started.outcome.policy_id > enforced.policy_id
    assert b"mode: none" in (rig.served() or b"")
    assert b"max_age: %d" % REMOVAL_MAX_AGE in (rig.served() or b"")
    assert rig.dns.sts_contents(DOMAIN) == [f"v=STSv1; id={started.outcome.policy_id}"]

    with pytest.raises(RemovalNotDueError) as caught:
        remover.finish(DOMAIN, "req-remove")
    assert caught.value.due_at == started.records_deletable_at
    assert rig.dns.sts_contents(DOMAIN) != []

    clock = rig.deployer.clock
    assert isinstance(clock, SteppingClock)
    clock.at = started.records_deletable_at + timedelta(seconds=1)
    remover.finish(DOMAIN, "req-remove")

    assert rig.dns.sts_contents(DOMAIN) == []
    assert rig.dns.txt_records(f"_smtp._tls.{DOMAIN}") == []
    assert rig.served() is None and rig.store.load(DOMAIN) is None
    assert rig.audit.entries[-1].action == "domain-removed"
    remover.finish(DOMAIN, "req-remove")  # idempotent


def test_the_wait_covers_the_longest_max_age_ever_published_not_the_last() -> None:
    rig = make_rig()
    rig.deployer.deploy(request(Mode.ENFORCE, max_age=1_000_000))
    rig.deployer.deploy(request(Mode.TESTING, max_age=3600))
    started = Remover(rig.deployer).begin(DOMAIN, "r")
    state = rig.store.load(DOMAIN)
    assert state is not None and state.announced_at is not None
    assert started.records_deletable_at == state.announced_at + timedelta(seconds=1_000_000)


def test_finishing_without_beginning_is_refused() -> None:
    rig = make_rig()
    rig.deployer.deploy(request())
    with pytest.raises(RemovalNotDueError, match="begin the removal"):
        Remover(rig.deployer).finish(DOMAIN, "r")
