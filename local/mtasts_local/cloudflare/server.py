"""The Cloudflare REST API stand-in: a WSGI app over the shared `CloudflareState`, served by
werkzeug on a thread, that the real `cloudflare` SDK talks to through `base_url`.

    stand_in = CloudflareStandIn(state).start()
    client = Cloudflare(api_token=state.api_token, base_url=stand_in.base_url)
    ...
    stand_in.stop()

Operations (the names calls are counted and faults injected under; `/client/v4` omitted):

    zones.list                   GET    /zones
    dns_records.list             GET    /zones/{zone_id}/dns_records
    dns_records.create           POST   /zones/{zone_id}/dns_records
    dns_records.get              GET    /zones/{zone_id}/dns_records/{id}
    dns_records.update           PUT    /zones/{zone_id}/dns_records/{id}
    dns_records.edit             PATCH  /zones/{zone_id}/dns_records/{id}
    dns_records.delete           DELETE /zones/{zone_id}/dns_records/{id}
    pages.projects.list          GET    /accounts/{account_id}/pages/projects
    pages.projects.create        POST   /accounts/{account_id}/pages/projects
    pages.projects.get           GET    /accounts/{account_id}/pages/projects/{name}
    pages.projects.delete        DELETE /accounts/{account_id}/pages/projects/{name}
    pages.projects.upload_token  GET    /accounts/{account_id}/pages/projects/{name}/upload-token
    pages.deployments.list       GET    .../pages/projects/{name}/deployments
    pages.deployments.create     POST   .../pages/projects/{name}/deployments
    pages.deployments.get        GET    .../pages/projects/{name}/deployments/{id}
    pages.domains.list           GET    .../pages/projects/{name}/domains
    pages.domains.create         POST   .../pages/projects/{name}/domains
    pages.domains.get            GET    .../pages/projects/{name}/domains/{domain}
    pages.domains.delete         DELETE .../pages/projects/{name}/domains/{domain}
    pages.assets.check_missing   POST   /pages/assets/check-missing   (upload JWT)
    pages.assets.upload          POST   /pages/assets/upload          (upload JWT)
    pages.assets.upsert_hashes   POST   /pages/assets/upsert-hashes   (upload JWT)
    unknown                      anything else (404, or 405 for a wrong method)

Authentication: a bearer token. The account's API token for everything but the asset
endpoints, which take an upload JWT. No usable `Authorization` header: 401 [10001]; a token
that is not the account's (or another account's path): 403 [10000]; a bad or expired upload
JWT: 401 [8000013], on which wrangler fetches a new token.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import math
import socket
import threading
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, NoReturn, Self

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from mtasts_local.cloudflare.contract import ContractRecorder, Exchange, OpenApiContract
from mtasts_local.cloudflare.faults import FaultInjector, FaultKind, FaultRule
from mtasts_local.cloudflare.handlers_assets import DEFAULT_TOKEN_TTL, AssetHandlers, UploadTokens
from mtasts_local.cloudflare.handlers_common import (
    CODE_AUTHENTICATION,
    CODE_METHOD_NOT_ALLOWED,
    CODE_NO_ROUTE,
    CODE_UNAUTHENTICATED,
    CODE_UNKNOWN,
    ApiError,
    Auth,
    Call,
    Reply,
    Route,
)
from mtasts_local.cloudflare.handlers_deployments import DeploymentHandlers, DeploymentLifecycle
from mtasts_local.cloudflare.handlers_pages import PagesHandlers
from mtasts_local.cloudflare.handlers_zones import ZoneHandlers
from mtasts_local.cloudflare.state import CloudflareState
from mtasts_local.service import Service

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

API_PREFIX = "/client/v4"
UNKNOWN_OPERATION = "unknown"
CODE_RATE_LIMITED = 10000  # Cloudflare answers throttled calls with its generic code

_log = logging.getLogger(__name__)


DRAIN_TIMEOUT = 10.0  # seconds; longer than any slow answer a test injects


class StandInError(Exception):
    """The stand-in cannot do what was asked (start twice, listen where it may not, ...)."""


class _QuietRequestHandler(WSGIRequestHandler):
    """werkzeug logs every request at INFO on stderr; tests and the demo do not want that."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        _log.debug("%s %s -> %s", self.command, self.path, code)


class CloudflareStandIn(Service):
    """The stand-in's HTTP server. Binds to `host:port` (port 0: any free port) on `start()`."""

    def __init__(
        self,
        state: CloudflareState,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 0,
        polls_until_success: int = 1,
        upload_token_ttl: float = DEFAULT_TOKEN_TTL,
        contract: OpenApiContract | None = None,
    ) -> None:
        self.state = state
        self.host = host
        self._requested_port = port
        self._seed = seed
        self.faults = FaultInjector(seed)
        self.contract = ContractRecorder(contract) if contract is not None else None
        self.deployments = DeploymentLifecycle(state, polls_until_success)
        self.upload_tokens = UploadTokens(ttl=upload_token_ttl)
        self._routes = {route.operation: route for route in self._all_routes()}
        self._url_map = Map(
            [
                Rule(API_PREFIX + r.path, endpoint=r.operation, methods=[r.method])
                for r in self._routes.values()
            ],
            strict_slashes=False,  # Cloudflare does not redirect; neither should the stand-in
            merge_slashes=False,
        )
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._in_flight = 0
        self._stopping = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def _all_routes(self) -> Iterable[Route]:
        yield from ZoneHandlers(self.state).routes()
        yield from PagesHandlers(self.state, self.upload_tokens).routes()
        yield from DeploymentHandlers(self.state, self.deployments).routes()
        yield from AssetHandlers(self.state).routes()

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise StandInError("the Cloudflare stand-in is already running")
        try:
            server = make_server(
                self.host,
                self._requested_port,
                self._wsgi,
                threaded=True,
                request_handler=_QuietRequestHandler,
            )
        except SystemExit as exit_:  # werkzeug exits when it cannot bind
            raise StandInError(f"cannot listen on {self.host}:{self._requested_port}") from exit_
        self._stopping.clear()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"cloudflare-stand-in:{server.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut short any slow answer, and wait for every request thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()  # serve_forever then closes the socket and joins request threads
        thread.join()
        self._server = self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise StandInError("the Cloudflare stand-in is not running")
        return self._server.port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{API_PREFIX}"

    # --- test support --------------------------------------------------------------------------

    @property
    def calls(self) -> Counter[str]:
        """Operation -> requests received (a copy), faulted ones included."""
        with self._lock:
            return Counter(self._calls)

    def check_contract(self, contract: OpenApiContract | None = None) -> ContractRecorder:
        """From now on, check every answer against the OpenAPI schema (default location)."""
        self.contract = ContractRecorder(contract or OpenApiContract())
        return self.contract

    def drain(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """Wait until no request is being handled. A client that gave up on a slow answer has
        not stopped the server from applying the request; without this, such a late write
        would land in whatever the next test set up."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._in_flight == 0, timeout):
                raise StandInError(f"{self._in_flight} request(s) still running after {timeout} s")

    def reset(self) -> None:
        """Wait for requests in flight, then forget calls, fault rules (and reseed them), poll
        counts and contract tallies. The account state is not touched: the DNS and HTTPS
        servers share it (`CloudflareState.reset`)."""
        self.drain()
        with self._lock:
            self._calls.clear()
        self.faults.clear()
        self.faults.reseed(self._seed)
        self.deployments.reset()
        if self.contract is not None:
            self.contract.reset()

    # --- requests ------------------------------------------------------------------------------

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        with self._idle:
            self._in_flight += 1
        try:
            operation, route, path_args = self._match(request)
            reply = self._respond(request, operation, route, path_args)
        finally:
            request.close()  # the multipart files werkzeug spooled for this request
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()
        body = json.dumps(reply.body).encode()
        if self.contract is not None:
            exchange = Exchange(request.method, request.path, reply.status, body)
            self.contract.record(operation, exchange)
        response = Response(body, reply.status, list(reply.headers), mimetype="application/json")
        return response(environ, start_response)

    def _match(self, request: Request) -> tuple[str, Route | ApiError, dict[str, str]]:
        adapter = self._url_map.bind_to_environ(request.environ)
        try:
            operation, args = adapter.match()
        except MethodNotAllowed:
            refusal = ApiError(405, CODE_METHOD_NOT_ALLOWED, "Method not allowed")
            return UNKNOWN_OPERATION, refusal, {}
        except NotFound:
            return UNKNOWN_OPERATION, ApiError(404, CODE_NO_ROUTE, "No route for that URI"), {}
        return str(operation), self._routes[str(operation)], dict(args)

    def _respond(
        self, request: Request, operation: str, route: Route | ApiError, args: dict[str, str]
    ) -> Reply:
        with self._lock:
            self._calls[operation] += 1
            call_number = self._calls[operation]
        fault = self.faults.pick(operation, call_number)
        if fault is not None and not fault.after_handling:
            early = self._inject(fault, request)
            if early is not None:
                return early
        reply = self._handle(request, route, args)
        if fault is not None and fault.after_handling:
            return self._inject(fault, request) or reply
        return reply

    def _handle(self, request: Request, route: Route | ApiError, args: dict[str, str]) -> Reply:
        try:
            if isinstance(route, ApiError):
                raise route
            self._authenticate(route, request, args)
            return route.handler(Call(request, args))
        except ApiError as error:
            return error.reply()
        except Exception:  # a bug in the stand-in: answer like Cloudflare's 500, keep the trace
            _log.exception("Cloudflare stand-in failed on %s %s", request.method, request.path)
            return ApiError(500, CODE_UNKNOWN, "Internal Server Error").reply()

    def _authenticate(self, route: Route, request: Request, args: dict[str, str]) -> None:
        token = _bearer_token(request)
        if route.auth is Auth.UPLOAD_JWT:
            self.upload_tokens.verify(token)
            return
        if token is None:
            raise ApiError(401, CODE_UNAUTHENTICATED, "Unable to authenticate request")
        if not hmac.compare_digest(token.encode(), self.state.api_token.encode()):
            raise ApiError(403, CODE_AUTHENTICATION, "Authentication error")
        if args.get("account_id", self.state.account_id) != self.state.account_id:
            raise ApiError(403, CODE_AUTHENTICATION, "Authentication error")

    # --- faults --------------------------------------------------------------------------------

    def _inject(self, fault: FaultRule, request: Request) -> Reply | None:
        """The fault's answer; None for a slow answer (the caller answers after the delay)."""
        if fault.kind is FaultKind.DROP:
            _drop_connection(request)
        if fault.kind is FaultKind.SLOW:
            self._stopping.wait(fault.delay)
            return None
        if fault.kind is FaultKind.RATE_LIMIT:
            return ApiError(
                429,
                CODE_RATE_LIMITED,
                "Rate limited. Please wait and consider throttling your request speed",
                _retry_after_headers(fault.retry_after),
            ).reply()
        headers = _retry_after_headers(fault.retry_after) if fault.retry_after > 0 else ()
        return ApiError(fault.status, CODE_UNKNOWN, "Internal Server Error", headers).reply()


def _bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _retry_after_headers(seconds: float) -> tuple[tuple[str, str], ...]:
    """`Retry-After` in whole seconds, as HTTP has it; a fractional wait also goes out as
    `retry-after-ms`, which the SDK prefers, so that tests need not sleep whole seconds."""
    headers = [("Retry-After", str(math.ceil(seconds)))]
    if seconds != int(seconds):
        headers.append(("retry-after-ms", str(round(seconds * 1000))))
    return tuple(headers)


def _drop_connection(request: Request) -> NoReturn:
    """Close the client's connection without a byte of answer. werkzeug treats the
    ConnectionAbortedError as a client that went away and writes nothing more."""
    connection = request.environ.get("werkzeug.socket")
    if isinstance(connection, socket.socket):
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    raise ConnectionAbortedError("fault injection: connection dropped")
