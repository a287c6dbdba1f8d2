"""One API request, end to end: the resolver answers it; a POST, PATCH or DELETE carrying an
`Idempotency-Key` is answered at most once (Powertools idempotency on DynamoDB), so a ticketing
system that retries after a timeout gets the first answer again and changes nothing.

The key is the header with the method, the path and the caller (API key id or IAM user), so two
callers or two resources never share one; the body's hash is checked, so reusing a key for a
different request is a 422, not a silent replay. Answers of 5xx are not kept: a retry after a
failure should run again.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from typing import Any, Final

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from mtasts.api.app import build_app
from mtasts.api.context import AUTH, INGESTER, SERVICE
from mtasts.api.problems import MEDIA_TYPE, Problem, problem
from mtasts.api.wiring import build_report_ingester, build_service
from mtasts.aws_clients import aws_client
from mtasts.settings import Settings

HEADER: Final = "idempotency-key"
CHANGING: Final = frozenset({"POST", "PATCH", "DELETE"})
MAX_KEY: Final = 255


@functools.cache
def app() -> APIGatewayRestResolver:
    return build_app()


class _NotKept(Exception):
    """Carries a 5xx answer out of the idempotent call so that it is not stored."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__("server error")
        self.response = response


def handle_request(
    event: dict[str, Any], context: LambdaContext, settings: Settings
) -> dict[str, Any]:
    resolver = app()
    resolver.append_context(  # type: ignore[no-untyped-call]
        **{
            SERVICE: functools.cache(lambda: build_service(settings)),
            INGESTER: functools.cache(lambda: build_report_ingester(settings)),
            AUTH: settings.api_auth,
        }
    )
    key = idempotency_key(event)
    if key is None or str(event.get("httpMethod")) not in CHANGING:
        return resolver.resolve(event, context)
    if not 1 <= len(key) <= MAX_KEY:
        detail = f"Idempotency-Key must be 1 to {MAX_KEY} characters"
        return proxy_problem(problem(400, "bad-request", "Invalid header", detail, _path(event)))
    return _once(event, context, settings, key, lambda: resolver.resolve(event, context))


def _once(
    event: dict[str, Any],
    context: LambdaContext,
    settings: Settings,
    key: str,
    resolve: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    settings.require("idempotency_table")
    persistence = DynamoDBPersistenceLayer(
        table_name=str(settings.idempotency_table),
        boto3_client=aws_client("dynamodb", settings.aws_endpoint_url),
    )
    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="body",
        expires_after_seconds=settings.idempotency_ttl_seconds,
    )
    config.register_lambda_context(context)

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="request", persistence_store=persistence, config=config
    )
    def answer(request: dict[str, str]) -> dict[str, Any]:
        response = resolve()
        if int(response.get("statusCode", 500)) >= 500:
            raise _NotKept(response)
        return response

    request = {"key": _scoped(event, key), "body": _body_hash(event)}
    try:
        kept: dict[str, Any] = answer(request=request)
    except _NotKept as failure:
        return failure.response
    except IdempotencyValidationError:
        detail = "this Idempotency-Key was used for a different request body"
        return proxy_problem(
            problem(422, "idempotency-key-reused", "Key reused", detail, _path(event))
        )
    except IdempotencyAlreadyInProgressError:
        detail = "a request with this Idempotency-Key is still running; retry shortly"
        return proxy_problem(problem(409, "in-progress", "In progress", detail, _path(event)))
    return kept


def idempotency_key(event: Mapping[str, Any]) -> str | None:
    headers = event.get("headers") or {}
    return next((str(v) for k, v in headers.items() if str(k).lower() == HEADER), None)


def _scoped(event: Mapping[str, Any], key: str) -> str:
    identity = (event.get("requestContext") or {}).get("identity") or {}
    caller = identity.get("apiKeyId") or identity.get("userArn") or "anonymous"
    return f"{caller} {event.get('httpMethod')} {event.get('path')} {key}"


def _body_hash(event: Mapping[str, Any]) -> str:
    return hashlib.sha256(str(event.get("body") or "").encode()).hexdigest()


def _path(event: Mapping[str, Any]) -> str:
    return str(event.get("path") or "/")


def proxy_problem(document: Problem) -> dict[str, Any]:
    return {
        "statusCode": document.status,
        "headers": {"Content-Type": MEDIA_TYPE},
        "body": document.model_dump_json(),
        "isBase64Encoded": False,
    }
