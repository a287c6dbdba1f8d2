"""GET /health: the function answers (no dependency is called; API Gateway and Lambda are
what a health check of this API can see)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from mtasts.api import models
from mtasts.api.openapi_docs import responses

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools


@router.get(
    "/health",
    summary="Liveness",
    responses=responses(200, models.Health, "Alive"),
    tags=["health"],
)
def health() -> models.Health:
    return models.Health(status="ok")
