"""The MX probe against the world's SMTP servers, one per misbehaviour, over real sockets."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from mtasts.smtp_probe import (
    CERTIFICATE_EXPIRED,
    CERTIFICATE_INVALID,
    STARTTLS_MISSING,
    UNREACHABLE,
    MxProbe,
    probe_mx,
    strict_client_context,
)
from mtasts_local.config import MxBehaviour
from mtasts_local.pki import LocalPki
from mtasts_local.smtp_server import LocalMxServer, MailSink

HOSTS = {behaviour: f"mx-{behaviour.value}.probe.test" for behaviour in MxBehaviour}


@pytest.fixture(scope="module")
def pki() -> LocalPki:
    return LocalPki()


@pytest.fixture(scope="module")
def servers(pki: LocalPki) -> Iterator[dict[MxBehaviour, LocalMxServer]]:
    sink = MailSink()
    running = {b: LocalMxServer(name, b, pki, sink).start() for b, name in HOSTS.items()}
    yield running
    for server in running.values():
        server.stop()
    assert len(sink) == 0  # a probe never sends mail


@pytest.fixture(scope="module")
def ca_bundle(pki: LocalPki, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(pki.write_ca_bundle(tmp_path_factory.mktemp("ca") / "ca.pem"))


def probe(servers: dict[MxBehaviour, LocalMxServer], ca: str, behaviour: MxBehaviour) -> MxProbe:
    server = servers[behaviour]
    targets = {server.host_name: (server.bind, server.port)}
    return asyncio.run(
        probe_mx(server.host_name, strict_client_context(ca), connect_to=targets, timeout=5)
    )


def test_a_good_host_passes_with_tls_1_2_or_later_and_its_expiry(servers, ca_bundle) -> None:
    result = probe(servers, ca_bundle, MxBehaviour.OK)
    assert result.ok and result.starttls and result.error is None
    assert result.tls_version in ("TLSv1.2", "TLSv1.3")
    days = result.days_left(datetime.now(UTC))
    assert days is not None and days > 30


@pytest.mark.parametrize(
    ("behaviour", "code", "offered"),
    [
        (MxBehaviour.EXPIRED_CERT, CERTIFICATE_EXPIRED, True),
        (MxBehaviour.WRONG_NAME_CERT, CERTIFICATE_INVALID, True),
        (MxBehaviour.UNTRUSTED_CERT, CERTIFICATE_INVALID, True),
        (MxBehaviour.NO_STARTTLS, STARTTLS_MISSING, False),
    ],
    ids=str,
)
def test_each_broken_host_gets_its_code(servers, ca_bundle, behaviour, code, offered) -> None:
    result = probe(servers, ca_bundle, behaviour)
    assert result.error_code == code and not result.ok
    assert result.starttls is offered
    assert HOSTS[behaviour] in (result.error or "")


def test_a_closed_port_is_unreachable() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = asyncio.run(
        probe_mx(
            "mx.closed.test",
            strict_client_context(),
            connect_to={"mx.closed.test": ("127.0.0.1", port)},
            timeout=2,
        )
    )
    assert result.error_code == UNREACHABLE and "cannot connect" in (result.error or "")


def test_a_silent_server_hits_the_deadline() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    try:
        result = asyncio.run(
            probe_mx(
                "mx.silent.test",
                strict_client_context(),
                connect_to={"mx.silent.test": listener.getsockname()},
                timeout=0.5,
            )
        )
    finally:
        thread.join(2)
        for connection in accepted:
            connection.close()
        listener.close()
    assert result.error_code == UNREACHABLE and "within 0.5 s" in (result.error or "")


def test_one_any_name_server_presents_a_valid_certificate_for_each_mx_name(
    pki: LocalPki, ca_bundle: str
) -> None:
    sink = MailSink()
    with LocalMxServer("mx.fleet.test", MxBehaviour.OK, pki, sink, any_name=True) as server:
        names = ("mx1.a.example", "mx2.b.example")
        targets = {name: (server.bind, server.port) for name in names}

        async def both() -> list[MxProbe]:
            context = strict_client_context(ca_bundle)
            return [await probe_mx(n, context, connect_to=targets, timeout=5) for n in names]

        results = asyncio.run(both())
    assert [(r.host, r.ok) for r in results] == [(n, True) for n in names]


# --- hosts that misbehave after STARTTLS: a scripted server on a raw socket ----------------------

Script = Callable[[socket.socket, "ScriptedMx"], None]


class ScriptedMx:
    """One SMTP session on a real socket: banner, EHLO, STARTTLS, then `after_starttls` with the
    raw connection (the TLS part is the script's to play). `heard`: what the client said."""

    def __init__(self, after_starttls: Script) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.after_starttls = after_starttls
        self.heard: list[bytes] = []
        self.released = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.settimeout(5)
            stream = connection.makefile("rb")
            connection.sendall(b"220 mx.scripted.test ESMTP\r\n")
            self.heard.append(stream.readline())
            connection.sendall(b"250-mx.scripted.test\r\n250 STARTTLS\r\n")
            self.heard.append(stream.readline())
            connection.sendall(b"220 ready\r\n")
            self.after_starttls(connection, self)

    def probe(self, ca_bundle: str) -> MxProbe:
        targets = {"mx.scripted.test": self.listener.getsockname()}
        context = strict_client_context(ca_bundle)
        return asyncio.run(probe_mx("mx.scripted.test", context, connect_to=targets, timeout=5))

    def close(self) -> None:
        self.released.set()
        self.thread.join(10)
        self.listener.close()


def scripted(script: Script, ca_bundle: str) -> tuple[MxProbe, list[bytes], float]:
    """The probe's outcome, what the server heard, and how long the probe took."""
    mx = ScriptedMx(script)
    try:
        started = time.monotonic()
        outcome = mx.probe(ca_bundle)
        elapsed = time.monotonic() - started
    finally:
        mx.close()
    return outcome, mx.heard, elapsed


def over_tls(pki: LocalPki, connection: socket.socket) -> ssl.SSLSocket:
    context = pki.server_context(("mx.scripted.test",))
    return context.wrap_socket(connection, server_side=True)


def test_a_host_that_drops_the_connection_in_the_handshake_is_unreachable(ca_bundle) -> None:
    def drop(connection: socket.socket, _: ScriptedMx) -> None:
        connection.recv(4096)  # the client hello, unanswered

    outcome, _, _ = scripted(drop, ca_bundle)

    assert outcome.error_code == UNREACHABLE and not outcome.starttls
    assert "closed the connection during the TLS handshake" in (outcome.error or "")


def test_the_probe_says_quit_over_tls_waits_for_the_reply_and_closes(pki, ca_bundle) -> None:
    def polite(connection: socket.socket, mx: ScriptedMx) -> None:
        tls = over_tls(pki, connection)
        mx.heard.append(tls.recv(4096))
        tls.sendall(b"221 bye\r\n")
        mx.heard.append(tls.recv(4096))  # b"": the client's close_notify

    outcome, heard, _ = scripted(polite, ca_bundle)

    assert outcome.ok and outcome.starttls
    assert heard == [b"EHLO mtasts-autopilot.invalid\r\n", b"STARTTLS\r\n", b"QUIT\r\n", b""]


def test_a_host_mute_after_quit_keeps_its_good_outcome_and_the_probe_ends(
    pki, ca_bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mtasts.smtp_probe.GOODBYE_TIMEOUT", 0.3)

    def mute(connection: socket.socket, mx: ScriptedMx) -> None:
        tls = over_tls(pki, connection)
        mx.heard.append(tls.recv(4096))
        mx.released.wait(10)  # holds the connection open and says nothing

    outcome, heard, elapsed = scripted(mute, ca_bundle)

    assert outcome.ok and heard[-1] == b"QUIT\r\n"
    assert elapsed < 3  # the goodbye's own bound, not the probe's 5 s
