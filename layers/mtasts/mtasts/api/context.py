"""How a router reaches the use cases: the handler puts a factory into the resolver's context
for each invocation, so building clients (and reading settings) happens only for routes that
need them, never at import time."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

if TYPE_CHECKING:
    from mtasts.api.service import DomainService
    from mtasts.report_ingest import ReportIngester

SERVICE = "domain_service"
INGESTER = "report_ingester"
AUTH = "api_auth"  # the template's ApiAuth: which scheme the OpenAPI document names


def domain_service(router: APIGatewayRouter) -> DomainService:
    factory: Callable[[], DomainService] = router.context[SERVICE]
    return factory()


def report_ingester(router: APIGatewayRouter) -> ReportIngester:
    factory: Callable[[], ReportIngester] = router.context[INGESTER]
    return factory()


def request_id(router: APIGatewayRouter) -> str:
    event: Any = router.current_event
    return str(event.request_context.request_id)
