"""Heal MX drift: bring a domain's policy in step with its live MX hosts, in `testing` and in
`enforce` alike (the plan itself is `mx_drift.plan_mx_drift`).

A new MX host is added at once, because a sender holding a cached `enforce` policy bounces
mail to a host it does not cover; the change goes through the Deployer, so the new file is
served before its new id is announced (RFC 8461 §8.1). When each pattern last matched a live
host is remembered, so a pattern is removed only after the longest `max_age` ever published has
passed since its hosts left. Pure orchestration over ports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from mtasts.deploy import DeployOutcome, DeployRequest, NotPublishedError
from mtasts.domain_names import DomainName
from mtasts.mx_drift import plan_mx_drift
from mtasts.policy import Mode
from mtasts.ports import MxResolver
from mtasts.promotion import PolicyReader, parse_task


class HealTaskInput(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    domain: DomainName
    request_id: str = "direct-invoke"


class DriftResult(BaseModel):
    domain: str
    changed: bool  # the policy's mx lines changed, so it was redeployed with a new id
    added: list[str]
    removed: list[str]
    mx: list[str]  # the policy's mx lines now
    live_mx: list[str]
    previous_policy_id: str
    policy_id: str


class MxSeenStore(Protocol):
    def load(self, domain: str) -> dict[str, datetime]: ...

    def save(self, domain: str, seen: Mapping[str, datetime]) -> None: ...


class PolicyDeployer(Protocol):
    def deploy(self, request: DeployRequest) -> DeployOutcome: ...


def heal_drift(
    event: Mapping[str, Any],
    policies: PolicyReader,
    seen: MxSeenStore,
    resolver: MxResolver,
    deployer: PolicyDeployer,
    now: Callable[[], datetime],
) -> DriftResult:
    task = parse_task(HealTaskInput, event)
    state = policies.load(task.domain)
    if state is None:
        raise NotPublishedError(f"{task.domain}: no policy has been published, nothing to heal")
    live = resolver.mx_hosts(task.domain)
    unchanged = DriftResult(
        domain=task.domain,
        changed=False,
        added=[],
        removed=[],
        mx=list(state.mx),
        live_mx=live,
        previous_policy_id=state.policy_id,
        policy_id=state.policy_id,
    )
    if state.mode is Mode.NONE:
        return unchanged  # being removed (§8.3): its mx lines no longer matter
    plan = plan_mx_drift(state.mx, live, seen.load(task.domain), now(), state.longest_max_age)
    policy_id = state.policy_id
    if plan.changed:
        outcome = deployer.deploy(
            DeployRequest(
                domain=task.domain,
                mode=state.mode,
                max_age=state.max_age,
                rua=state.rua,
                mx=plan.patterns,
                request_id=task.request_id,
            )
        )
        policy_id = outcome.policy_id
    # Saved after the deploy: if it failed, the next round plans the same change again.
    seen.save(task.domain, plan.last_seen)
    return unchanged.model_copy(
        update={
            "changed": plan.changed,
            "added": list(plan.added),
            "removed": list(plan.removed),
            "mx": list(plan.patterns),
            "policy_id": policy_id,
        }
    )
