"""Lambda: weigh a domain's observation window (a Step Functions task of the promotion workflow).

Event: `{"domain", "phase"?: "observe"|"watch", "rules"?: {...overrides}, "approval"?}`. Returns
the verdict (`clean`, `dirty`, `insufficient`), the reasons and the evidence behind them.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mtasts.observability import logger, metrics, tracer
from mtasts.promotion_wiring import run_evaluate_task
from mtasts.settings import load_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    result = run_evaluate_task(event, load_settings(os.environ))
    logger.info(
        "window evaluated", extra={"verdict": result["verdict"], "domain": result["domain"]}
    )
    metrics.add_metric(name=f"Window_{result['verdict']}", unit=MetricUnit.Count, value=1)
    return result
