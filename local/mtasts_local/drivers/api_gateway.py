"""A local API Gateway (REST API, Lambda proxy integration, payload v1): each HTTP request becomes
the proxy event API Gateway sends, the function's answer becomes the HTTP response.

    gateway = LocalApiGateway(api_definition(view), invoke, api_key="...").start()
    httpx.get(f"{gateway.url}/domains/a.example", headers={"x-api-key": gateway.api_key})

Served without the stage in the path (as `sam local start-api` does); the event's
`requestContext.stage` and `requestContext.path` carry it. What API Gateway answers itself is
answered here too: 403 `{"message": "Missing Authentication Token"}` for a path or method the API
does not have, 403 `{"message": "Forbidden"}` for a key-required method without the right
`x-api-key`, 502 `{"message": "Internal server error"}` when the function fails or answers
something that is not a proxy response. A body is base64-encoded when its media type is one of
the API's binary media types, or when it is not UTF-8 text (which API Gateway would mangle).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from mtasts_local.drivers.api_routes import ApiDefinition, ApiRoute
from mtasts_local.drivers.errors import DriverError
from mtasts_local.service import Service

# (function ARN, event) -> (X-Amz-Function-Error or None, the payload bytes)
Invoker = Callable[[str, dict[str, Any]], tuple[str | None, bytes]]
_log = logging.getLogger(__name__)
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


@dataclass(frozen=True, slots=True)
class GatewayResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def gateway_error(status: int, message: str, error_type: str) -> GatewayResponse:
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)]
    return GatewayResponse(status, headers, json.dumps({"message": message}).encode())


MISSING_TOKEN = gateway_error(
    403, "Missing Authentication Token", "MissingAuthenticationTokenException"
)
FORBIDDEN = gateway_error(403, "Forbidden", "ForbiddenException")
BAD_GATEWAY = gateway_error(502, "Internal server error", "InternalServerErrorException")


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    target: str  # path and query, as on the request line
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"
    host: str = "localhost"
    received: datetime = field(default_factory=lambda: datetime.now(UTC))

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[-1] if values else None


def proxy_event(
    request: HttpRequest,
    route: ApiRoute,
    path_parameters: dict[str, str],
    *,
    binary: bool,
    account_id: str,
) -> dict[str, Any]:
    """The REST API (v1) proxy event for `request`, routed to `route`."""
    url = urlsplit(request.target)
    path = unquote(url.path) or "/"
    query = parse_qsl(url.query, keep_blank_values=True)
    encoded = bool(request.body) and (binary or not _is_utf8(request.body))
    body = None
    if request.body:
        body = base64.b64encode(request.body).decode() if encoded else request.body.decode()
    return {
        "resource": route.resource,
        "path": path,
        "httpMethod": request.method,
        "headers": _single(request.headers),
        "multiValueHeaders": _multiple(request.headers),
        "queryStringParameters": _single(query),
        "multiValueQueryStringParameters": _multiple(query),
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": _request_context(request, route, path, account_id),
        "body": body,
        "isBase64Encoded": encoded,
    }


def _request_context(
    request: HttpRequest, route: ApiRoute, path: str, account_id: str
) -> dict[str, Any]:
    api_key = request.header("x-api-key") if route.api_key_required else None
    return {
        "accountId": account_id,
        "apiId": route.api_id,
        "resourceId": uuid.uuid5(uuid.NAMESPACE_URL, route.resource).hex[:6],
        "resourcePath": route.resource,
        "httpMethod": request.method,
        "path": f"/{route.stage}{path}",
        "stage": route.stage,
        "protocol": "HTTP/1.1",
        "requestId": str(uuid.uuid4()),
        "extendedRequestId": uuid.uuid4().hex[:16],
        "requestTime": request.received.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(request.received.timestamp() * 1000),
        "domainName": request.host,
        "domainPrefix": request.host.split(".")[0],
        "identity": {
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent"),
            "apiKey": api_key,
            "apiKeyId": "local-world-key" if api_key else None,
            "accountId": None,
            "caller": None,
            "user": None,
            "userArn": None,
            "accessKey": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
        },
    }


def _single(pairs: list[tuple[str, str]]) -> dict[str, str] | None:
    return {name: value for name, value in pairs} or None  # the last value wins


def _multiple(pairs: list[tuple[str, str]]) -> dict[str, list[str]] | None:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped or None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def proxy_response(function_error: str | None, payload: bytes) -> GatewayResponse:
    """The HTTP response for what the function returned (502 for anything but a proxy reply)."""
    if function_error:
        return BAD_GATEWAY
    try:
        answer = json.loads(payload)
        status = answer["statusCode"]
        body = answer.get("body") or ""
        raw = base64.b64decode(body, validate=True) if answer.get("isBase64Encoded") else None
    except (ValueError, KeyError, TypeError, binascii.Error):
        return BAD_GATEWAY
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return BAD_GATEWAY
    headers = [(str(k), str(v)) for k, v in (answer.get("headers") or {}).items()]
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        headers += [(str(name), str(v)) for v in values]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return GatewayResponse(status, headers, raw if raw is not None else str(body).encode())


class LocalApiGateway(Service):
    """The gateway's HTTP server on a background thread (one more per request)."""

    def __init__(
        self,
        definition: ApiDefinition,
        invoke: Invoker,
        *,
        api_key: str,
        account_id: str,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.definition = definition
        self.api_key = api_key
        self.account_id = account_id
        self.host = host
        self._invoke = invoke
        self._requested_port = port
        self._server: _GatewayServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            raise DriverError("the API gateway is already running")
        try:
            server = _GatewayServer((self.host, self._requested_port), self)
        except OSError as error:
            where = f"{self.host}:{self._requested_port}"
            raise DriverError(f"the API gateway cannot listen on {where}: {error}") from error
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="api-gateway"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is None or thread is None:
            return
        server.shutdown()
        thread.join()
        server.server_close()  # joins the request threads (block_on_close)

    @property
    def port(self) -> int:
        if self._server is None:
            raise DriverError("the API gateway is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def respond(self, request: HttpRequest) -> GatewayResponse:
        found = self.definition.find(request.method, urlsplit(request.target).path or "/")
        if found is None:
            return MISSING_TOKEN
        route, parameters = found
        if route.api_key_required and request.header("x-api-key") != self.api_key:
            return FORBIDDEN
        binary = self.definition.is_binary(request.header("content-type"))
        event = proxy_event(request, route, parameters, binary=binary, account_id=self.account_id)
        try:
            function_error, payload = self._invoke(route.function_arn, event)
        except Exception:  # the invoke API failing is the gateway's 502, as in AWS
            _log.exception("invoking %s failed", route.function_arn)
            return BAD_GATEWAY
        return proxy_response(function_error, payload)


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every request thread
    block_on_close = True

    def __init__(self, address: tuple[str, int], gateway: LocalApiGateway) -> None:
        self.gateway = gateway
        super().__init__(address, _GatewayHandler)


class _GatewayHandler(BaseHTTPRequestHandler):
    server: _GatewayServer
    timeout = 30  # a client that stalls mid-request does not hold a thread forever

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s - %s", self.address_string(), format % args)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(gateway_error(413, "Request Too Long", "RequestTooLongException"))
            return
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=self.rfile.read(length) if length else b"",
            source_ip=self.client_address[0],
            host=(self.headers.get("Host") or "localhost").rsplit(":", 1)[0],
        )
        started = time.monotonic()
        response = self.server.gateway.respond(request)
        _log.info(
            "%s %s -> %s in %.0f ms",
            self.command,
            self.path,
            response.status,
            (time.monotonic() - started) * 1000,
        )
        self._send(response, with_body=self.command != "HEAD")

    def _send(self, response: GatewayResponse, with_body: bool = True) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if with_body:
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle
