"""In-memory fakes of the ports: a tiny consistent world (host, DNS, store) with no network.

Each fake records what was done to it and can be told to fail on its Nth call of an operation,
so the use cases can be interrupted at every step.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mtasts.errors import MtaStsError, StoreConflictError
from mtasts.policy_state import AuditEntry, PublishedPolicy
from mtasts.ports import FetchedPolicy, HostedSite, RecordChange, SiteFiles, TxtRecord


class InjectedFault(MtaStsError):
    """A failure the test asked for."""


@dataclass
class Faults:
    """Fail the Nth call of an operation (1-based), once."""

    fail_on: dict[str, int] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)  # every operation, in order

    def tick(self, operation: str) -> None:
        self.calls[operation] += 1
        self.log.append(operation)
        if self.fail_on.get(operation) == self.calls[operation]:
            raise InjectedFault(f"injected failure in {operation}")


@dataclass
class FakeHost:
    faults: Faults
    served: dict[str, bytes] = field(default_factory=dict)
    uploads: int = 0

    def publish(self, files: SiteFiles) -> HostedSite:
        self.faults.tick("host.publish")
        uploaded = 0 if self.served.get(files.domain) == files.policy else 1
        self.uploads += uploaded
        self.served[files.domain] = files.policy
        return self.describe(files.domain, uploaded) or _unreachable()

    def describe(self, domain: str, uploaded: int = 0) -> HostedSite | None:
        if domain not in self.served:
            return None
        return HostedSite(domain, f"site-{domain}", f"mta-sts.{domain}", "dep", uploaded, True)

    def remove(self, domain: str) -> None:
        self.served.pop(domain, None)


def _unreachable() -> HostedSite:
    raise AssertionError("unreachable")


@dataclass
class FakeFetcher:
    host: FakeHost

    def fetch(self, domain: str) -> FetchedPolicy:
        url = f"https://mta-sts.{domain}/.well-known/mta-sts.txt"
        body = self.host.served.get(domain)
        if body is None:
            return FetchedPolicy(url, 404, None, None, None, "HTTP 404", "policy-http-status")
        return FetchedPolicy(url, 200, body, "text/plain", "max-age=300", None, None)


@dataclass
class FakeDns:
    faults: Faults
    records: dict[str, list[TxtRecord]] = field(default_factory=dict)
    next_id: int = 0

    def txt_records(self, name: str) -> list[TxtRecord]:
        return list(self.records.get(name, []))

    def ensure_txt(self, name: str, version_tag: str, content: str) -> RecordChange:
        self.faults.tick("dns.ensure_txt")
        existing = [r for r in self.records.get(name, []) if r.content.startswith(version_tag)]
        others = [r for r in self.records.get(name, []) if not r.content.startswith(version_tag)]
        before = existing[0].content if existing else None
        self.next_id += 1
        kept = TxtRecord(existing[0].record_id if existing else f"r{self.next_id}", name, content)
        self.records[name] = [*others, kept]
        return RecordChange(name, before, content, tuple(r.record_id for r in existing[1:]))

    def delete_txt(self, name: str, version_tag: str) -> RecordChange:
        existing = [r for r in self.records.get(name, []) if r.content.startswith(version_tag)]
        self.records[name] = [
            r for r in self.records.get(name, []) if not r.content.startswith(version_tag)
        ]
        before = existing[0].content if existing else None
        return RecordChange(name, before, None, tuple(r.record_id for r in existing[1:]))

    def sts_contents(self, domain: str) -> list[str]:
        return [
            r.content
            for r in self.records.get(f"_mta-sts.{domain}", [])
            if r.content.startswith("v=STSv1")
        ]


@dataclass
class FakeResolver:
    mx: dict[str, list[str]] = field(default_factory=dict)

    def mx_hosts(self, domain: str) -> list[str]:
        return list(self.mx.get(domain, []))


@dataclass
class FakeStore:
    faults: Faults
    states: dict[str, PublishedPolicy] = field(default_factory=dict)

    def load(self, domain: str) -> PublishedPolicy | None:
        return self.states.get(domain)

    def save(self, state: PublishedPolicy) -> PublishedPolicy:
        self.faults.tick("store.save")
        stored = self.states.get(state.domain)
        if (stored.version if stored else 0) != state.version:
            raise StoreConflictError(f"{state.domain}: version moved")
        saved = state.model_copy(update={"version": state.version + 1})
        self.states[state.domain] = saved
        return saved

    def delete(self, domain: str) -> None:
        self.states.pop(domain, None)


@dataclass
class FakeAudit:
    entries: list[AuditEntry] = field(default_factory=list)

    def append(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    def history(self, domain: str, limit: int = 100) -> list[AuditEntry]:
        return [e for e in reversed(self.entries) if e.domain == domain][:limit]


@dataclass
class SteppingClock:
    """A clock that moves one second forward each time it is read."""

    at: datetime = field(default_factory=lambda: datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC))

    def now(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at
