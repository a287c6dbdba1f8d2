"""POST /reports: TLS-RPT over HTTPS (RFC 8460 §5.4). Open (senders have no key), throttled by
the API's method settings and size-capped here: the body is refused before it is parsed."""

from __future__ import annotations

import base64
import binascii
from typing import Final

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from mtasts.api import models
from mtasts.api.context import report_ingester, request_id
from mtasts.api.openapi_docs import responses
from mtasts.errors import (
    ApiInputError,
    PayloadTooLargeError,
    ReportError,
    UnsupportedMediaTypeError,
)

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools
MEDIA_TYPES: Final = ("application/tlsrpt+gzip", "application/tlsrpt+json")
MAX_BODY: Final = 2 * 1024 * 1024  # compressed; a day's report from a big sender is far less


@router.post(
    "/reports",
    summary="Submit a TLS-RPT report (RFC 8460 §5.4)",
    responses=responses(201, models.ReportAccepted, "Counted (or a known duplicate)", 413, 415),
    tags=["reports"],
)
def submit() -> Response[models.ReportAccepted]:
    event = router.current_event
    media = (event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise UnsupportedMediaTypeError(
            f"Content-Type must be one of {', '.join(MEDIA_TYPES)}, not {media or 'missing'}",
            ({"field": "Content-Type", "message": "unsupported media type"},),
        )
    body = _body(event.body, bool(event.is_base64_encoded))
    outcome = report_ingester(router).ingest_body(body, request_id(router))
    if outcome.quarantined is not None:
        raise ReportError(f"the report was refused: {outcome.quarantined}")
    answer = models.ReportAccepted(
        counted=outcome.counted,
        duplicates=outcome.duplicates,
        unmanaged_domains=outcome.unmanaged_domains,
    )
    return Response(status_code=201, content_type="application/json", body=answer)


def _body(raw: str | None, encoded: bool) -> bytes:
    if not raw:
        raise ApiInputError("the body is empty", ({"field": "body", "message": "required"},))
    if len(raw) > MAX_BODY * (4 / 3 if encoded else 1) + 4:
        raise PayloadTooLargeError(f"reports are accepted up to {MAX_BODY} bytes")
    try:
        body = base64.b64decode(raw, validate=True) if encoded else raw.encode("utf-8")
    except (binascii.Error, UnicodeEncodeError) as error:
        raise ApiInputError("the body could not be read", ()) from error
    if len(body) > MAX_BODY:
        raise PayloadTooLargeError(f"reports are accepted up to {MAX_BODY} bytes")
    return body
