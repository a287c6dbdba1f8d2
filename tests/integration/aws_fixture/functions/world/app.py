"""The world fixture's functions: an ingest-like handler fed by SES, a scheduled one, and an API
handler that echoes the proxy event it got. Real handler code, reaching moto through
AWS_ENDPOINT_URL as a function in `functions/` would.
"""

from __future__ import annotations

import base64
import json
import os
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def _table() -> Any:
    return boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def ingest_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Read each mail SES stored (the event carries no body) and note what it saw."""
    s3 = boto3.client("s3")
    seen = []
    for record in event["Records"]:
        message_id = record["ses"]["mail"]["messageId"]
        key = os.environ["REPORT_PREFIX"] + message_id
        raw = s3.get_object(Bucket=os.environ["REPORT_BUCKET"], Key=key)["Body"].read()
        subject = record["ses"]["mail"]["commonHeaders"]["subject"]
        _table().put_item(Item={"pk": f"mail#{message_id}", "size": len(raw), "subject": subject})
        seen.append({"key": key, "size": len(raw), "subject": subject})
    return {"seen": seen}


def tick_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _table().put_item(Item={"pk": f"tick#{event['id']}", "rule": event["resources"][0]})
    return {"detail-type": event["detail-type"], "rule": event["resources"][0]}


def echo_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The event back as JSON; `?echo=raw` sends the request body back as binary instead."""
    query = event.get("queryStringParameters") or {}
    if query.get("echo") == "raw":
        body = event["body"] or ""
        raw = base64.b64decode(body) if event["isBase64Encoded"] else body.encode()
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "application/octet-stream"},
            "body": base64.b64encode(raw).decode(),
            "isBase64Encoded": True,
        }
    if query.get("echo") == "broken":
        return {"body": "no status code"}
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"X-Echo": ["one", "two"]},
        "body": json.dumps(event),
        "isBase64Encoded": False,
    }
