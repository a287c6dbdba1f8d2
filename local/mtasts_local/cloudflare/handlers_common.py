"""What every handler of the Cloudflare stand-in shares: the call it is given, the answer it
returns, Cloudflare's response envelope, typed API errors and page-number pagination.

Every answer uses Cloudflare's envelope `{"success", "errors", "messages", "result"}` (plus
`result_info` on lists); errors carry `[{"code", "message"}]` and `"result": null`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from werkzeug.wrappers import Request

type JsonObject = dict[str, Any]

# Cloudflare's generic error codes.
CODE_AUTHENTICATION = 10000  # "Authentication error": a token without access
CODE_UNAUTHENTICATED = 10001  # no usable credentials at all
CODE_UNKNOWN = 10002
CODE_NO_ROUTE = 7000
CODE_METHOD_NOT_ALLOWED = 7001
CODE_BAD_IDENTIFIER = 7003
CODE_MALFORMED_JSON = 6007
CODE_BAD_QUERY = 1001  # a list parameter (page, per_page, order) out of range


class ApiError(Exception):
    """An answer Cloudflare gives when it refuses a request: a status and one error entry."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(f"{status} [{code}] {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers

    def reply(self) -> Reply:
        body: JsonObject = {
            "success": False,
            "errors": [{"code": self.code, "message": self.message}],
            "messages": [],
            "result": None,
        }
        return Reply(self.status, body, self.headers)


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: JsonObject
    headers: tuple[tuple[str, str], ...] = ()


def success(result: object, result_info: JsonObject | None = None) -> Reply:
    body: JsonObject = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return Reply(200, body)


class Auth(StrEnum):
    API_TOKEN = "api-token"  # the account's API token
    UPLOAD_JWT = "upload-jwt"  # a Pages upload token from `.../upload-token`


@dataclass(frozen=True, slots=True)
class Call:
    """One request as a handler sees it: the werkzeug request and the path's variables."""

    request: Request
    path_args: Mapping[str, str]

    def arg(self, name: str) -> str:
        return self.path_args[name]

    def query(self, name: str) -> str | None:
        return self.request.args.get(name)

    def json(self) -> object:
        try:
            return json.loads(self.request.get_data() or b"null")
        except ValueError:
            raise ApiError(400, CODE_MALFORMED_JSON, "Malformed JSON in request body") from None

    def json_object(self) -> JsonObject:
        body = self.json()
        if not isinstance(body, dict):
            raise ApiError(400, CODE_MALFORMED_JSON, "The request body must be a JSON object")
        return body


type Handler = Callable[[Call], Reply]


@dataclass(frozen=True, slots=True)
class Route:
    operation: str  # the name calls are counted and faults are injected under
    method: str
    path: str  # a werkzeug rule, relative to /client/v4
    handler: Handler
    auth: Auth = Auth.API_TOKEN


@dataclass(frozen=True, slots=True)
class PageRequest:
    number: int
    size: int


def page_request(call: Call, default_size: int, max_size: int) -> PageRequest:
    """`page` and `per_page` from the query (the SDK may send them as floats, e.g. `2.0`)."""
    number = _positive_number(call.query("page"), 1, "page")
    size = _positive_number(call.query("per_page"), default_size, "per_page")
    if size > max_size:
        raise ApiError(400, CODE_BAD_QUERY, f"per_page must be at most {max_size}")
    return PageRequest(number, size)


def _positive_number(raw: str | None, default: int, name: str) -> int:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value.is_integer() or value < 1:  # is_integer() is False for NaN and infinities
        raise ApiError(400, CODE_BAD_QUERY, f"{name} must be a whole number of at least 1")
    return int(value)


def paginate[T](items: Sequence[T], page: PageRequest) -> tuple[list[T], JsonObject]:
    """One page of `items` and its `result_info`. A page past the end is empty, never an error:
    the SDK asks for the next page until it gets an empty one."""
    start = (page.number - 1) * page.size
    chunk = list(items[start : start + page.size])
    total = len(items)
    info: JsonObject = {
        "page": page.number,
        "per_page": page.size,
        "count": len(chunk),
        "total_count": total,
        "total_pages": max(1, -(-total // page.size)),
    }
    return chunk, info


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as Cloudflare writes its timestamps."""
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def text_field(body: Mapping[str, object], name: str, code: int) -> str:
    """A required non-empty string field of a JSON body."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, code, f"{name} is required and must be a non-empty string")
    return value
