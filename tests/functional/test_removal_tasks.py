"""The removal workflow's task layer on in-memory ports."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mtasts.deploy_tasks import InvalidTaskInputError
from mtasts.policy import Mode
from mtasts.removal import RemovalNotDueError, Remover
from mtasts.removal_tasks import run_removal_task
from tests.functional.fakes import SteppingClock
from tests.functional.test_deploy import DOMAIN, make_rig, request


def test_begin_says_how_long_to_wait_and_finish_refuses_to_come_early() -> None:
    rig = make_rig()
    rig.deployer.deploy(request(Mode.ENFORCE, max_age=604800))
    clock = rig.deployer.clock
    assert isinstance(clock, SteppingClock)
    remover = Remover(rig.deployer)

    begun = run_removal_task({"action": "begin", "domain": DOMAIN}, remover, lambda: clock.at)
    assert 604800 <= begun["wait_seconds"] <= 604800 + 5
    with pytest.raises(RemovalNotDueError):
        run_removal_task({"action": "finish", "domain": DOMAIN}, remover, lambda: clock.at)

    clock.at += timedelta(seconds=begun["wait_seconds"])
    assert run_removal_task({"action": "finish", "domain": DOMAIN}, remover, lambda: clock.at) == {
        "domain": DOMAIN,
        "removed": True,
    }
    assert rig.dns.sts_contents(DOMAIN) == [] and rig.served() is None


def test_an_unknown_action_is_a_typed_error() -> None:
    with pytest.raises(InvalidTaskInputError, match="action"):
        run_removal_task(
            {"action": "purge", "domain": DOMAIN}, Remover(make_rig().deployer), SteppingClock().now
        )
