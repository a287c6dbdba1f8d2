"""What the running parts of the local world share: `start()` and `stop()` with use as a
context manager, and, for socket servers, waking their connections' threads on stop."""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Any, Self


class Service:
    """Subclasses define `start` (returning self) and `stop` (idempotent)."""

    __slots__ = ()

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class LiveConnections:
    """For `socketserver` servers: remember each open connection, so that stopping can wake the
    threads still serving them (their reads return end-of-file) instead of waiting for
    timeouts. Put it before the server class in the bases and call `_track_connections()` in
    `__init__`."""

    _live: set[socket.socket]
    _live_lock: threading.Lock

    def _track_connections(self) -> None:
        self._live = set()
        self._live_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._live_lock:
            self._live.add(request)
        super().process_request(request, client_address)  # type: ignore[misc]

    def shutdown_request(self, request: Any) -> None:
        with self._live_lock:
            self._live.discard(request)
        super().shutdown_request(request)  # type: ignore[misc]

    def close_live_connections(self) -> None:
        with self._live_lock:
            live = list(self._live)
        for connection in live:
            try:
                # The plain socket's shutdown: under TLS the TLS object stays intact for the
                # thread still using it, which then sees end-of-file.
                socket.socket.shutdown(connection, socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its own thread
