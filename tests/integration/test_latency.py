"""The distant peer of the local world's servers: what is held, in what order, and for how long.
(Integration only because an event loop opens a socket pair to wake itself.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mtasts_local.latency import DelayedTransport

LATENCY = 0.1


class RecordingTransport(asyncio.Transport):
    """Records what reaches the wire and when, on the loop's clock."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.sent: list[tuple[float, bytes | str]] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.sent.append((self.loop.time(), bytes(data)))

    def close(self) -> None:
        self.closed = True
        self.sent.append((self.loop.time(), "close"))

    def abort(self) -> None:
        self.closed = True
        self.sent.append((self.loop.time(), "abort"))

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("192.0.2.1", 25)}.get(name, default)


def run(scenario: Any) -> Any:
    return asyncio.run(scenario())


def test_writes_and_the_close_reach_the_wire_one_latency_late_in_order() -> None:
    async def scenario() -> tuple[float, RecordingTransport, DelayedTransport]:
        loop = asyncio.get_running_loop()
        wire = RecordingTransport(loop)
        held = DelayedTransport(wire, LATENCY, loop)
        start = loop.time()
        held.write(b"220 banner\r\n")
        held.writelines([b"250-a\r\n", b"250 b\r\n"])
        await asyncio.sleep(LATENCY / 2)
        held.write(bytearray(b"221 bye\r\n"))
        held.close()
        held.write(b"after the close")  # dropped, as a closing transport drops it
        assert held.is_closing() and not wire.closed
        assert held.get_write_buffer_size() == len(b"220 banner\r\n250-a\r\n250 b\r\n221 bye\r\n")
        await asyncio.sleep(LATENCY * 2)
        return start, wire, held

    start, wire, held = run(scenario)

    assert [item for _, item in wire.sent] == [
        b"220 banner\r\n250-a\r\n250 b\r\n",  # written in one burst: sent as one
        b"221 bye\r\n",
        "close",
    ]
    delays = [when - start for when, _ in wire.sent]
    assert LATENCY <= delays[0] < LATENCY * 1.4
    assert LATENCY * 1.5 <= delays[1] < LATENCY * 1.9
    assert delays[2] == pytest.approx(delays[1], abs=0.01)  # the close right behind
    assert held.get_write_buffer_size() == 0
    assert held.get_extra_info("peername") == ("192.0.2.1", 25)


def test_abort_drops_what_is_held_at_once() -> None:
    async def scenario() -> RecordingTransport:
        loop = asyncio.get_running_loop()
        wire = RecordingTransport(loop)
        held = DelayedTransport(wire, LATENCY, loop)
        held.write(b"never sent")
        held.abort()
        await asyncio.sleep(LATENCY * 2)
        return wire

    assert [item for _, item in run(scenario).sent] == ["abort"]


def test_what_is_held_for_a_peer_that_went_away_is_dropped() -> None:
    async def scenario() -> RecordingTransport:
        loop = asyncio.get_running_loop()
        wire = RecordingTransport(loop)
        held = DelayedTransport(wire, LATENCY, loop)
        held.write(b"too late")
        wire.closed = True  # connection lost meanwhile
        await asyncio.sleep(LATENCY * 2)
        return wire

    assert run(scenario).sent == []


def test_a_latency_must_be_positive() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        DelayedTransport(RecordingTransport(loop), 0, loop)

    with pytest.raises(ValueError, match="positive"):
        run(scenario)
