"""Domain configurations on the product's table in moto: create once, optimistic saves, paging
in name order with a state filter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mtasts.config_store import DynamoDomainConfigStore
from mtasts.domain_config import DomainConfig, Lifecycle, RuleOverrides
from mtasts.errors import DomainExistsError, StoreConflictError
from mtasts_local.aws.template import DeployedStack
from mtasts_local.world import LocalWorld

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(world: LocalWorld, product: DeployedStack) -> DynamoDomainConfigStore:
    return DynamoDomainConfigStore(world.aws.client("dynamodb"), product.ref("DomainsTable"))


def config(domain: str, state: Lifecycle = Lifecycle.TESTING) -> DomainConfig:
    return DomainConfig(domain=domain, state=state, created_at=NOW, updated_at=NOW)


def test_create_once_then_save_with_the_version_read(store: DynamoDomainConfigStore) -> None:
    created = store.create(
        DomainConfig(
            domain="Example.COM",
            approval="manual",
            rules=RuleOverrides(window_days=7),
            created_at=NOW,
            updated_at=NOW,
        )
    )
    assert created.domain == "example.com" and created.version == 1
    assert store.get("example.com") == created
    with pytest.raises(DomainExistsError):
        store.create(config("example.com"))

    moved = store.save(created.moved_to(Lifecycle.TESTING, "window under way", NOW))
    with pytest.raises(StoreConflictError):
        store.save(created.moved_to(Lifecycle.FAILED, "stale writer", NOW))
    assert store.get("example.com") == moved and moved.execution_name() == "example-com-g1"


def test_pages_list_in_name_order_and_filter_by_state(store: DynamoDomainConfigStore) -> None:
    names = [f"d{i:02d}.example" for i in range(7)]
    for i, name in enumerate(names):
        store.create(config(name, Lifecycle.ENFORCE if i % 2 else Lifecycle.TESTING))

    first, cursor = store.page(3)
    second, cursor2 = store.page(3, cursor)
    third, end = store.page(3, cursor2)
    assert [c.domain for c in first + second + third] == names and end is None

    enforced, more = store.page(2, state=Lifecycle.ENFORCE)
    rest, done = store.page(2, more, state=Lifecycle.ENFORCE)
    assert [c.domain for c in enforced + rest] == names[1::2] and done is None
