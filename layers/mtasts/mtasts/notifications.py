"""Telling people what the promotion workflow did: one notification per event, with a paragraph a
person can read in a ticket and the evidence behind it, recorded on the domain (audit entry and
lifecycle state) and then published (SNS for people, EventBridge for systems); last, for a domain
onboarded with a `callback_url`, POSTed there signed (`mtasts.callbacks`).

Recorded first, published second: a retry after a failed publish may publish twice, never lose
the record. The callback comes after both, and its failure is recorded, never raised: a
receiver that is down must not fail the workflow or make Step Functions retry the task. Pure
orchestration over ports.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict

from mtasts.callbacks import CallbackOutcome, delivery_id
from mtasts.domain_config import DomainConfig, Lifecycle
from mtasts.domain_names import DomainName
from mtasts.policy_state import AuditEntry, AuditLog
from mtasts.promotion import parse_task

EVENT_SOURCE = "mtasts-autopilot"  # the same source as the validator's events


class Kind(StrEnum):
    PROMOTED = "promoted"
    DEMOTED = "demoted"
    BLOCKED = "blocked"
    DRIFT_HEALED = "drift-healed"
    FAILED = "failed"


LIFECYCLE: Mapping[Kind, Lifecycle] = {
    Kind.PROMOTED: Lifecycle.ENFORCE,
    Kind.DEMOTED: Lifecycle.DEMOTED,
    Kind.BLOCKED: Lifecycle.BLOCKED,
    Kind.FAILED: Lifecycle.FAILED,
}


class NotifyTaskInput(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Kind
    domain: DomainName
    evaluation: dict[str, Any] | None = None  # a WindowResult
    deployed: dict[str, Any] | None = None  # a DeployTaskResult
    drift: dict[str, Any] | None = None  # a DriftResult
    error: dict[str, Any] | None = None  # Step Functions' {"Error", "Cause"}
    rounds: int | None = None  # set when the workflow stopped observing after this many
    request_id: str = "direct-invoke"


class Notification(BaseModel):
    """The event's `detail` and the SNS message (a public interface: names are kept)."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    domain: str
    summary: str
    evidence: dict[str, Any]
    at: AwareDatetime
    request_id: str


class NotificationSink(Protocol):
    def publish(self, notification: Notification) -> None: ...


class ConfigStore(Protocol):
    def get(self, domain: str) -> DomainConfig | None: ...

    def save(self, config: DomainConfig) -> DomainConfig: ...


class Callbacks(Protocol):
    """`callbacks.CallbackSender`: signs, delivers with retries, never raises."""

    def deliver(self, url: str, event: str, body: bytes, delivery: str) -> CallbackOutcome: ...


def notify(
    event: Mapping[str, Any],
    sinks: Sequence[NotificationSink],
    audit: AuditLog,
    configs: ConfigStore,
    now: Callable[[], datetime],
) -> Notification:
    task = parse_task(NotifyTaskInput, event)
    notification = Notification(
        kind=task.kind,
        domain=task.domain,
        summary=summary(task),
        evidence=task.model_dump(
            mode="json", include={"evaluation", "deployed", "drift", "error", "rounds"}
        ),
        at=now(),
        request_id=task.request_id,
    )
    audit.append(
        AuditEntry(
            domain=task.domain,
            action=task.kind.value,
            before=None,
            after={"summary": notification.summary, "evidence": notification.evidence},
            at=notification.at,
            request_id=task.request_id,
        )
    )
    _move_lifecycle(configs, notification)
    for sink in sinks:
        sink.publish(notification)
    return notification


def call_back(
    notification: Notification,
    configs: ConfigStore,
    audit: AuditLog,
    callbacks: Callbacks,
    now: Callable[[], datetime],
) -> CallbackOutcome | None:
    """POST the notification to the domain's `callback_url`, if it has one, and record how that
    went on the domain's audit trail; None when there is nowhere to call back."""
    config = configs.get(notification.domain)
    if config is None or config.callback_url is None:
        return None
    delivery = delivery_id(
        notification.domain, notification.kind.value, notification.request_id, notification.evidence
    )
    body = notification.model_dump_json().encode()
    outcome = callbacks.deliver(str(config.callback_url), notification.kind.value, body, delivery)
    audit.append(
        AuditEntry(
            domain=notification.domain,
            action="callback-delivered" if outcome.delivered else "callback-failed",
            before=None,
            after={"detail": outcome.detail(), **_outcome_fields(outcome)},
            at=now(),
            request_id=notification.request_id,
        )
    )
    return outcome


def _outcome_fields(outcome: CallbackOutcome) -> dict[str, Any]:
    return {
        "url": outcome.url,
        "event": outcome.event,
        "delivery_id": outcome.delivery_id,
        "attempts": outcome.attempts,
        "status": outcome.status,
        "error": outcome.error,
    }


def _move_lifecycle(configs: ConfigStore, notification: Notification) -> None:
    """Domains onboarded through the API have a configuration whose state the API shows."""
    state = LIFECYCLE.get(notification.kind)
    config = configs.get(notification.domain)
    if state is None or config is None:
        return
    configs.save(config.moved_to(state, notification.summary, notification.at))


def summary(task: NotifyTaskInput) -> str:
    """One paragraph for a person: what happened, why, and what happens next."""
    return _SUMMARIES[task.kind](task)


def _promoted(task: NotifyTaskInput) -> str:
    deployed, why = task.deployed or {}, _reasons(task)
    return (
        f"{task.domain} now publishes MTA-STS mode enforce (policy id "
        f"{deployed.get('policy_id', '?')}, mx {', '.join(deployed.get('mx', [])) or '?'}): "
        f"{why}. Senders that support MTA-STS will refuse to deliver to it over unauthenticated "
        "TLS from now on; the workflow keeps watching TLS-RPT reports and the validator and "
        "returns the domain to testing if failures appear."
    )


def _demoted(task: NotifyTaskInput) -> str:
    deployed = task.deployed or {}
    return (
        f"{task.domain} was returned to MTA-STS mode testing (policy id "
        f"{deployed.get('policy_id', '?')}) because of failures after its promotion: "
        f"{_reasons(task)}. Mail is delivered as before enforce; the workflow observes the "
        "domain again and promotes it once a new window is clean."
    )


def _blocked(task: NotifyTaskInput) -> str:
    if task.rounds is not None:
        return (
            f"{task.domain} stays in MTA-STS mode testing: the workflow stopped observing after "
            f"{task.rounds} round(s) without a clean window ({_reasons(task)}). Nothing was "
            "changed; fix the cause and start the workflow again with a new generation."
        )
    return (
        f"{task.domain} stays in MTA-STS mode testing: {_reasons(task)}. Nothing was changed; "
        "the workflow keeps observing and promotes the domain once the window is clean."
    )


def _drift_healed(task: NotifyTaskInput) -> str:
    drift = task.drift or {}
    changes = [f"added {', '.join(drift['added'])}"] if drift.get("added") else []
    changes += [f"removed {', '.join(drift['removed'])}"] if drift.get("removed") else []
    return (
        f"{task.domain}'s MX hosts changed ({', '.join(drift.get('live_mx', [])) or 'none'}), so "
        f"its MTA-STS policy was updated: {'; '.join(changes) or 'no pattern changed'}. The new "
        f"policy was confirmed served before its new id {drift.get('policy_id', '?')} was "
        "announced, so senders refetch it."
    )


def _failed(task: NotifyTaskInput) -> str:
    error = task.error or {}
    return (
        f"The promotion workflow for {task.domain} stopped on an error "
        f"({error.get('Error', 'unknown')}): {_cause(error.get('Cause'))}. The domain keeps the "
        "last policy that was fully published (an id is only announced for a served policy); "
        "a person should look, then start the workflow again with a new generation."
    )


_SUMMARIES: Mapping[Kind, Callable[[NotifyTaskInput], str]] = {
    Kind.PROMOTED: _promoted,
    Kind.DEMOTED: _demoted,
    Kind.BLOCKED: _blocked,
    Kind.DRIFT_HEALED: _drift_healed,
    Kind.FAILED: _failed,
}


def _reasons(task: NotifyTaskInput) -> str:
    reasons = (task.evaluation or {}).get("reasons") or ["no evaluation was given"]
    return "; ".join(str(r) for r in reasons)


def _cause(cause: object) -> str:
    """A Lambda error's Cause is its JSON error document; a person wants the message."""
    if not isinstance(cause, str):
        return "no cause was given"
    try:
        document = json.loads(cause)
    except ValueError:
        return cause[:500]
    if isinstance(document, dict) and "errorMessage" in document:
        return str(document["errorMessage"])[:500]
    return cause[:500]
