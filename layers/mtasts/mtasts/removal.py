"""Taking a domain off MTA-STS without stranding a sender (RFC 8461 §8.3).

A sender that cached an `enforce` policy keeps it for up to its `max_age`. Deleting the records
at once would leave such a sender enforcing a policy nobody maintains. So: publish `mode: none`
with a short `max_age` and a new id (senders refetch and learn to stop), wait until the longest
`max_age` ever published has passed, and only then delete the records, the site and the state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec

from mtasts.deploy import (
    STS_TAG,
    TLSRPT_TAG,
    Deployer,
    DeployOutcome,
    DeployRequest,
    sts_name,
    tlsrpt_name,
)
from mtasts.errors import MtaStsError
from mtasts.policy import Mode
from mtasts.policy_state import AuditEntry

REMOVAL_MAX_AGE = 86_400  # what senders keep the `none` policy for; short, as §8.3 advises


class RemovalNotDueError(MtaStsError):
    """The records cannot be deleted yet: a sender may still hold an older policy."""

    def __init__(self, message: str, due_at: datetime | None) -> None:
        super().__init__(message)
        self.due_at = due_at


class RemovalStarted(msgspec.Struct, frozen=True):
    outcome: DeployOutcome
    records_deletable_at: datetime


class Remover(msgspec.Struct):
    deployer: Deployer
    on_step: Callable[[str], None] = lambda _message: None

    def begin(self, domain: str, request_id: str) -> RemovalStarted:
        """Publish `mode: none` with a new id; idempotent (a rerun keeps the same id)."""
        current = self.deployer.store.load(domain)
        rua = current.rua if current else ()
        outcome = self.deployer.deploy(
            DeployRequest(domain, Mode.NONE, REMOVAL_MAX_AGE, rua, (), request_id)
        )
        state = self.deployer.store.load(domain)
        due = state.removal_allowed_at() if state else None
        if due is None:  # deploy() leaves an announced state; this guards a broken store
            raise MtaStsError(f"{domain}: mode none was not recorded as announced")
        self.on_step(f"{domain}: mode none announced; records may be deleted from {due}")
        return RemovalStarted(outcome, due)

    def finish(self, domain: str, request_id: str) -> None:
        """Delete the records, the site and the state once §8.3's wait is over."""
        deployer = self.deployer
        state = deployer.store.load(domain)
        if state is None:
            self.on_step(f"{domain}: already removed")
            return
        due = state.removal_allowed_at()
        now = deployer.clock.now()
        if due is None or now < due:
            raise RemovalNotDueError(_not_due_message(domain, state.mode, due), due)
        for change in (
            deployer.dns.delete_txt(sts_name(domain), STS_TAG),
            deployer.dns.delete_txt(tlsrpt_name(domain), TLSRPT_TAG),
        ):
            self.on_step(f"{change.name}: deleted {change.before!r}")
        deployer.host.remove(domain)
        deployer.store.delete(domain)
        deployer.audit.append(
            AuditEntry(
                domain=domain,
                action="domain-removed",
                before={"policy_id": state.policy_id, "mode": state.mode.value},
                after=None,
                at=now,
                request_id=request_id,
            )
        )
        self.on_step(f"{domain}: records, site and state removed")


def _not_due_message(domain: str, mode: Mode, due: datetime | None) -> str:
    if due is None:
        return f"{domain}: mode is {mode.value}; begin the removal (publish mode none) first"
    return f"{domain}: a sender may still hold an older policy; records can go at {due.isoformat()}"
