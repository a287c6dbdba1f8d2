"""The local world's Cloudflare Pages edge: one TLS server for every Pages site, choosing the
certificate by SNI and the site by Host, serving the latest production deployment's files with
its `_headers` applied, and misbehaving per host when a validator test asks it to.

    with LocalHttpsServer(state, pki) as edge:
        edge.set_behaviour("mta-sts.expired.example", HttpsBehaviour.EXPIRED_CERT)
        httpx.get(f"https://127.0.0.1:{edge.port}/.well-known/mta-sts.txt",
                  headers={"Host": host}, extensions={"sni_hostname": host},
                  verify=pki.client_context())

What it copies from Pages' asset server (workers-sdk `pages-shared/asset-server`): GET and HEAD
only (405 otherwise); `/dir/` serves `/dir/index.html` and `/page` may serve `/page.html`; the
asset's uploaded content type; `Cache-Control: public, max-age=0, must-revalidate`;
`Access-Control-Allow-Origin: *`, `Referrer-Policy` and `X-Content-Type-Options: nosniff` on
every response; `_headers` rules applied last, to every response of a site (404s included); an
unknown path gets the nearest `404.html` (404), else `/index.html` (200, the single-page-app
fallback), else a plain 404. Left out: ETags and conditional requests, compression, the
`.html` redirects, `_redirects`. A host with no active site gets a plain 404.

Every connection is TLS (1.2+); the certificate is for the SNI name, from the local CA, unless a
`*-cert` behaviour says otherwise. The Host header names the site (a client without one gets
the SNI name); a Host that differs from the SNI name gets 421, as a CDN refuses domain fronting.
Each response closes its connection, so no idle keep-alive connection holds a thread.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading
import weakref
from dataclasses import dataclass, replace
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import unquote, urlsplit

from mtasts_local.cloudflare.state import Asset, CloudflareState, ServedSite, canonical
from mtasts_local.pages_headers import parse_headers_file
from mtasts_local.pki import CertKind, LocalPki
from mtasts_local.service import LiveConnections, Service

_log = logging.getLogger(__name__)

BROWSER_CACHE_CONTROL = "public, max-age=0, must-revalidate"
EDGE_HEADERS = {
    "access-control-allow-origin": "*",
    "referrer-policy": "strict-origin-when-cross-origin",
}
PLAIN_TEXT = "text/plain;charset=UTF-8"
WRONG_CONTENT_TYPE = "text/html; charset=utf-8"
HUGE_BODY_SIZE = 65 * 1024  # over RFC 8461's suggested 64 KiB cap on a policy
SLOW_CHUNK_SIZE = 8  # bytes per dribble
SOCKET_TIMEOUT = 10.0  # default: how long a handshake or a request may stall
DEFAULT_CERT_NAMES = ("localhost",)  # for a client that sends no SNI (plus the bound address)


class HttpsServerError(Exception):
    """The HTTPS server cannot start, listen where asked, or was used while stopped."""


class HttpsBehaviour(StrEnum):
    """How the edge treats one host, for validator tests (RFC 8461 §3.3 failure modes)."""

    OK = "ok"
    REDIRECT = "redirect"  # 301 to another URL, whatever the path
    CONTENT_TYPE = "content-type"  # the file, with a content type other than text/plain
    NOT_FOUND = "not-found"  # 404, whatever the path
    HUGE = "huge"  # the file padded to a body over 64 KiB
    SLOW = "slow"  # the file, dribbled a few bytes at a time
    EXPIRED_CERT = "expired-cert"
    WRONG_NAME_CERT = "wrong-name-cert"
    UNTRUSTED_CERT = "untrusted-cert"
    SERVER_ERROR = "server-error"  # 500, whatever the path


CERT_KIND: dict[HttpsBehaviour, CertKind] = {
    HttpsBehaviour.EXPIRED_CERT: CertKind.EXPIRED,
    HttpsBehaviour.WRONG_NAME_CERT: CertKind.WRONG_NAME,
    HttpsBehaviour.UNTRUSTED_CERT: CertKind.UNTRUSTED,
}


@dataclass(frozen=True, slots=True)
class Misbehaviour:
    behaviour: HttpsBehaviour
    redirect_to: str | None = None  # REDIRECT's Location; default https://www.<host><path>
    content_type: str = WRONG_CONTENT_TYPE  # CONTENT_TYPE's Content-Type


@dataclass(frozen=True, slots=True)
class EdgeResponse:
    status: int
    headers: dict[str, str]  # lowercase names; Content-Length is added when sent
    body: bytes
    dribble: bool = False  # send the body slowly


# --- what the edge answers (no sockets) ----------------------------------------------------------


def edge_response(
    site: ServedSite | None, host: str, target: str, misbehaviour: Misbehaviour | None = None
) -> EdgeResponse:
    """The response to GET `target` (the request target, as sent) on `host`."""
    canned = _canned(misbehaviour, host, target) if misbehaviour else None
    if canned is not None:
        return canned
    response = pages_response(site, host, target) if site else plain_response(404, "Not Found")
    if response.status != 200 or misbehaviour is None:
        return response
    return _spoil(response, misbehaviour)


def _canned(misbehaviour: Misbehaviour, host: str, target: str) -> EdgeResponse | None:
    """The fixed answer of a behaviour that does not look at the site at all."""
    match misbehaviour.behaviour:
        case HttpsBehaviour.REDIRECT:
            location = misbehaviour.redirect_to or f"https://www.{host}{target}"
            return plain_response(301, "Moved Permanently", {"location": location})
        case HttpsBehaviour.NOT_FOUND:
            return plain_response(404, "Not Found")
        case HttpsBehaviour.SERVER_ERROR:
            return plain_response(500, "Internal Server Error")
        case _:
            return None


def _spoil(response: EdgeResponse, misbehaviour: Misbehaviour) -> EdgeResponse:
    """A good response made bad the way `misbehaviour` says (certificate ones leave it)."""
    match misbehaviour.behaviour:
        case HttpsBehaviour.CONTENT_TYPE:
            headers = {**response.headers, "content-type": misbehaviour.content_type}
            return replace(response, headers=headers)
        case HttpsBehaviour.HUGE:
            return replace(response, body=_padded(response.body, HUGE_BODY_SIZE))
        case HttpsBehaviour.SLOW:
            return replace(response, dribble=True)
        case _:
            return response


def _padded(body: bytes, size: int) -> bytes:
    """`body` followed by lines an RFC 8461 parser ignores (unknown fields), up to `size`:
    a fetcher without a size cap still reads a valid policy, so only the cap tells."""
    line = b"x-padding: " + b"x" * 52 + b"\n"
    padding = line * (size // len(line) + 1)
    return (body + b"\n" + padding)[:size]


def pages_response(site: ServedSite, host: str, target: str) -> EdgeResponse:
    """What Pages' asset server answers for a GET of `target` on one of `site`'s hosts."""
    path = urlsplit(target).path or "/"
    asset = _find_asset(site.files, unquote(path))
    if asset is not None:
        status, headers, body = 200, _asset_headers(asset), asset.content
    else:
        status, headers, body = _not_found(site.files, unquote(path))
    headers = {**headers, **EDGE_HEADERS, "x-content-type-options": "nosniff"}
    rules = parse_headers_file(site.headers_file)
    return EdgeResponse(status, rules.apply(host, path, headers), body)


def plain_response(status: int, text: str, headers: dict[str, str] | None = None) -> EdgeResponse:
    all_headers = {"content-type": PLAIN_TEXT, **EDGE_HEADERS, "x-content-type-options": "nosniff"}
    return EdgeResponse(status, {**all_headers, **(headers or {})}, text.encode())


def _asset_headers(asset: Asset) -> dict[str, str]:
    return {"content-type": asset.content_type, "cache-control": BROWSER_CACHE_CONTROL}


def _find_asset(files: dict[str, Asset], path: str) -> Asset | None:
    if path.endswith("/"):
        return files.get(path + "index.html")
    return files.get(path) or files.get(path + ".html")


def _not_found(files: dict[str, Asset], path: str) -> tuple[int, dict[str, str], bytes]:
    directory = path
    while directory:
        directory = directory[: directory.rfind("/")]
        page = files.get(f"{directory}/404.html")
        if page is not None:
            return 404, {"content-type": page.content_type}, page.content
    index = files.get("/index.html")
    if index is not None:
        return 200, _asset_headers(index), index.content
    return 404, {"content-type": PLAIN_TEXT}, b"Not Found"


# --- TLS: a certificate per SNI name ------------------------------------------------------------


class _Behaviours:
    """Each host's misbehaviour, changed by tests while requests are served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_host: dict[str, Misbehaviour] = {}

    def set(self, host: str, misbehaviour: Misbehaviour | None) -> None:
        with self._lock:
            if misbehaviour is None or misbehaviour.behaviour is HttpsBehaviour.OK:
                self._by_host.pop(canonical(host), None)
            else:
                self._by_host[canonical(host)] = misbehaviour

    def get(self, host: str) -> Misbehaviour | None:
        with self._lock:
            return self._by_host.get(canonical(host))

    def clear(self) -> None:
        with self._lock:
            self._by_host.clear()


class _Certificates:
    """Picks, during each handshake, the server context for the name the client asked for."""

    def __init__(
        self, pki: LocalPki, behaviours: _Behaviours, default_names: tuple[str, ...]
    ) -> None:
        self._pki = pki
        self._behaviours = behaviours
        self._lock = threading.Lock()
        self._contexts: dict[tuple[str, CertKind], ssl.SSLContext] = {}
        self._sni: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self.default_context = pki.server_context(default_names)
        self.default_context.sni_callback = self._choose

    def _choose(self, connection: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> int | None:
        # Runs inside do_handshake; an exception here would only surface as an unraisable
        # warning, so failures become a TLS alert instead.
        if name is None:
            return None  # no SNI: the default certificate
        host = canonical(name)
        misbehaviour = self._behaviours.get(host)
        kind = CERT_KIND.get(misbehaviour.behaviour, CertKind.VALID) if misbehaviour else None
        try:
            connection.context = self._context(host, kind or CertKind.VALID)
        except Exception:
            _log.exception("no certificate for %r", name)
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        with self._lock:
            self._sni[connection] = host
        return None

    def _context(self, host: str, kind: CertKind) -> ssl.SSLContext:
        with self._lock:
            context = self._contexts.get((host, kind))
        if context is None:
            context = self._pki.server_context((host,), kind)
            with self._lock:
                context = self._contexts.setdefault((host, kind), context)
        return context

    def sni_of(self, connection: object) -> str | None:
        """The server name `connection` (an accepted TLS socket) asked for, if any."""
        with self._lock:
            return self._sni.get(connection)


# --- HTTP over TLS -------------------------------------------------------------------------------


class _EdgeServer(LiveConnections, ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins every connection's thread

    def __init__(
        self,
        address: tuple[str, int],
        state: CloudflareState,
        certificates: _Certificates,
        behaviours: _Behaviours,
        slow_interval: float,
        socket_timeout: float,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.state = state
        self.certificates = certificates
        self.behaviours = behaviours
        self.slow_interval = slow_interval
        self.socket_timeout = socket_timeout
        self.stopping = threading.Event()
        self._track_connections()
        super().__init__(address, _EdgeHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks the resolver for the host's FQDN; nothing here needs it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = self.socket.accept()
        # The handshake happens in the connection's own thread (finish_request): a client that
        # stalls it must not hold up accepting others.
        tls = self.certificates.default_context.wrap_socket(
            connection, server_side=True, do_handshake_on_connect=False
        )
        return tls, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.settimeout(self.socket_timeout)
            request.do_handshake()
        except OSError as error:  # ssl.SSLError included: e.g. the client refused our cert
            _log.debug("TLS handshake with %s failed: %s", client_address, error)
            return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def respond(self, host: str, target: str) -> EdgeResponse:
        site = self.state.site_for_host(host)
        return edge_response(site, host, target, self.behaviours.get(host))


class _EdgeHandler(BaseHTTPRequestHandler):
    server: _EdgeServer
    protocol_version = "HTTP/1.1"
    timeout = None  # the connection keeps the timeout finish_request gave it

    def version_string(self) -> str:
        return "cloudflare"

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._send(self._response(), with_body=True)

    def do_HEAD(self) -> None:
        self._send(self._response(), with_body=False)

    def _method_not_allowed(self) -> None:
        self._send(plain_response(405, "Method Not Allowed"), with_body=True)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _method_not_allowed

    def _response(self) -> EdgeResponse:
        sni = self.server.certificates.sni_of(self.request)
        host = _host_of(self.headers.get("Host")) or sni
        if host is None:
            return plain_response(400, "Bad Request")
        if sni is not None and sni != host:
            return plain_response(421, "Misdirected Request")
        return self.server.respond(host, self.path)

    def _send(self, response: EdgeResponse, with_body: bool) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        self.send_header("connection", "close")
        self.end_headers()
        if not with_body:
            return
        if response.dribble:
            self._dribble(response.body)
        else:
            self.wfile.write(response.body)

    def _dribble(self, body: bytes) -> None:
        # wfile is unbuffered (StreamRequestHandler.wbufsize = 0): each chunk leaves at once.
        for start in range(0, len(body), SLOW_CHUNK_SIZE):
            if start and self.server.stopping.wait(self.server.slow_interval):
                return  # the server is stopping: abandon the body
            self.wfile.write(body[start : start + SLOW_CHUNK_SIZE])


def _host_of(header: str | None) -> str | None:
    """The host name of a Host header, without its port (and brackets for IPv6)."""
    if not header:
        return None
    header = header.strip()
    if header.startswith("["):
        return header[1 : header.find("]")].lower() or None
    name, _, port = header.rpartition(":")
    return canonical(name if name and port.isdigit() else header) or None


class LocalHttpsServer(Service):
    """The Pages edge on one port, served by a background thread (one more per connection)."""

    def __init__(
        self,
        state: CloudflareState,
        pki: LocalPki,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        slow_interval: float = 0.5,
        socket_timeout: float = SOCKET_TIMEOUT,
    ) -> None:
        self.state = state
        self.host = host
        self.slow_interval = slow_interval  # seconds between SLOW's chunks
        self.socket_timeout = socket_timeout
        self._pki = pki
        self._requested_port = port
        self._behaviours = _Behaviours()
        self._server: _EdgeServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            raise HttpsServerError("the HTTPS server is already running")
        certificates = _Certificates(self._pki, self._behaviours, (*DEFAULT_CERT_NAMES, self.host))
        try:
            server = _EdgeServer(
                (self.host, self._requested_port),
                self.state,
                certificates,
                self._behaviours,
                self.slow_interval,
                self.socket_timeout,
            )
        except OSError as error:
            where = f"{self.host}:{self._requested_port}"
            raise HttpsServerError(f"cannot listen on {where}: {error.strerror}") from error
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},  # how soon stop() is noticed
            name=f"https-{self.host}:{self.port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, end open connections and join every thread."""
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is None or thread is None:
            return
        server.stopping.set()
        server.shutdown()
        thread.join()
        server.close_live_connections()
        server.server_close()

    def set_behaviour(
        self,
        host: str,
        behaviour: HttpsBehaviour | None,
        *,
        redirect_to: str | None = None,
        content_type: str = WRONG_CONTENT_TYPE,
    ) -> None:
        """Make `host` misbehave from its next connection on; None (or OK) makes it behave."""
        misbehaviour = (
            None if behaviour is None else Misbehaviour(behaviour, redirect_to, content_type)
        )
        self._behaviours.set(host, misbehaviour)

    def behaviour(self, host: str) -> HttpsBehaviour:
        misbehaviour = self._behaviours.get(host)
        return misbehaviour.behaviour if misbehaviour else HttpsBehaviour.OK

    def clear_behaviours(self) -> None:
        """Every host behaves again (between tests)."""
        self._behaviours.clear()

    @property
    def port(self) -> int:
        if self._server is None:
            raise HttpsServerError("the HTTPS server is not running")
        return int(self._server.server_address[1])
