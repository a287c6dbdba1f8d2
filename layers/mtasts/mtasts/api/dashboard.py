"""GET /dashboard: the status page (one self-contained HTML document) for a page of the fleet.

No scripts and no external files, so the page is served with a Content-Security-Policy that
allows neither; it needs the API key like every other route but /health and /reports."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from mtasts.api.context import domain_service
from mtasts.api.openapi_docs import responses
from mtasts.api.service import MAX_DASHBOARD_PAGE
from mtasts.status_page import render_status_page

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools
MEDIA_TYPE = "text/html; charset=utf-8"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


@router.get(
    "/dashboard",
    summary="The status page: mode over time, daily sessions and findings per domain (HTML)",
    responses={
        **responses(200, None, "The status page"),
        200: {"description": "The status page", "content": {"text/html": {}}},
    },
    tags=["dashboard"],
)
def dashboard(
    limit: Annotated[int, Query(ge=1, le=MAX_DASHBOARD_PAGE)] = 20,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> Response[Any]:
    page = domain_service(router).dashboard(limit, cursor)
    next_page = f"?{urlencode({'limit': limit, 'cursor': page.next_cursor})}"
    html = render_status_page(
        page.domains, page.generated_at, next_page if page.next_cursor else None
    )
    return Response(status_code=200, content_type=MEDIA_TYPE, body=html, headers=HEADERS)
