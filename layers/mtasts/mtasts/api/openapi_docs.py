"""What the routes declare about their responses, so the OpenAPI document says what the API
really answers: the success body, and problem+json for every failure it can give."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from mtasts.api.problems import MEDIA_TYPE, Problem

_DESCRIPTIONS = {
    400: "Invalid request (problem+json)",
    404: "Not managed, or no such route (problem+json)",
    409: "Conflicts with the domain's state (problem+json)",
    413: "Body too large (problem+json)",
    415: "Unsupported media type (problem+json)",
    422: "Does not match the schema (problem+json)",
    503: "A dependency failed; retry (problem+json)",
}
COMMON = (400, 404, 422, 503)


def responses(
    status: int, model: type[BaseModel] | None, description: str, *problems: int
) -> dict[int, Any]:
    """The route's `responses`: `status` with `model`, plus the problem statuses."""
    success: dict[str, Any] = {"description": description}
    if model is not None:
        success["content"] = {"application/json": {"model": model}}
    documented: dict[int, Any] = {status: success}
    for code in sorted({*COMMON, *problems}):
        documented[code] = {
            "description": _DESCRIPTIONS[code],
            "content": {MEDIA_TYPE: {"model": Problem}},
        }
    return documented


def patch_document(document: dict[str, Any]) -> dict[str, Any]:
    """Powertools always documents 422 as its own `HTTPValidationError` JSON; this API answers
    every 422 with problem+json (one shape for every failure), so the document says so."""
    ref = {"$ref": "#/components/schemas/Problem"}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answers = operation.get("responses", {})
            if "422" in answers:
                answers["422"] = {
                    "description": _DESCRIPTIONS[422],
                    "content": {MEDIA_TYPE: {"schema": ref}},
                }
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document
