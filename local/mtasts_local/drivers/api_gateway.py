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

An IAM-auth method (`AWS_IAM`) needs a SigV4 signature for `execute-api` in the API's region by
one of the gateway's callers (by default the world's own credentials, which every local client
uses): the signature is computed again with botocore's `SigV4Auth` and compared, and a request
that fails gets API Gateway's 403 and message (unsigned: Missing Authentication Token; unknown
key: the security token is invalid; wrong secret, scope or clock: the signature does not
match or expired). The caller's identity goes into `requestContext.identity`. Whether the
caller may `execute-api:Invoke` is not checked: moto enforces no IAM policies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from mtasts_local.aws import FAKE_CREDENTIALS
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


# --- IAM auth (SigV4) ----------------------------------------------------------------------------

SERVICE: Final = "execute-api"
ALGORITHM: Final = "AWS4-HMAC-SHA256"
CLOCK_SKEW: Final = timedelta(minutes=5)  # API Gateway's tolerance either way
# What moto's STS says for credentials it did not issue (the world's own are such).
MOTO_USER_ID: Final = "AKIAIOSFODNN7EXAMPLE"
_SIGNATURE_MISMATCH: Final = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True, slots=True)
class Caller:
    """A principal the gateway knows: its credentials, and who IAM says it is."""

    access_key: str
    secret_key: str
    session_token: str | None
    account_id: str
    user_id: str  # `caller` and `user` in the request context
    arn: str


def world_callers(account_id: str) -> dict[str, Caller]:
    """The world's own credentials, as moto's STS names them (`user/moto`)."""
    key = FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]
    caller = Caller(
        access_key=key,
        secret_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        account_id=account_id,
        user_id=MOTO_USER_ID,
        arn=f"arn:aws:sts::{account_id}:user/moto",
    )
    return {key: caller}


class SignatureRejected(Exception):
    """The request is not signed as an IAM-auth method needs; `response` is API Gateway's."""

    def __init__(self, response: GatewayResponse) -> None:
        super().__init__(response.body.decode())
        self.response = response


def _rejected(message: str, error_type: str) -> SignatureRejected:
    return SignatureRejected(gateway_error(403, message, error_type))


@dataclass(frozen=True, slots=True)
class _Authorization:
    access_key: str
    scope: tuple[str, ...]  # date, region, service, terminator
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str


def authenticate(request: HttpRequest, callers: Mapping[str, Caller], region: str) -> Caller:
    """The caller who signed `request` for `execute-api` in `region`; `SignatureRejected` with
    API Gateway's answer otherwise."""
    header = request.header("authorization")
    if not header:
        raise SignatureRejected(MISSING_TOKEN)
    authorization = _parse_authorization(header, request.header("x-amz-date"))
    caller = callers.get(authorization.access_key)
    token = request.header("x-amz-security-token")
    if caller is None or (caller.session_token is not None and token != caller.session_token):
        invalid = "The security token included in the request is invalid."
        raise _rejected(invalid, "UnrecognizedClientException")
    _check_scope(authorization, region, request.received)
    expected, canonical = _signature(request, authorization, caller, region)
    if not hmac.compare_digest(expected, authorization.signature):
        # Like API Gateway, say what was expected, so a client can find its mistake.
        should = "The Canonical String for this request should have been"
        message = f"{_SIGNATURE_MISMATCH}\n\n{should}\n'{canonical}'\n"
        raise _rejected(message, "InvalidSignatureException")
    return caller


def _parse_authorization(header: str, amz_date: str | None) -> _Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(",") if "=" in part)
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if algorithm != ALGORITHM or not fields.get(name)
    ]
    if not amz_date:
        missing.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if missing:
        raise _rejected(
            f"{' '.join(missing)} Authorization={header}", "IncompleteSignatureException"
        )
    access_key, *scope = fields["Credential"].split("/")
    if len(scope) != 4:
        message = (
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            f"keyid/date/region/service/term, got '{fields['Credential']}'"
        )
        raise _rejected(message, "IncompleteSignatureException")
    signed = tuple(fields["SignedHeaders"].lower().split(";"))
    return _Authorization(access_key, tuple(scope), signed, fields["Signature"], str(amz_date))


def _check_scope(authorization: _Authorization, region: str, now: datetime) -> None:
    date, scope_region, service, terminator = authorization.scope
    try:
        signed_at = datetime.strptime(authorization.timestamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise _rejected(_SIGNATURE_MISMATCH, "InvalidSignatureException") from None
    problem = None
    if date != authorization.timestamp[:8]:
        problem = (
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{date}' != '{authorization.timestamp[:8]}', from "
            f"'{authorization.timestamp}'."
        )
    elif scope_region != region:
        problem = "Credential should be scoped to a valid region."
    elif service != SERVICE or terminator != "aws4_request":
        problem = f"Credential should be scoped to correct service: '{SERVICE}'."
    elif "host" not in authorization.signed_headers:
        problem = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    else:
        problem = _skew(signed_at, now)
    if problem:
        raise _rejected(problem, "InvalidSignatureException")


def _skew(signed_at: datetime, now: datetime) -> str | None:
    def stamp(moment: datetime) -> str:
        return moment.strftime(SIGV4_TIMESTAMP)

    if signed_at < now - CLOCK_SKEW:
        return (
            f"Signature expired: {stamp(signed_at)} is now earlier than "
            f"{stamp(now - CLOCK_SKEW)} ({stamp(now)} - 5 min.)"
        )
    if signed_at > now + CLOCK_SKEW:
        return (
            f"Signature not yet current: {stamp(signed_at)} is still later than "
            f"{stamp(now + CLOCK_SKEW)} ({stamp(now)} + 5 min.)"
        )
    return None


def _signature(
    request: HttpRequest, authorization: _Authorization, caller: Caller, region: str
) -> tuple[str, str]:
    """The signature botocore computes for the request as received, from the headers the
    client says it signed; and the canonical request it signed."""
    host = request.header("host") or request.host
    rebuilt = AWSRequest(method=request.method, url=f"http://{host}{request.target}")
    rebuilt.data = request.body
    for name, value in request.headers:
        if name.lower() in authorization.signed_headers:
            rebuilt.headers[name] = value  # HTTPHeaders keeps repeated headers, as signed
    content_hash = request.header("x-amz-content-sha256")
    if content_hash is not None and content_hash != hashlib.sha256(request.body).hexdigest():
        return "", "(x-amz-content-sha256 is not the body's hash)"
    rebuilt.context["timestamp"] = authorization.timestamp
    credentials = Credentials(caller.access_key, caller.secret_key, caller.session_token)
    signer = SigV4Auth(credentials, SERVICE, region)
    canonical = signer.canonical_request(rebuilt)
    return signer.signature(signer.string_to_sign(rebuilt, canonical), rebuilt), canonical


def proxy_event(
    request: HttpRequest,
    route: ApiRoute,
    path_parameters: dict[str, str],
    *,
    binary: bool,
    account_id: str,
    caller: Caller | None = None,
) -> dict[str, Any]:
    """The REST API (v1) proxy event for `request`, routed to `route` (`caller`: who signed it,
    for an IAM-auth method)."""
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
        "requestContext": _request_context(request, route, path, account_id, caller),
        "body": body,
        "isBase64Encoded": encoded,
    }


def _request_context(
    request: HttpRequest, route: ApiRoute, path: str, account_id: str, caller: Caller | None
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
            "accountId": caller.account_id if caller else None,
            "caller": caller.user_id if caller else None,
            "user": caller.user_id if caller else None,
            "userArn": caller.arn if caller else None,
            "accessKey": caller.access_key if caller else None,
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
        callers: Mapping[str, Caller] | None = None,
    ) -> None:
        self.definition = definition
        self.api_key = api_key
        self.account_id = account_id
        self.callers = world_callers(account_id) if callers is None else dict(callers)
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
        caller = None
        if route.iam_required:
            try:
                caller = authenticate(request, self.callers, self.definition.region)
            except SignatureRejected as rejected:
                return rejected.response
        if route.api_key_required and request.header("x-api-key") != self.api_key:
            return FORBIDDEN
        binary = self.definition.is_binary(request.header("content-type"))
        event = proxy_event(
            request, route, parameters, binary=binary, account_id=self.account_id, caller=caller
        )
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
