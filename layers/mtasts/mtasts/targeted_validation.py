"""The validate Lambda's use case: the whole fleet on the schedule, or only the domains an event
names (`{"domains": [...]}`), which is how the promotion workflow validates a domain right
after switching it to `enforce` instead of waiting for the next scheduled run.

A targeted run stores its verdicts, publishes changes and emits per-domain metrics exactly like
a scheduled one, but not the fleet totals: a run over one domain would read on a dashboard as
the fleet shrinking to one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from mtasts.domain_names import DomainName
from mtasts.errors import InvalidTaskInputError
from mtasts.fleet_validation import FleetSummary
from mtasts.fleet_wiring import run_fleet_validation
from mtasts.validator_settings import ValidatorSettings


class ValidateEvent(BaseModel):
    # The schedule's event carries EventBridge's fields and no `domains`: the whole fleet.
    model_config = ConfigDict(extra="ignore", frozen=True)

    domains: tuple[DomainName, ...] | None = None


def run_validation(event: Mapping[str, Any], settings: ValidatorSettings) -> FleetSummary:
    try:
        task = ValidateEvent.model_validate(event)
    except ValidationError as error:
        raise InvalidTaskInputError(f"invalid validate event: {error}") from error
    only = None if task.domains is None else frozenset(task.domains)
    return run_fleet_validation(settings, only)
