"""The fixture's functions: record the event in DynamoDB, and count what was recorded.

Real handler code, as a function in `functions/` would be: the table comes from the
environment the function is given, boto3 finds moto through AWS_ENDPOINT_URL, and the shared
logic comes from the layer.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from record_keeping import record_item  # type: ignore[import-not-found]  # from the layer

logger = Logger()


@cache
def _table() -> Any:
    # Made on first use, not at import: the environment belongs to the invocation.
    return boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


@logger.inject_lambda_context
def record_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    item = record_item(event)
    _table().put_item(
        Item={
            **item,
            "recorded_by": context.function_name,
            "environment": os.environ["ENVIRONMENT"],
        }
    )
    logger.info("recorded", extra={"pk": item["pk"]})
    return {"pk": item["pk"], "recorded_by": context.function_name}


def count_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {**event, "count": _table().scan(Select="COUNT")["Count"]}
