"""A distant peer, for the servers of the local world: everything a server sends reaches the
client `latency` seconds late, so every exchange on a connection (the SMTP banner, each reply,
each flight of a TLS handshake, an HTTP response) costs the client one round trip of that
length, as on a real path. The client's own bytes are not held, so `latency` is the round trip.

The TCP handshake itself is not held (the kernel completes it before the server sees the
connection), so a real path of the same round trip would take one more per connection: a
server wrapped here looks a little nearer than such a path, never farther.

Held bytes go out in order, from one timer per connection (the event loop's timers are not
ordered among equal deadlines), and a close waits behind what was written before it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any

_BURST = 0.001  # what is due within this many seconds of the first goes out with it


class DelayedTransport(asyncio.Transport):
    """Wraps a server's transport; writes and the close reach the peer `latency` seconds late.
    Reading, flow control and the extra info are the wrapped transport's. `start_tls` (and
    aiosmtpd's STARTTLS) accept it, so a TLS layer above it is held the same way."""

    _start_tls_compatible = True  # what asyncio's start_tls asks of a transport

    def __init__(
        self, transport: asyncio.Transport, latency: float, loop: asyncio.AbstractEventLoop
    ) -> None:
        if latency <= 0:
            raise ValueError("latency must be positive")
        super().__init__()
        self._transport = transport
        self._latency = latency
        self._loop = loop
        self._held: deque[tuple[float, bytes | None]] = deque()  # None: the close
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False

    # --- what is held ------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        if not self._closing and data:
            self._hold(bytes(data))  # a copy: the caller may reuse its buffer

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview[Any]]) -> None:
        self.write(b"".join(list_of_data))

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._hold(None)

    def abort(self) -> None:
        self._closing = True
        self._held.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._closing or self._transport.is_closing()

    def can_write_eof(self) -> bool:
        return False  # a half-close would overtake the held bytes

    def get_write_buffer_size(self) -> int:
        held = sum(len(item) for _, item in self._held if item is not None)
        return held + self._transport.get_write_buffer_size()

    def _hold(self, item: bytes | None) -> None:
        self._held.append((self._loop.time() + self._latency, item))
        if self._timer is None:
            self._timer = self._loop.call_at(self._held[0][0], self._release)

    def _release(self) -> None:
        """Send what is due, as one write: what the server wrote in one burst (the lines of a
        reply, the records of a handshake flight) reaches the peer together, as it would off
        a real path, instead of one segment and one wake-up per piece."""
        self._timer = None
        due = self._loop.time() + _BURST
        burst: list[bytes] = []
        while self._held and self._held[0][0] <= due:
            _, item = self._held.popleft()
            if item is None:
                self._send(burst)
                self._transport.close()
                burst = []
            else:
                burst.append(item)
        self._send(burst)
        if self._held:
            self._timer = self._loop.call_at(self._held[0][0], self._release)

    def _send(self, burst: list[bytes]) -> None:
        if burst and not self._transport.is_closing():  # the peer may have gone meanwhile
            self._transport.write(b"".join(burst))

    # --- the wrapped transport's own ---------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()
