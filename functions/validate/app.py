"""Lambda: validate every managed domain (EventBridge schedule), or only the domains an event
names (`{"domains": [...]}`: the promotion workflow, right after a promotion).

Stores each verdict and its history, publishes green/red changes to EventBridge and emits EMF
metrics per domain; returns the run's summary.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mtasts.observability import logger, tracer
from mtasts.targeted_validation import run_validation
from mtasts.validator_settings import load_validator_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    summary = run_validation(event, load_validator_settings(os.environ))
    logger.info("fleet validated", extra={"checked": summary.checked, "failing": summary.failing})
    return {
        "checked": summary.checked,
        "failing": list(summary.failing),
        "changed": list(summary.changed),
    }
