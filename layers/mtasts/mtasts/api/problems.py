"""RFC 9457 problem documents, and the one mapping from the library's typed errors to HTTP
statuses. Pure: the routers only serialise what is decided here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pydantic import BaseModel, Field

from mtasts.errors import (
    ApiInputError,
    DomainExistsError,
    DomainNotFoundError,
    InvalidTransitionError,
    MtaStsError,
    ParseError,
    PayloadTooLargeError,
    ReportError,
    StoreConflictError,
    UnsafePolicyError,
    UnsupportedMediaTypeError,
)

MEDIA_TYPE: Final = "application/problem+json"
TYPE_BASE: Final = "https://mtasts-autopilot.dev/problems/"


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """`type` names the problem (a stable slug under TYPE_BASE); `errors` are field-level."""

    type: str
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str
    errors: list[FieldError] = Field(default_factory=list)


# Most specific first: the first class the error is an instance of decides.
STATUSES: Final[Sequence[tuple[type[MtaStsError], int, str, str]]] = (
    (UnsupportedMediaTypeError, 415, "unsupported-media-type", "Unsupported media type"),
    (ApiInputError, 400, "bad-request", "The request is invalid"),
    (PayloadTooLargeError, 413, "payload-too-large", "The request body is too large"),
    (ReportError, 400, "invalid-report", "The TLS-RPT report was refused"),
    (ParseError, 400, "invalid-input", "The input does not follow its grammar"),
    (DomainNotFoundError, 404, "domain-not-found", "The domain is not managed"),
    (DomainExistsError, 409, "domain-exists", "The domain is already managed"),
    (StoreConflictError, 409, "conflict", "Another change landed first"),
    (InvalidTransitionError, 409, "invalid-transition", "The change does not fit the state"),
    (UnsafePolicyError, 409, "unsafe-policy", "Publishing this policy could bounce mail"),
)
UNAVAILABLE: Final = (503, "unavailable", "A service the API depends on failed; retry")


def problem_for(error: MtaStsError, instance: str) -> Problem:
    """The problem document for a typed error. Errors not listed are the product's
    dependencies failing (a store, Step Functions, Cloudflare): 503, retryable."""
    status, slug, title = next(
        ((s, slug, t) for cls, s, slug, t in STATUSES if isinstance(error, cls)), UNAVAILABLE
    )
    fields = getattr(error, "errors", ())
    return Problem(
        type=TYPE_BASE + slug,
        title=title,
        status=status,
        detail=str(error) or title,
        instance=instance,
        errors=[FieldError.model_validate(f) for f in fields],
    )


def problem(status: int, slug: str, title: str, detail: str, instance: str) -> Problem:
    return Problem(
        type=TYPE_BASE + slug, title=title, status=status, detail=detail, instance=instance
    )


def validation_problem(errors: Sequence[Mapping[str, Any]], instance: str) -> Problem:
    """422 from pydantic's errors: where (`body.domain`, `query.limit`) and what, never the
    input itself (it may be large or hostile)."""
    fields = [
        FieldError(field=".".join(str(p) for p in e.get("loc", ())), message=str(e.get("msg", "")))
        for e in errors
    ]
    return Problem(
        type=TYPE_BASE + "validation",
        title="The request does not match the API's schema",
        status=422,
        detail="; ".join(f"{f.field}: {f.message}" for f in fields)[:2000] or "invalid request",
        instance=instance,
        errors=fields,
    )
