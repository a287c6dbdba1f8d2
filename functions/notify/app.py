"""Lambda: record and publish what the promotion workflow did (SNS topic and EventBridge).

Event: `{"kind": "promoted"|"demoted"|"blocked"|"drift-healed"|"failed", "domain", "evaluation"?,
"deployed"?, "drift"?, "error"?, "rounds"?, "request_id"?}`. Returns the notification.
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
    return result
