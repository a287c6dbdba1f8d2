"""TLS as a client on an open asyncio stream, driven through the ssl module's memory BIOs: the
same OpenSSL handshake, certificate chain and host name checks as asyncio's `start_tls` (the
`SSLContext` decides them), without asyncio's TLS protocol layer.

Why: a fleet run holds hundreds of TLS connections at once, and asyncio's layer gives each one
a 256 KiB receive buffer of its own (about 0.8 MB per domain in flight, three connections each)
and runs a state machine in Python around every record. Here a connection holds what its
stream reader has buffered, and a handshake or a read is one loop around OpenSSL.

`TlsStream` serves both the MX probe (STARTTLS on an SMTP connection) and the policy fetch
(httpcore's network stream, in `policy_fetch`).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Final

READ_SIZE: Final = 64 * 1024  # bytes asked of the stream per read: several TLS records


class TlsStream:
    """One client TLS session on `reader`/`writer`, after a completed handshake."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        tls: ssl.SSLObject,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._tls = tls
        self._incoming = incoming
        self._outgoing = outgoing

    @classmethod
    async def handshake(
        cls,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        context: ssl.SSLContext,
        server_hostname: str,
    ) -> TlsStream:
        """Start TLS with SNI `server_hostname`; the context's checks decide. Raises what the
        ssl module raises (`ssl.SSLCertVerificationError` for a refused certificate), or
        `ConnectionResetError` when the peer closes before the handshake is done."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
        stream = cls(reader, writer, tls, incoming, outgoing)
        try:
            # The client's last flight waits for the first write (or read), to go out with it.
            await stream._drive(tls.do_handshake, send_now=False)
        except ssl.SSLEOFError as error:
            message = "the peer closed the connection during the TLS handshake"
            raise ConnectionResetError(message) from error
        return stream

    @property
    def ssl_object(self) -> ssl.SSLObject:
        return self._tls

    @property
    def writer(self) -> asyncio.StreamWriter:
        """The stream underneath (for its transport and extra info)."""
        return self._writer

    async def read(self, max_bytes: int) -> bytes:
        """Up to `max_bytes` of application data; b"" once the peer has closed."""
        try:
            return await self._drive(lambda: self._tls.read(max_bytes))
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""  # a close_notify, or a bare TCP close (httpcore judges the body)

    async def write(self, data: bytes) -> None:
        await self._drive(lambda: self._tls.write(data))
        await self._writer.drain()

    def close(self) -> None:
        """Send close_notify (without waiting for the peer's) and close the stream."""
        try:
            self._tls.unwrap()
        except ssl.SSLError:
            pass  # SSLWantReadError: ours is sent, the peer's is not awaited
        self._flush()
        self._writer.close()

    def abort(self) -> None:
        """Drop the connection at once, as a client that will not wait on a broken server."""
        self._writer.transport.abort()

    async def _drive[T](self, operation: Callable[[], T], send_now: bool = True) -> T:
        """Run `operation` until OpenSSL no longer needs bytes from the peer, sending what it
        produced before each wait for the peer, and at the end unless not `send_now`."""
        while True:
            try:
                result = operation()
            except ssl.SSLWantReadError:
                self._flush()
                if self._incoming.eof:  # OpenSSL wants more after the end: there is none
                    raise ssl.SSLEOFError("the peer closed the connection") from None
                data = await self._reader.read(READ_SIZE)
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
                continue
            if send_now:
                self._flush()
            return result

    def _flush(self) -> None:
        pending = self._outgoing.read()
        if pending:
            self._writer.write(pending)
