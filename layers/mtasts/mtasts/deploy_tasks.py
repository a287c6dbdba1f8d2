"""The deploy and rotate-id tasks as Lambda and Step Functions see them: a JSON event in, a JSON
result out, typed errors whose class names Step Functions `Retry`/`Catch` match on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mtasts.deploy import Deployer, DeployOutcome, DeployRequest
from mtasts.domain_config import DomainConfigStore
from mtasts.domain_names import DomainName

# Defined in `errors` (the validate Lambda raises it without importing the deploy tasks); the
# task modules and their tests import it from here.
from mtasts.errors import InvalidTaskInputError as InvalidTaskInputError
from mtasts.policy import MAX_AGE_LIMIT, Mode
from mtasts.settings import Settings


class DeployTaskInput(BaseModel):
    # Step Functions passes whatever else the execution carries: ignore it.
    model_config = ConfigDict(extra="ignore", frozen=True)

    domain: DomainName
    mode: Mode
    mx: tuple[str, ...] | None = None
    max_age: int | None = Field(None, ge=0, le=MAX_AGE_LIMIT)
    rua: tuple[str, ...] | None = None
    request_id: str = "direct-invoke"


class RotateTaskInput(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    domain: DomainName
    request_id: str = "direct-invoke"


class RecordChangeResult(BaseModel):
    name: str
    before: str | None
    after: str | None
    removed_duplicates: list[str]
    changed: bool


class DeployTaskResult(BaseModel):
    domain: str
    policy_id: str
    policy_hash: str
    mode: Mode
    mx: list[str]
    policy_changed: bool
    changed: bool
    records: list[RecordChangeResult]


def run_deploy_task(
    event: Mapping[str, Any],
    deployer: Deployer,
    settings: Settings,
    configs: DomainConfigStore | None = None,
) -> Any:
    """Deploy (publish, verify, announce) the policy the event asks for. What the event leaves
    out comes from the domain's configuration (what the API stored), then the fleet defaults:
    the workflow passes only the domain and the mode, so the configuration stays the one place
    that says which mx patterns, rua and enforce max_age a domain has."""
    task = _parse(DeployTaskInput, event)
    config = configs.get(task.domain) if configs is not None else None
    max_age = task.max_age
    if max_age is None and task.mode is Mode.ENFORCE and config is not None:
        max_age = config.enforce_max_age
    if max_age is None:
        enforce = task.mode is Mode.ENFORCE
        max_age = settings.enforce_max_age if enforce else settings.testing_max_age
    rua = task.rua if task.rua is not None else (config.rua if config else None)
    request = DeployRequest(
        domain=task.domain,
        mode=task.mode,
        max_age=max_age,
        rua=rua if rua is not None else settings.report_rua,
        mx=task.mx if task.mx is not None else (config.mx if config else None),
        request_id=task.request_id,
    )
    return _result(deployer.deploy(request))


def run_rotate_task(event: Mapping[str, Any], deployer: Deployer) -> Any:
    """Announce the stored id, after checking its policy is what is served."""
    task = _parse(RotateTaskInput, event)
    return _result(deployer.announce(task.domain, task.request_id))


def _parse[M: BaseModel](model: type[M], event: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(event)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in error.errors()
        )
        raise InvalidTaskInputError(f"invalid task input: {problems}") from error


def _result(outcome: DeployOutcome) -> Any:
    return DeployTaskResult(
        domain=outcome.domain,
        policy_id=outcome.policy_id,
        policy_hash=outcome.policy_hash,
        mode=outcome.mode,
        mx=list(outcome.mx),
        policy_changed=outcome.policy_changed,
        changed=outcome.changed,
        records=[
            RecordChangeResult(
                name=r.name,
                before=r.before,
                after=r.after,
                removed_duplicates=list(r.removed_duplicates),
                changed=r.changed,
            )
            for r in outcome.records
        ],
    ).model_dump(mode="json")
