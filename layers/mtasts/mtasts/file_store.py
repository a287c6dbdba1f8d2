"""The policy state store and audit log in a directory, for the CLI run without AWS.

One JSON file per domain's state, written atomically (temporary file, fsync, rename) so a crash
never leaves half a record; one JSON-lines audit file per domain, appended. The version check
matches the DynamoDB store's, under an exclusive lock on a per-domain lock file.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mtasts.domain_names import DomainNameError, canonical_domain
from mtasts.errors import StoreConflictError
from mtasts.policy_state import AuditEntry, PublishedPolicy


class FilePolicyStore:
    """`PolicyStateStore` and `AuditLog` under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def load(self, domain: str) -> PublishedPolicy | None:
        path = self._state_path(domain)
        if not path.exists():
            return None
        return PublishedPolicy.model_validate_json(path.read_bytes())

    def save(self, state: PublishedPolicy) -> PublishedPolicy:
        with self._locked(state.domain):
            stored = self.load(state.domain)
            if (stored.version if stored else 0) != state.version:
                raise StoreConflictError(
                    f"{state.domain}: the policy state changed since it was read (version "
                    f"{state.version}); reread and retry"
                )
            saved = state.model_copy(update={"version": state.version + 1})
            _write_atomically(self._state_path(state.domain), saved.model_dump_json().encode())
            return saved

    def delete(self, domain: str) -> None:
        with self._locked(domain):
            self._state_path(domain).unlink(missing_ok=True)

    def append(self, entry: AuditEntry) -> None:
        path = self._domain_dir(entry.domain) / "audit.jsonl"
        with self._locked(entry.domain), path.open("ab") as handle:
            handle.write(entry.model_dump_json().encode() + b"\n")

    def history(self, domain: str, limit: int = 100) -> list[AuditEntry]:
        path = self._domain_dir(domain) / "audit.jsonl"
        if not path.exists():
            return []
        lines = path.read_bytes().splitlines()
        return [AuditEntry.model_validate_json(line) for line in reversed(lines) if line][:limit]

    def _domain_dir(self, domain: str) -> Path:
        # Only canonical names become directory names: no `..`, no separators.
        if canonical_domain(domain) != domain:
            raise DomainNameError(f"{domain!r} is not a canonical domain name")
        directory = self.root / domain
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def _state_path(self, domain: str) -> Path:
        return self._domain_dir(domain) / "policy.json"

    @contextmanager
    def _locked(self, domain: str) -> Iterator[None]:
        with (self._domain_dir(domain) / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
