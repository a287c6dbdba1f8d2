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
Each response closes its connection; one asyncio event loop, on a thread of its own, serves
them all. Methods other than GET and HEAD get 405 when Pages knows them, else 501.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import formatdate
from enum import StrEnum
from http import HTTPStatus
from typing import Any, Self
from urllib.parse import unquote, urlsplit

from mtasts_local.cloudflare.state import Asset, CloudflareState, ServedSite, canonical
from mtasts_local.latency import DelayedTransport
from mtasts_local.listening import listen_tcp
from mtasts_local.pages_headers import parse_headers_file
from mtasts_local.pki import CertKind, LocalPki
from mtasts_local.service import Service

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

MAX_REQUEST_HEAD = 64 * 1024  # request line and headers, as http.server allows
SERVED_METHODS = frozenset({"GET", "HEAD"})
REFUSED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # 405, not 501


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    target: str
    host: str | None  # the Host header's host name, without the port


class _BadRequest(Exception):
    """The request cannot be read as HTTP/1.x."""


class _Edge:
    """The edge's sockets, on an asyncio event loop of their own thread: one coroutine per
    connection (a thread each, as http.server has it, made a burst of a few hundred fetches
    cost the world more CPU than the fetches themselves), TLS by asyncio, one request per
    connection."""

    def __init__(
        self,
        listener: socket.socket,
        state: CloudflareState,
        certificates: _Certificates,
        behaviours: _Behaviours,
        *,
        slow_interval: float,
        socket_timeout: float,
        latency: float,
    ) -> None:
        self.state = state
        self.certificates = certificates
        self.behaviours = behaviours
        self.slow_interval = slow_interval
        self.socket_timeout = socket_timeout
        self.latency = latency
        self.port = int(listener.getsockname()[1])
        self._listener = listener
        self._loop = asyncio.new_event_loop()
        self._connections: set[asyncio.Task[None]] = set()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"https-{listener.getsockname()[0]}:{self.port}"
        )

    def start(self) -> None:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result()
        except BaseException:
            self.stop()
            raise

    async def _listen(self) -> None:
        self._server = await self._loop.create_server(
            lambda: _Paused(self.accepted), sock=self._listener
        )

    def accepted(self, transport: asyncio.Transport) -> None:
        task = self._loop.create_task(self._connection(transport))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    def stop(self) -> None:
        """Stop listening, end every open connection (mid-body too) and join the thread."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()
        self._listener.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _connection(self, transport: asyncio.Transport) -> None:
        """One connection, from its TCP accept (not read from yet) to its close."""
        peer = transport.get_extra_info("peername")
        if self.latency > 0:
            transport = DelayedTransport(transport, self.latency, self._loop)
        try:
            reader, writer = await self._tls(transport)
            await self._exchange(reader, writer)
            writer.close()  # what is still buffered goes out first
            async with asyncio.timeout(self.socket_timeout):
                await writer.wait_closed()
        except (OSError, TimeoutError, EOFError, RuntimeError) as error:  # ssl.SSLError too
            # e.g. the client refused our certificate, or went away
            _log.debug("connection from %s ended: %s", peer, error)
        finally:
            transport.abort()  # stopping, or a failure: nothing more to send

    async def _tls(
        self, transport: asyncio.Transport
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The handshake, on a connection nothing has been read from: the client's hello is
        still in the socket (a stream reading it first would swallow it)."""
        if transport.is_closing():
            raise EOFError("the client left before the handshake")
        reader = asyncio.StreamReader(limit=MAX_REQUEST_HEAD)
        protocol = asyncio.StreamReaderProtocol(reader)
        tls = await self._loop.start_tls(
            transport,
            protocol,
            self.certificates.default_context,
            server_side=True,
            ssl_handshake_timeout=self.socket_timeout,
        )
        if tls is None:  # the transport closed during the handshake
            raise EOFError("the client left during the handshake")
        # start_tls hands the protocol its TLS transport without telling it (it is meant for
        # upgrading a protocol that is already connected): tell it, so the stream reader knows
        # its transport and that it is over TLS.
        protocol.connection_made(tls)
        return reader, asyncio.StreamWriter(tls, protocol, reader, self._loop)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(self.socket_timeout):
                request = _parse_request(await reader.readuntil(b"\r\n\r\n"))
        except (_BadRequest, asyncio.LimitOverrunError) as error:
            _log.debug("bad request: %s", error)
            await self._send(writer, plain_response(400, "Bad Request"), with_body=True)
            return
        except asyncio.IncompleteReadError:
            return  # the client closed before finishing its request
        if request.method in REFUSED_METHODS:
            response = plain_response(405, "Method Not Allowed")
        elif request.method not in SERVED_METHODS:
            response = plain_response(501, "Not Implemented")
        else:
            response = self._response(request, writer.get_extra_info("ssl_object"))
        await self._send(writer, response, with_body=request.method != "HEAD")

    def _response(self, request: _Request, ssl_object: object) -> EdgeResponse:
        sni = self.certificates.sni_of(ssl_object)
        host = request.host or sni
        if host is None:
            return plain_response(400, "Bad Request")
        if sni is not None and sni != host:
            return plain_response(421, "Misdirected Request")
        site = self.state.site_for_host(host)
        return edge_response(site, host, request.target, self.behaviours.get(host))

    async def _send(
        self, writer: asyncio.StreamWriter, response: EdgeResponse, with_body: bool
    ) -> None:
        writer.write(_head(response))
        if with_body and response.dribble:
            await self._dribble(writer, response.body)
        elif with_body:
            writer.write(response.body)
        async with asyncio.timeout(self.socket_timeout):
            await writer.drain()

    async def _dribble(self, writer: asyncio.StreamWriter, body: bytes) -> None:
        for start in range(0, len(body), SLOW_CHUNK_SIZE):
            if start:
                await asyncio.sleep(self.slow_interval)
            writer.write(body[start : start + SLOW_CHUNK_SIZE])
            await writer.drain()


class _Paused(asyncio.Protocol):
    """A connection just accepted: nothing is read from it until its coroutine has put TLS in
    place, so the client's hello stays in the socket."""

    def __init__(self, accepted: Callable[[asyncio.Transport], None]) -> None:
        self._accepted = accepted

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        self._accepted(transport)


def _parse_request(head: bytes) -> _Request:
    """The request line and the Host header of an HTTP/1.x request head."""
    try:
        lines = head.decode("iso-8859-1").split("\r\n")
    except UnicodeDecodeError as error:  # pragma: no cover - iso-8859-1 decodes any byte
        raise _BadRequest(str(error)) from error
    words = lines[0].split()
    if len(words) != 3 or not words[2].startswith("HTTP/1."):
        raise _BadRequest(f"not an HTTP/1.x request line: {lines[0][:80]!r}")
    host = None
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not line:
            continue
        if not colon or not name or name != name.strip():
            raise _BadRequest(f"not a header line: {line[:80]!r}")
        if name.lower() == "host" and host is None:
            host = _host_of(value)
    return _Request(words[0], words[1], host)


def _head(response: EdgeResponse) -> bytes:
    """Status line and headers, as http.server wrote them for the edge (Server, Date first)."""
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = ""
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        "server: cloudflare",
        f"date: {formatdate(usegmt=True)}",
    ]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    lines += [f"content-length: {len(response.body)}", "connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _host_of(header: str | None) -> str | None:
    """The host name of a Host header, without its port (and brackets for IPv6)."""
    if not header:
        return None
    header = header.strip()
    if header.startswith("["):
        return header[1 : header.find("]")].lower() or None
    name, _, port = header.rpartition(":")
    return canonical(name if name and port.isdigit() else header) or None


def _listen(host: str, port: int) -> socket.socket:
    try:
        return listen_tcp(host, port)
    except OSError as error:
        raise HttpsServerError(f"cannot listen on {host}:{port}: {error.strerror}") from error


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
        latency: float = 0.0,
    ) -> None:
        """`latency`: a round trip of this many seconds on every exchange (the TLS handshake's
        flight, the response), as a client far away sees a server (the validator benchmark;
        see `latency.DelayedTransport`)."""
        if latency < 0:
            raise ValueError("latency must not be negative")
        self.latency = latency
        self.state = state
        self.host = host
        self.slow_interval = slow_interval  # seconds between SLOW's chunks
        self.socket_timeout = socket_timeout
        self._pki = pki
        self._requested_port = port
        self._behaviours = _Behaviours()
        self._edge: _Edge | None = None

    def start(self) -> Self:
        if self._edge is not None:
            raise HttpsServerError("the HTTPS server is already running")
        certificates = _Certificates(self._pki, self._behaviours, (*DEFAULT_CERT_NAMES, self.host))
        edge = _Edge(
            _listen(self.host, self._requested_port),
            self.state,
            certificates,
            self._behaviours,
            slow_interval=self.slow_interval,
            socket_timeout=self.socket_timeout,
            latency=self.latency,
        )
        edge.start()
        self._edge = edge
        return self

    def stop(self) -> None:
        """Stop listening, end open connections and join the server's thread."""
        edge, self._edge = self._edge, None
        if edge is not None:
            edge.stop()

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
        if self._edge is None:
            raise HttpsServerError("the HTTPS server is not running")
        return self._edge.port
