"""The listening sockets of the world's TCP servers (the Pages edge, the MX hosts)."""

from __future__ import annotations

import socket

# Not a small backlog: a burst of connections (the validator opens a few hundred at once)
# would overflow it, and each dropped SYN costs its client a 1 s retransmission.
LISTEN_BACKLOG = 1024


def listen_tcp(host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket listening on `host:port` (port 0: any free one). Raises
    OSError, closing the socket first."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP stated, not left 0: asyncio turns Nagle off only on sockets that say they are
    # TCP, and with Nagle on every multi-line reply waits out the peer's delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(LISTEN_BACKLOG)
    except OSError:
        listener.close()
        raise
    listener.setblocking(False)
    return listener
