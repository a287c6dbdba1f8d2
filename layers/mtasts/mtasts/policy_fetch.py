"""Fetching `https://mta-sts.<domain>/.well-known/mta-sts.txt` the way RFC 8461 §3.3 says a
sending MTA does, so what the validator and the deploy gate see is what senders see.

The rules, shared by the sync fetcher (deploy gate) and the async one (validator):
- redirects are never followed (a 3xx is `policy-redirect`), and only 200 counts
  (anything else is `policy-http-status`);
- the certificate must be valid for `mta-sts.<domain>` (SNI is that name), chain to a trusted
  root and be unexpired, over TLS 1.2 or later (`policy-certificate-invalid`);
- at most 64 KiB is read, counted while streaming (`policy-too-large`);
- one deadline covers connecting, the handshake and every read (`policy-fetch-failed`, as are
  DNS and connection failures);
- no HTTP cache, and the content type and cache-control are reported for the validator.

`fetch` never raises for anything a domain does wrong: every outcome is a `FetchedPolicy`.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

import httpcore
import httpx
import msgspec

from mtasts.errors import PolicyNotServedError
from mtasts.findings import Code
from mtasts.policy import POLICY_SIZE_LIMIT
from mtasts.ports import POLICY_PATH, FetchedPolicy, PolicyFetcher
from mtasts.tls_stream import TlsStream

# Finding codes (the validator reports them; see findings.Code).
FETCH_FAILED = Code.POLICY_FETCH_FAILED.value
CERTIFICATE_INVALID = Code.POLICY_CERTIFICATE_INVALID.value
REDIRECT = Code.POLICY_REDIRECT.value
HTTP_STATUS = Code.POLICY_HTTP_STATUS.value
TOO_LARGE = Code.POLICY_TOO_LARGE.value

DEFAULT_TIMEOUT = 60.0  # RFC 8461 §3.3's suggested fetch timeout
DEFAULT_CONCURRENCY = 250  # as many as the validator has domains in flight
WILDCARD = "*"  # a connect-target key that catches every host without its own entry
USER_AGENT = "mtasts-autopilot (RFC 8461 policy fetch)"
REQUEST_HEADERS = {
    "accept": "*/*",  # what an httpx client sends by default; the async fetch has no client
    # A compressed body is inflated a whole chunk at a time before the cap can count it.
    "accept-encoding": "identity",
    # We keep no cache; this asks caches on the way (a CDN) not to answer from theirs either.
    "cache-control": "no-cache",
    "user-agent": USER_AGENT,
}
# Characters that would turn `mta-sts.<domain>` into another URL (path, port, user info).
_NOT_IN_A_HOST = re.compile(r"[/\\?#@:\[\]%\s]")

ConnectTargets = Mapping[str, tuple[str, int]]


# --- pure rules ----------------------------------------------------------------------------------


def policy_host(domain: str) -> str:
    """`mta-sts.<domain>`, lowercase, without a trailing dot; ValueError if `domain` could
    not be a host name (it would change the URL)."""
    name = domain.strip().rstrip(".").lower()
    if not name or _NOT_IN_A_HOST.search(name) or ".." in name or name.startswith("."):
        raise ValueError(f"not a domain name: {domain!r}")
    return f"mta-sts.{name}"


def policy_url(domain: str) -> str:
    return f"https://{policy_host(domain)}/{POLICY_PATH}"


def media_type(content_type: str | None) -> str | None:
    """The media type of a Content-Type value, lowercase, without parameters."""
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def is_text_plain(content_type: str | None) -> bool:
    """RFC 8461 §3.2: the policy's media type is text/plain (parameters do not matter)."""
    return media_type(content_type) == "text/plain"


def connect_target(connect_to: ConnectTargets, host: str, port: int) -> tuple[str, int]:
    """Where a connection for `host`:`port` really goes: its own entry, else the wildcard's,
    else the host itself."""
    name = host.rstrip(".").lower()
    return connect_to.get(name) or connect_to.get(WILDCARD) or (host, port)


def backoff_delays(attempts: int, first: float, cap: float) -> list[float]:
    """The waits between `attempts` tries: `first`, doubling, never above `cap`."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    return [min(first * 2**n, cap) for n in range(attempts - 1)]


def is_served(fetched: FetchedPolicy, expected: bytes) -> bool:
    return fetched.error is None and fetched.status == 200 and fetched.body == expected


def describe(fetched: FetchedPolicy) -> str:
    """One line on what a fetch gave, for messages."""
    if fetched.error is not None:
        return f"{fetched.error_code}: {fetched.error}"
    size = len(fetched.body or b"")
    return f"HTTP {fetched.status}, {size} bytes that are not the expected policy"


def _url_or_refusal(domain: str) -> str | FetchedPolicy:
    """The policy URL, or the failed fetch of a domain that cannot be put in one."""
    try:
        return policy_url(domain)
    except ValueError as error:
        return _failed(f"https://mta-sts.{domain}/{POLICY_PATH}", FETCH_FAILED, str(error), None)


def _failed(url: str, code: str, message: str, response: httpx.Response | None) -> FetchedPolicy:
    if response is None:
        return FetchedPolicy(url, None, None, None, None, message, code)
    headers = response.headers
    return FetchedPolicy(
        url,
        response.status_code,
        None,
        headers.get("content-type"),
        headers.get("cache-control"),
        message,
        code,
    )


def _judge_head(url: str, response: httpx.Response, max_bytes: int) -> FetchedPolicy | None:
    """The outcome decided by the status line and headers alone, or None to read the body."""
    status = response.status_code
    location = response.headers.get("location")
    if 300 <= status < 400 and location is not None:
        message = f"HTTP {status} redirect to {location} (senders do not follow redirects)"
        return _failed(url, REDIRECT, message, response)
    if status != 200:
        return _failed(url, HTTP_STATUS, f"HTTP {status}; only 200 counts", response)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        message = f"Content-Length {declared} is over the {max_bytes}-byte cap; not read"
        return _failed(url, TOO_LARGE, message, response)
    return None


class _Body:
    """The body so far, refusing to grow past the cap."""

    def __init__(self, url: str, response: httpx.Response, max_bytes: int) -> None:
        self._url = url
        self._response = response
        self._max_bytes = max_bytes
        self._chunks: list[bytes] = []
        self._size = 0

    def add(self, chunk: bytes) -> bool:
        """Keep `chunk`; False once the cap is passed (stop reading then)."""
        self._size += len(chunk)
        if self._size > self._max_bytes:
            return False
        self._chunks.append(chunk)
        return True

    def result(self) -> FetchedPolicy:
        if self._size > self._max_bytes:
            message = f"body is over the {self._max_bytes}-byte cap; stopped reading"
            return _failed(self._url, TOO_LARGE, message, self._response)
        headers = self._response.headers
        return FetchedPolicy(
            self._url,
            200,
            b"".join(self._chunks),
            headers.get("content-type"),
            headers.get("cache-control"),
            None,
            None,
        )


def _judge_error(url: str, error: Exception, timeout: float) -> FetchedPolicy:
    """The outcome of a fetch that raised instead of answering."""
    verification = _cause(error, ssl.SSLCertVerificationError)
    if verification is not None:
        reason = verification.verify_message or str(verification)
        return _failed(url, CERTIFICATE_INVALID, f"certificate refused: {reason}", None)
    if isinstance(error, httpx.TimeoutException):
        message = f"no complete answer within {timeout:g} s ({type(error).__name__})"
        return _failed(url, FETCH_FAILED, message, None)
    tls = _cause(error, ssl.SSLError)
    if tls is not None:
        return _failed(url, FETCH_FAILED, f"TLS handshake failed: {tls}", None)
    return _failed(url, FETCH_FAILED, f"{type(error).__name__}: {error}", None)


def _cause[E: BaseException](error: BaseException, kind: type[E]) -> E | None:
    """The first exception of `kind` in `error`'s chain (httpx wraps httpcore wraps ssl)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


# --- one deadline for the whole fetch ------------------------------------------------------------

# httpx's timeouts apply to each connect, read and write, so a body dribbled a byte at a time
# never ends. The deadline of the fetch in progress lives in a context variable (per thread and
# per asyncio task, so concurrent fetches keep their own), and the network streams below cut
# every operation's timeout down to what is left of it.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "policy_fetch_deadline", default=None
)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _clamp(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        # Not a zero timeout: a socket with timeout 0 is non-blocking, not "expired".
        raise expired("the fetch's total time is up")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        remaining = _clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, remaining))

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class _AsyncioStream(httpcore.AsyncNetworkStream):
    """A connection on asyncio's own streams, TLS by `tls_stream` once started (OpenSSL through
    memory BIOs, not asyncio's TLS layer and its 256 KiB buffer per connection), each operation
    bounded by what is left of the fetch's deadline. httpcore's AnyIO backend does the same
    through anyio's TLS stream, which costs more CPU per fetch (about a sixth of the
    validator's, measured); errors map to httpcore's as that backend maps them (a certificate
    refusal stays the cause of a ConnectError)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        tls: TlsStream | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._tls = tls

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(_clamp(timeout, httpcore.ReadTimeout)):
                if self._tls is not None:
                    return await self._tls.read(max_bytes)
                return await self._reader.read(max_bytes)
        except TimeoutError as error:
            raise httpcore.ReadTimeout(str(error) or "read timed out") from error
        except OSError as error:  # ssl.SSLError included
            raise httpcore.ReadError(str(error)) from error

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(_clamp(timeout, httpcore.WriteTimeout)):
                if self._tls is not None:
                    await self._tls.write(buffer)
                else:
                    self._writer.write(buffer)
                    await self._writer.drain()
        except TimeoutError as error:
            raise httpcore.WriteTimeout(str(error) or "write timed out") from error
        except OSError as error:
            raise httpcore.WriteError(str(error)) from error

    async def aclose(self) -> None:
        # As httpcore's AnyIO backend (`standard_compatible=False`): no wait for the server's
        # TLS close_notify, which a broken server could hold back.
        self._writer.transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self._tls is not None or server_hostname is None:  # no proxy tunnels here
            raise httpcore.ConnectError("TLS needs a plain connection and a server name")
        try:
            async with asyncio.timeout(_clamp(timeout, httpcore.ConnectTimeout)):
                tls = await TlsStream.handshake(
                    self._reader, self._writer, ssl_context, server_hostname
                )
        except TimeoutError as error:
            await self.aclose()
            raise httpcore.ConnectTimeout(str(error) or "TLS handshake timed out") from error
        except OSError as error:  # ssl.SSLError included
            await self.aclose()
            raise httpcore.ConnectError(str(error)) from error
        return _AsyncioStream(self._reader, self._writer, tls)

    def get_extra_info(self, info: str) -> object:
        if info == "ssl_object":
            return None if self._tls is None else self._tls.ssl_object
        if info == "is_readable":  # httpcore asks of idle pooled connections; none are kept
            return self._reader.at_eof()
        name = {"client_addr": "sockname", "server_addr": "peername"}.get(info, info)
        return self._writer.get_extra_info(name)


# --- where connections go ------------------------------------------------------------------------

# Remapping happens in httpcore's network backend, the one place that only opens TCP
# connections: the URL, the Host header, SNI (httpcore sends the URL's host) and the
# certificate's name check all stay `mta-sts.<domain>`, and connections stay pooled by that
# name. The alternatives were worse: rewriting the URL to the address with an `sni_hostname`
# extension pools connections by address (a connection made for one domain's SNI could carry
# another domain's request) and reports the wrong URL; patching name resolution is
# process-wide; `verify=False` plus a hand-made check would be a second, weaker TLS stack.


class _Backend(httpcore.NetworkBackend):
    def __init__(self, connect_to: ConnectTargets) -> None:
        self._inner = httpcore.SyncBackend()
        self._connect_to = connect_to

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        # The system resolver's own lookup (inside create_connection) is not bounded by
        # the timeout; the async backend's is.
        address, to_port = connect_target(self._connect_to, host, port)
        remaining = _clamp(timeout, httpcore.ConnectTimeout)
        inner = self._inner.connect_tcp(address, to_port, remaining, local_address, socket_options)
        return _DeadlineStream(inner)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, connect_to: ConnectTargets) -> None:
        self._connect_to = connect_to

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address, to_port = connect_target(self._connect_to, host, port)
        try:
            async with asyncio.timeout(_clamp(timeout, httpcore.ConnectTimeout)):
                reader, writer = await asyncio.open_connection(
                    address, to_port, local_addr=(local_address, 0) if local_address else None
                )
        except TimeoutError as error:
            raise httpcore.ConnectTimeout(str(error) or "connect timed out") from error
        except OSError as error:  # socket.gaierror included: the name did not resolve
            raise httpcore.ConnectError(str(error)) from error
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return _AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


# httpx 0.28 has no public way to hand its transport an httpcore network backend. The
# transport's connection pool is its only state, so it is replaced right after construction;
# everything else (request conversion, mapping httpcore's errors to httpx's, streaming) stays
# httpx's own code. httpx is pinned; the integration tests reach the local world only through
# the remap, so they fail loudly if an upgrade breaks this. Keep-alive is off: each fetch gets
# a fresh connection and handshake, as a sender's does.


class _Transport(httpx.HTTPTransport):
    def __init__(self, context: ssl.SSLContext, connect_to: ConnectTargets) -> None:
        super().__init__(verify=context, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context, max_keepalive_connections=0, network_backend=_Backend(connect_to)
        )


class _ConnectionPerRequest(httpcore.AsyncConnectionPool):
    """Each request on a connection of its own, closed with its response. httpcore's pool
    scans every connection it holds to place each request, a cost that grows with the fetches
    in flight; with keep-alive off there is nothing to place, and the fetcher bounds the
    fetches in flight itself."""

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        connection = self.create_connection(request.url.origin)
        try:
            response = await connection.handle_async_request(request)
        except BaseException:
            await connection.aclose()
            raise
        return httpcore.Response(
            status=response.status,
            headers=response.headers,
            content=_ClosingStream(response.stream, connection),
            extensions=response.extensions,
        )


class _ClosingStream:
    """A response body that closes its connection when it is closed."""

    def __init__(
        self,
        stream: Iterable[bytes] | AsyncIterable[bytes],
        connection: httpcore.AsyncConnectionInterface,
    ) -> None:
        if not isinstance(stream, AsyncIterable):
            raise TypeError("an async connection gave a sync body")
        self._stream = stream
        self._connection = connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        try:
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                await close()
        finally:
            await self._connection.aclose()


class _AsyncTransport(httpx.AsyncHTTPTransport):
    def __init__(self, context: ssl.SSLContext, connect_to: ConnectTargets) -> None:
        super().__init__(verify=context, trust_env=False)
        self._pool = _ConnectionPerRequest(
            ssl_context=context,
            max_keepalive_connections=0,
            network_backend=_AsyncBackend(connect_to),
        )


# --- the fetchers --------------------------------------------------------------------------------


def trust_context(ca_bundle: str | Path | None = None) -> ssl.SSLContext:
    """A TLS 1.2+ client context that checks chains and host names: against `ca_bundle`
    only when given, else the system's trust store."""
    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _strict(context: ssl.SSLContext | None, ca_bundle: str | Path | None) -> ssl.SSLContext:
    if context is None:
        return trust_context(ca_bundle)
    if context.verify_mode is not ssl.CERT_REQUIRED or not context.check_hostname:
        # A sender checks the certificate; a fetcher that does not would report lies.
        raise ValueError("the ssl context must require certificates and check host names")
    return context


class _Settings(msgspec.Struct, frozen=True):
    context: ssl.SSLContext
    connect_to: dict[str, tuple[str, int]]
    timeout: float
    max_bytes: int


def _settings(
    ssl_context: ssl.SSLContext | None,
    ca_bundle: str | Path | None,
    connect_to: ConnectTargets | None,
    timeout: float,
    max_bytes: int,
) -> _Settings:
    if timeout <= 0 or max_bytes < 0:
        raise ValueError("timeout must be positive and max_bytes not negative")
    targets = {name.rstrip(".").lower(): target for name, target in (connect_to or {}).items()}
    return _Settings(_strict(ssl_context, ca_bundle), targets, timeout, max_bytes)


class HttpsPolicyFetcher(PolicyFetcher):
    """Fetches policies one at a time (the deploy gate's `PolicyFetcher`).

    `connect_to` maps host names (or `*`) to the (address, port) to connect to instead of
    what DNS says; everything else about the fetch is unchanged. `transport` replaces the
    network entirely (tests).
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        ca_bundle: str | Path | None = None,
        connect_to: ConnectTargets | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = POLICY_SIZE_LIMIT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._settings = _settings(ssl_context, ca_bundle, connect_to, timeout, max_bytes)
        s = self._settings
        self._client = httpx.Client(
            transport=transport or _Transport(s.context, s.connect_to),
            timeout=s.timeout,
            follow_redirects=False,
            trust_env=False,
            headers=REQUEST_HEADERS,
        )

    def fetch(self, domain: str) -> FetchedPolicy:
        url = _url_or_refusal(domain)
        if isinstance(url, FetchedPolicy):
            return url
        try:
            with _deadline(self._settings.timeout):
                return self._get(url)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            return _judge_error(url, error, self._settings.timeout)

    def _get(self, url: str) -> FetchedPolicy:
        with self._client.stream("GET", url) as response:
            verdict = _judge_head(url, response, self._settings.max_bytes)
            if verdict is not None:
                return verdict
            body = _Body(url, response, self._settings.max_bytes)
            for chunk in response.iter_bytes():
                if not body.add(chunk):
                    break  # leaving the block closes the connection mid-body
            return body.result()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncHttpsPolicyFetcher:
    """The same fetch for asyncio, for checking many domains at once: at most
    `max_concurrency` fetches run together, and each one's deadline starts when it does."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        ca_bundle: str | Path | None = None,
        connect_to: ConnectTargets | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = POLICY_SIZE_LIMIT,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._settings = _settings(ssl_context, ca_bundle, connect_to, timeout, max_bytes)
        s = self._settings
        self._limit = asyncio.Semaphore(max_concurrency)
        # The transport alone, without an httpx client: a client adds what a policy fetch must
        # not have (redirect handling, a cookie jar shared by every domain's fetch; in Lambda,
        # X-Ray's patched client would also send a trace header to the domain's server) and, with
        # httpcore's pool, cost about as much CPU per fetch as the TLS handshake. The request
        # carries what a client would add.
        self._transport = transport or _AsyncTransport(s.context, s.connect_to)
        self._extensions = {"timeout": httpx.Timeout(s.timeout).as_dict()}

    async def fetch(self, domain: str) -> FetchedPolicy:
        url = _url_or_refusal(domain)
        if isinstance(url, FetchedPolicy):
            return url
        async with self._limit:
            try:
                with _deadline(self._settings.timeout):
                    return await self._get(url)
            except (httpx.HTTPError, httpx.InvalidURL) as error:
                return _judge_error(url, error, self._settings.timeout)

    async def fetch_many(self, domains: Iterable[str]) -> list[FetchedPolicy]:
        """Every domain's fetch, in the order given."""
        return list(await asyncio.gather(*(self.fetch(d) for d in domains)))

    async def _get(self, url: str) -> FetchedPolicy:
        request = httpx.Request("GET", url, headers=REQUEST_HEADERS, extensions=self._extensions)
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            verdict = _judge_head(url, response, self._settings.max_bytes)
            if verdict is not None:
                return verdict
            body = _Body(url, response, self._settings.max_bytes)
            async for chunk in response.aiter_bytes():
                if not body.add(chunk):
                    break  # closing the response closes the connection mid-body
            return body.result()
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


# --- the deploy gate -----------------------------------------------------------------------------


def wait_until_served(
    fetcher: PolicyFetcher,
    domain: str,
    expected: bytes,
    *,
    attempts: int = 10,
    backoff: float = 2.0,
    max_delay: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchedPolicy:
    """Fetch until the served bytes are `expected` (RFC 8461 §8.1: the new policy must be live
    before its id is published); the matching fetch, or PolicyNotServedError after `attempts`
    fetches, waiting `backoff` seconds, then twice as long each time, at most `max_delay`."""
    delays = backoff_delays(attempts, backoff, max_delay)
    last = fetcher.fetch(domain)
    for delay in delays:
        if is_served(last, expected):
            return last
        sleep(delay)
        last = fetcher.fetch(domain)
    if is_served(last, expected):
        return last
    raise PolicyNotServedError(
        f"mta-sts.{domain} did not serve the expected policy in {attempts} attempt(s); "
        f"last: {describe(last)}",
        domain,
        last,
        attempts,
    )
