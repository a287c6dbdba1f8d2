"""What the product remembers about each domain's published policy, and its audit trail.

The rotation rule lives on this record: the id changes when, and only when, the served policy
changes, so the store keeps (id, policy hash, when served, when announced). The stores themselves
are ports; `dynamo_store` implements them on DynamoDB.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from mtasts.policy import Mode


class PublishedPolicy(BaseModel):
    """The policy a domain serves, the id published (or about to be published) for it, and the
    longest `max_age` ever announced (RFC 8461 §8.3 removal waits for it to pass)."""

    model_config = ConfigDict(frozen=True)

    domain: str
    policy_id: str
    policy_hash: str
    policy_text: str
    mode: Mode
    max_age: int
    mx: tuple[str, ...]
    rua: tuple[str, ...]
    served_at: AwareDatetime
    # None while the id above is not yet in DNS: a rerun completes the announcement.
    announced_at: AwareDatetime | None = None
    longest_max_age: int = 0
    version: int = Field(default=0, ge=0)  # optimistic concurrency: bumped by every save

    @property
    def announced(self) -> bool:
        return self.announced_at is not None

    def removal_allowed_at(self) -> datetime | None:
        """When the records may be deleted after `mode: none` was announced: the longest
        max_age ever published has then passed since senders were told to stop (§8.3)."""
        if self.mode is not Mode.NONE or self.announced_at is None:
            return None
        return self.announced_at + timedelta(seconds=self.longest_max_age)


class AuditEntry(BaseModel):
    """One change the product made: what, the value before and after, when, and on whose request."""

    model_config = ConfigDict(frozen=True)

    domain: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: AwareDatetime
    request_id: str


class PolicyStateStore(Protocol):
    def load(self, domain: str) -> PublishedPolicy | None: ...

    def save(self, state: PublishedPolicy) -> PublishedPolicy:
        """Store `state` if the stored record's version is still `state.version` (or there is no
        record and the version is 0); return it with the version bumped. Raises
        `StoreConflictError` when another writer got there first."""
        ...

    def delete(self, domain: str) -> None: ...


class AuditLog(Protocol):
    def append(self, entry: AuditEntry) -> None: ...

    def history(self, domain: str, limit: int = 100) -> list[AuditEntry]:
        """The domain's entries, newest first."""
        ...
