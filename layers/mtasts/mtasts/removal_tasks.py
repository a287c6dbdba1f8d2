"""The removal workflow's tasks (RFC 8461 §8.3) as Lambda and Step Functions see them.

`begin` publishes `mode: none` with a new id and says how long to wait; `finish` deletes the
records, the custom domain and the project once that wait is over (a `RemovalNotDueError` if it
is early, which the workflow retries after the time it names).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from mtasts.deploy_tasks import InvalidTaskInputError
from mtasts.domain_names import DomainName
from mtasts.removal import Remover


class RemovalTaskInput(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    action: Literal["begin", "finish"]
    domain: DomainName
    request_id: str = "direct-invoke"


def run_removal_task(
    event: Mapping[str, Any], remover: Remover, now: Callable[[], datetime]
) -> dict[str, Any]:
    try:
        task = RemovalTaskInput.model_validate(event)
    except ValidationError as error:
        raise InvalidTaskInputError(f"invalid removal task: {error}") from error
    if task.action == "begin":
        started = remover.begin(task.domain, task.request_id)
        wait = max(0, int((started.records_deletable_at - now()).total_seconds()) + 1)
        return {
            "domain": task.domain,
            "policy_id": started.outcome.policy_id,
            "records_deletable_at": started.records_deletable_at.isoformat(),
            "wait_seconds": wait,
        }
    remover.finish(task.domain, task.request_id)
    return {"domain": task.domain, "removed": True}
