"""The directory-backed store keeps the same promises as the DynamoDB one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mtasts.domain_names import DomainNameError
from mtasts.errors import StoreConflictError
from mtasts.file_store import FilePolicyStore
from mtasts.policy import Mode
from mtasts.policy_state import AuditEntry, PublishedPolicy

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def state(**changes: object) -> PublishedPolicy:
    return PublishedPolicy(
        domain="example.com",
        policy_id="20261129120000",
        policy_hash="ab" * 32,
        policy_text="version: STSv1\r\nmode: testing\r\nmx: mx.example.com\r\nmax_age: 86400\r\n",
        mode=Mode.TESTING,
        max_age=86400,
        mx=("mx.example.com",),
        rua=("mailto:r@example.net",),
        served_at=T0,
    ).model_copy(update=changes)


def test_round_trip_and_versions(tmp_path: Path) -> None:
    store = FilePolicyStore(tmp_path)
    assert store.load("example.com") is None
    first = store.save(state())
    assert store.load("example.com") == first and first.version == 1
    store.save(first.model_copy(update={"announced_at": T0}))
    with pytest.raises(StoreConflictError):
        store.save(first)
    loaded = store.load("example.com")
    assert loaded is not None and loaded.version == 2 and loaded.announced_at == T0
    assert not list(tmp_path.rglob("*.tmp"))


def test_history_newest_first_survives_delete(tmp_path: Path) -> None:
    store = FilePolicyStore(tmp_path)
    store.save(state())
    for minute in range(3):
        store.append(
            AuditEntry(
                domain="example.com",
                action=f"a{minute}",
                before=None,
                after=None,
                at=T0 + timedelta(minutes=minute),
                request_id="r",
            )
        )
    store.delete("example.com")
    assert store.load("example.com") is None
    assert [e.action for e in store.history("example.com", limit=2)] == ["a2", "a1"]


@pytest.mark.parametrize("name", ["../etc", "Example.com", "a/b.example"])
def test_only_canonical_names_touch_the_disk(tmp_path: Path, name: str) -> None:
    with pytest.raises(DomainNameError):
        FilePolicyStore(tmp_path / "state").load(name)
    assert not (tmp_path / "etc").exists()
