"""The API's resolver: the routers, the OpenAPI document at /openapi.json, Swagger UI at /docs,
and every failure answered as RFC 9457 problem+json from one place."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import APIKey

from mtasts.api import dashboard, domains, health, reports
from mtasts.api.context import AUTH
from mtasts.api.openapi_docs import patch_document
from mtasts.api.problems import MEDIA_TYPE, Problem, problem, problem_for, validation_problem
from mtasts.errors import MtaStsError
from mtasts.observability import logger
from mtasts.settings import ApiAuth

TITLE = "MTA-STS autopilot API"
VERSION = "1.0.0"
# How callers authenticate, as the template's `ApiAuth` parameter chose: the document says the
# same as API Gateway enforces (AWS's own OpenAPI extension names the SigV4 scheme).
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "API_KEY": {
        "apiKey": APIKey.model_validate({"type": "apiKey", "in": "header", "name": "x-api-key"})
    },
    "AWS_IAM": {
        "sigv4": APIKey.model_validate(
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "AWS Signature Version 4 for service execute-api",
                "x-amazon-apigateway-authtype": "awsSigv4",
            }
        )
    },
}


# Open as RFC 8460 §5.4 expects of /reports; every other route needs credentials.
OPEN = frozenset({"/health", "/reports"})
# API Gateway itself answers missing or wrong credentials, before the function runs.
GATEWAY_403 = {
    "description": "Missing or wrong credentials (answered by API Gateway)",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"message": {"type": "string"}},
                "required": ["message"],
            }
        }
    },
}


def problem_response(document: Problem) -> Response[Any]:
    return Response(
        status_code=document.status,
        content_type=MEDIA_TYPE,
        body=document.model_dump_json(),
    )


def build_app() -> APIGatewayRestResolver:
    """The resolver. Build it once per process: the routers are module singletons, and
    including them into a second resolver takes them (and their context) away from the first."""
    app = APIGatewayRestResolver(enable_validation=True)
    for module in (domains, reports, health, dashboard):
        app.include_router(module.router)
    # Swagger UI offers both ways in; /openapi.json names the one this stack enforces.
    both = {
        name: scheme for schemes in SECURITY_SCHEMES.values() for name, scheme in schemes.items()
    }
    app.enable_swagger(path="/docs", title=TITLE, version=VERSION, security_schemes=both)
    _problem_handlers(app)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> Response[Any]:
        body = openapi_json(app, app.context.get(AUTH, "API_KEY"))
        return Response(status_code=200, content_type="application/json", body=body)

    return app


def openapi_json(app: APIGatewayRestResolver, auth: ApiAuth = "API_KEY") -> str:
    schemes = SECURITY_SCHEMES[auth]
    text = app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        security_schemes=schemes,
        security=[{name: []} for name in schemes],
    )
    document = patch_document(json.loads(text))
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if path in OPEN:
                operation["security"] = []
            else:
                operation.setdefault("responses", {})["403"] = GATEWAY_403
    return json.dumps(document)


def _problem_handlers(app: APIGatewayRestResolver) -> None:
    def instance() -> str:
        return str(app.current_event.path)

    @app.exception_handler(MtaStsError)  # type: ignore[untyped-decorator]
    def typed(error: MtaStsError) -> Response[Any]:
        document = problem_for(error, instance())
        if document.status >= 500:
            logger.exception("a dependency failed", extra={"path": instance()})
        return problem_response(document)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def invalid(error: RequestValidationError) -> Response[Any]:
        return problem_response(validation_problem(error.errors(), instance()))

    @app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
    def media(error: RequestUnsupportedContentType) -> Response[Any]:
        detail = "send application/json"
        return problem_response(
            problem(415, "unsupported-media-type", "Unsupported media type", detail, instance())
        )

    @app.exception_handler(UnicodeDecodeError)  # type: ignore[untyped-decorator]
    def undecodable(error: UnicodeDecodeError) -> Response[Any]:
        # Powertools decodes a JSON body as UTF-8 before validating it; bytes that are not
        # UTF-8 are the client's mistake, not the API's.
        detail = "the body is not UTF-8 JSON"
        return problem_response(problem(400, "bad-request", "Unreadable body", detail, instance()))

    @app.not_found
    def missing(error: NotFoundError) -> Response[Any]:
        detail = f"no route {app.current_event.http_method} {instance()}"
        return problem_response(problem(404, "not-found", "Not found", detail, instance()))
