"""Lambda: keep a domain's policy `mx` lines in step with its live MX hosts (a Step Functions task
of the promotion workflow); redeploys, verifies and rotates the id when they changed.

Event: `{"domain", "request_id"?}`. Returns what was added and removed and the id now published.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mtasts.observability import logger, metrics, tracer
from mtasts.promotion_wiring import run_heal_task
from mtasts.settings import load_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    result = run_heal_task(event, load_settings(os.environ))
    metrics.add_metric(name="MxDriftHealed", unit=MetricUnit.Count, value=int(result["changed"]))
    return result
