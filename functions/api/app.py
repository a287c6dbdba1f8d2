"""Lambda: the API for ticketing systems (API Gateway REST proxy). Routes, validation, problem
documents and idempotency live in `mtasts.api`; this only wires the event to it."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from mtasts.api.handler import handle_request
from mtasts.observability import logger, tracer
from mtasts.settings import load_settings


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return handle_request(event, context, load_settings(os.environ))
