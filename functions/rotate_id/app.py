"""Lambda: announce a domain's stored policy id in DNS, after confirming its bytes are served.

Event: `{"domain", "request_id"?}`.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mtasts.deploy_tasks import run_rotate_task
from mtasts.observability import logger, metrics, tracer
from mtasts.settings import load_settings
from mtasts.wiring import deployer_for


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    result = run_rotate_task(event, deployer_for(load_settings(os.environ)))
    metrics.add_metric(name="RecordsChanged", unit=MetricUnit.Count, value=int(result["changed"]))
    return result
