"""Lambda: record and publish what the promotion workflow did (SNS topic and EventBridge), then
POST it, signed, to the domain's callback_url if it has one.

Event: `{"kind": "promoted"|"demoted"|"blocked"|"drift-healed"|"failed", "domain", "evaluation"?,
"deployed"?, "drift"?, "error"?, "rounds"?, "request_id"?}`. Returns the notification, with
`callback` saying how the callback went (null when the domain has no callback_url).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mtasts.observability import logger, metrics, tracer
from mtasts.promotion_wiring import run_notify_task
from mtasts.settings import load_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    result = run_notify_task(event, load_settings(os.environ))
    logger.info("workflow notification", extra={"kind": result["kind"], "domain": result["domain"]})
    metrics.add_metric(name=f"Workflow_{result['kind']}", unit=MetricUnit.Count, value=1)
    if callback := result["callback"]:
        # A failed callback does not fail the task: the metric (and an alarm on it) is the signal.
        if callback["delivered"]:
            logger.info("status callback delivered", extra=callback)
        else:
            logger.warning("status callback failed", extra=callback)
        name = "CallbackDelivered" if callback["delivered"] else "CallbackFailed"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        metrics.add_metric(
            name="CallbackAttempts", unit=MetricUnit.Count, value=callback["attempts"]
        )
    return result
