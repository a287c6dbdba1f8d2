"""The policy state store and audit log on the domains table that `template.yaml` defines,
in moto over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from mtasts.dynamo_store import DynamoPolicyStore
from mtasts.errors import StoreConflictError
from mtasts.policy import Mode
from mtasts.policy_state import AuditEntry, PublishedPolicy
from mtasts_local.aws.moto_world import MotoWorld
from mtasts_local.aws.template import REPO_TEMPLATE, deploy, read_template
from mtasts_local.config import load_world
from mtasts_local.world import template_parameters

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoWorld]:
    with MotoWorld() as world:
        yield world


@pytest.fixture
def store(moto: MotoWorld) -> DynamoPolicyStore:
    moto.reset()
    parameters = template_parameters(REPO_TEMPLATE, load_world(None), {})
    stack = deploy(read_template(parameters=parameters, region=moto.region), moto.client)
    return DynamoPolicyStore(moto.client("dynamodb"), stack.ref("DomainsTable"))


def state(**changes: object) -> PublishedPolicy:
    base = PublishedPolicy(
        domain="example.com",
        policy_id="20261129120000",
        policy_hash="ab" * 32,
        policy_text="version: STSv1\r\nmode: testing\r\nmx: mx.example.com\r\nmax_age: 86400\r\n",
        mode=Mode.TESTING,
        max_age=86400,
        mx=("mx.example.com",),
        rua=("mailto:r@example.net",),
        served_at=T0,
    )
    return base.model_copy(update=changes)


def test_a_saved_state_reads_back_equal_with_its_version_bumped(store: DynamoPolicyStore) -> None:
    assert store.load("example.com") is None
    saved = store.save(state())
    assert saved.version == 1
    assert store.load("example.com") == saved


def test_a_stale_writer_gets_a_conflict_and_changes_nothing(store: DynamoPolicyStore) -> None:
    first = store.save(state())
    store.save(first.model_copy(update={"announced_at": T0}))

    with pytest.raises(StoreConflictError, match="changed since it was read"):
        store.save(first.model_copy(update={"policy_id": "20261129130000"}))
    with pytest.raises(StoreConflictError):
        store.save(state())  # a second "first" save
    loaded = store.load("example.com")
    assert loaded is not None and loaded.policy_id == "20261129120000" and loaded.version == 2


def test_history_is_newest_first_and_per_domain(store: DynamoPolicyStore) -> None:
    for minute, domain in [(0, "example.com"), (1, "other.example"), (2, "example.com")]:
        store.append(
            AuditEntry(
                domain=domain,
                action=f"change-{minute}",
                before=None,
                after={"minute": minute},
                at=T0 + timedelta(minutes=minute),
                request_id=f"req-{minute}",
            )
        )
    assert [e.action for e in store.history("example.com")] == ["change-2", "change-0"]
    assert [e.action for e in store.history("example.com", limit=1)] == ["change-2"]


def test_delete_removes_the_state_but_keeps_the_audit_trail(store: DynamoPolicyStore) -> None:
    store.save(state())
    store.append(
        AuditEntry(domain="example.com", action="x", before=None, after=None, at=T0, request_id="r")
    )
    store.delete("example.com")
    assert store.load("example.com") is None
    assert len(store.history("example.com")) == 1
