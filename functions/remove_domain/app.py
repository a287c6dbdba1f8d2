"""Lambda: the removal workflow's two steps (RFC 8461 §8.3).

Event: `{"action": "begin"|"finish", "domain", "request_id"?}`. `begin` publishes `mode: none`
with a new id and returns `wait_seconds` (the longest `max_age` ever published); `finish` deletes
the records, the custom domain and the project.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mtasts.observability import logger, tracer
from mtasts.removal import Remover
from mtasts.removal_tasks import run_removal_task
from mtasts.settings import load_settings
from mtasts.wiring import deployer_for


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    settings = load_settings(os.environ)
    return run_removal_task(event, Remover(deployer_for(settings)), settings.clock().now)
