"""Lambda: deploy a domain's policy and announce its id (direct invoke or a Step Functions task).

Event: `{"domain", "mode", "mx"?, "max_age"?, "rua"?, "request_id"?}`. Errors are typed; their
class names are what the workflow's Retry and Catch match.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mtasts.deploy_tasks import run_deploy_task
from mtasts.observability import logger, metrics, tracer
from mtasts.settings import load_settings
from mtasts.wiring import config_store_for, deployer_for


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    settings = load_settings(os.environ)
    result = run_deploy_task(event, deployer_for(settings), settings, config_store_for(settings))
    metrics.add_metric(name="PolicyChanged", unit=MetricUnit.Count, value=int(result["changed"]))
    return result
