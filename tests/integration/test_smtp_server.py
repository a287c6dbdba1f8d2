"""The world's MX hosts over real sockets: STARTTLS, certificate checks as an RFC 8461 sender
makes them, each misbehaviour seen as the RFC 8460 result type a reporter would write."""

from __future__ import annotations

import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mtasts.report import KNOWN_RESULT_TYPES
from mtasts_local.config import MxBehaviour
from mtasts_local.pki import LocalPki
from mtasts_local.smtp_server import (
    DeliveryError,
    LocalMxServer,
    MailSink,
    SmtpServerError,
    TlsResultType,
    deliver,
)

MESSAGE = (
    b"From: Giant Mail <alerts@giantmail.test>\r\n"
    b"To: postmaster@selfhosted.example\r\n"
    b"Cc: Admin <admin@selfhosted.example>\r\n"
    b"Subject: hello over STARTTLS\r\n"
    b"\r\n"
    b"Delivered by the local world.\r\n"
    b".A line that starts with a dot survives dot-stuffing.\r\n"
)
HOSTS = {behaviour: f"mx-{behaviour.value}.smtp.test" for behaviour in MxBehaviour}
BROKEN = [
    (MxBehaviour.EXPIRED_CERT, TlsResultType.CERTIFICATE_EXPIRED),
    (MxBehaviour.WRONG_NAME_CERT, TlsResultType.CERTIFICATE_HOST_MISMATCH),
    (MxBehaviour.UNTRUSTED_CERT, TlsResultType.CERTIFICATE_NOT_TRUSTED),
    (MxBehaviour.NO_STARTTLS, TlsResultType.STARTTLS_NOT_SUPPORTED),
]


@pytest.fixture(scope="module")
def pki() -> LocalPki:
    return LocalPki()


@pytest.fixture(scope="module")
def sink() -> MailSink:
    return MailSink()


@pytest.fixture(scope="module")
def servers(pki: LocalPki, sink: MailSink) -> Iterator[dict[MxBehaviour, LocalMxServer]]:
    running = {b: LocalMxServer(name, b, pki, sink).start() for b, name in HOSTS.items()}
    yield running
    for server in running.values():
        server.stop()


@pytest.fixture(autouse=True)
def _empty_sink(sink: MailSink) -> None:
    sink.clear()


def send(
    servers: dict[MxBehaviour, LocalMxServer],
    pki: LocalPki,
    behaviour: MxBehaviour,
    require_tls: bool = True,
):
    server = servers[behaviour]
    context = pki.client_context()
    return deliver(MESSAGE, server.host_name, server.bind, server.port, context, require_tls)


def ehlo_extensions(server: LocalMxServer) -> dict[str, str]:
    with smtplib.SMTP(server.bind, server.port, timeout=5) as client:
        client.ehlo("sender.giantmail.test")
        return dict(client.esmtp_features)


# --- delivery as a checking sender ---------------------------------------------------------------


def test_ok_host_takes_the_mail_over_verified_tls(servers, pki, sink) -> None:
    result = send(servers, pki, MxBehaviour.OK)

    assert result.delivered and result.tls and result.tls_ok
    assert result.result_type is None
    assert result.receiving_mx_helo == HOSTS[MxBehaviour.OK]
    (mail,) = sink.messages()
    assert mail.mx_host == HOSTS[MxBehaviour.OK]
    assert mail.tls is True
    assert mail.sni == HOSTS[MxBehaviour.OK]
    assert mail.mail_from == "alerts@giantmail.test"
    assert mail.rcpt_tos == ("postmaster@selfhosted.example", "admin@selfhosted.example")
    assert mail.data == MESSAGE


@pytest.mark.parametrize(("behaviour", "result_type"), BROKEN, ids=lambda v: str(v))
def test_a_checking_sender_refuses_a_broken_host(servers, pki, sink, behaviour, result_type):
    result = send(servers, pki, behaviour)

    assert result.result_type is result_type
    assert not result.delivered and not result.tls and not result.tls_ok
    assert result.additional_information
    assert result.mx_host == HOSTS[behaviour]
    assert result.receiving_ip == "127.0.0.1"
    assert result.receiving_mx_helo == HOSTS[behaviour]
    assert sink.messages() == []


@pytest.mark.parametrize(("behaviour", "result_type"), BROKEN, ids=lambda v: str(v))
def test_a_testing_mode_sender_delivers_anyway_and_keeps_the_failure(
    servers, pki, sink, behaviour, result_type
):
    result = send(servers, pki, behaviour, require_tls=False)

    starttls_offered = behaviour is not MxBehaviour.NO_STARTTLS
    assert result.delivered and result.result_type is result_type
    assert result.tls is starttls_offered
    (mail,) = sink.messages(HOSTS[behaviour])
    assert mail.tls is starttls_offered


def test_result_types_are_rfc_8460_ones() -> None:
    assert {t.value for t in TlsResultType} <= KNOWN_RESULT_TYPES


def test_only_a_no_starttls_host_leaves_starttls_out_of_ehlo(servers) -> None:
    offers = {b: "starttls" in ehlo_extensions(s) for b, s in servers.items()}
    assert offers == {b: b is not MxBehaviour.NO_STARTTLS for b in MxBehaviour}


def test_the_sink_keeps_mail_per_host_and_clears(servers, pki, sink) -> None:
    send(servers, pki, MxBehaviour.OK)
    send(servers, pki, MxBehaviour.NO_STARTTLS, require_tls=False)

    assert len(sink) == 2
    assert [m.tls for m in sink.messages(HOSTS[MxBehaviour.NO_STARTTLS])] == [False]
    sink.clear()
    assert sink.messages() == []


def test_envelope_can_be_given_explicitly(servers, pki, sink) -> None:
    server = servers[MxBehaviour.OK]
    deliver(
        MESSAGE,
        server.host_name,
        server.bind,
        server.port,
        pki.client_context(),
        mail_from="",
        rcpt_to=["tls-reports@selfhosted.example"],
    )
    (mail,) = sink.messages()
    assert (mail.mail_from, mail.rcpt_tos) == ("", ("tls-reports@selfhosted.example",))


def test_a_context_that_does_not_check_names_is_refused(servers) -> None:
    lax = ssl.create_default_context()
    lax.check_hostname = False
    server = servers[MxBehaviour.OK]
    with pytest.raises(ValueError, match="host names"):
        deliver(MESSAGE, server.host_name, server.bind, server.port, lax)


def test_a_host_nobody_listens_on_is_a_delivery_error(pki) -> None:
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        with pytest.raises(DeliveryError, match="cannot connect"):
            deliver(MESSAGE, "mx.nowhere.test", "127.0.0.1", port, pki.client_context())


# --- real tools ----------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not on PATH")
def test_openssl_s_client_verifies_an_ok_host(servers, pki, tmp_path: Path) -> None:
    bundle = pki.write_ca_bundle(tmp_path / "ca.pem")
    server = servers[MxBehaviour.OK]
    command = ["openssl", "s_client", "-starttls", "smtp"]
    command += ["-connect", f"{server.bind}:{server.port}", "-servername", server.host_name]
    command += ["-CAfile", str(bundle), "-verify_hostname", server.host_name]
    command += ["-verify_return_error"]

    done = subprocess.run(command, input=b"", capture_output=True, timeout=10, check=False)

    output = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert "Verify return code: 0 (ok)" in output
    assert f"Verified peername: {server.host_name}" in output


# --- lifecycle -----------------------------------------------------------------------------------


def test_stop_leaves_no_thread_even_with_a_session_open(pki) -> None:
    before = set(threading.enumerate())
    server = LocalMxServer("mx1.lifecycle.test", MxBehaviour.OK, pki, MailSink()).start()
    assert set(threading.enumerate()) != before
    with socket.create_connection((server.bind, server.port), timeout=5) as idle:
        assert idle.recv(100).startswith(b"220 mx1.lifecycle.test")
        server.stop()
        assert set(threading.enumerate()) == before
        assert idle.recv(100) == b""  # the server closed the session
    server.stop()  # stopping twice is harmless


def test_each_server_reports_its_own_ephemeral_port(servers) -> None:
    ports = {server.port for server in servers.values()}
    assert len(ports) == len(servers) and 0 not in ports


def test_a_busy_port_fails_at_once_and_leaves_nothing_behind(servers, pki) -> None:
    before = set(threading.enumerate())
    taken = servers[MxBehaviour.OK].port
    clash = LocalMxServer("mx2.lifecycle.test", MxBehaviour.OK, pki, MailSink(), port=taken)
    with pytest.raises(SmtpServerError, match=f"cannot listen on 127.0.0.1:{taken}"):
        clash.start()
    assert set(threading.enumerate()) == before


def test_a_stopped_server_has_no_port_and_can_start_again(pki) -> None:
    server = LocalMxServer("mx3.lifecycle.test", MxBehaviour.OK, pki, MailSink())
    with pytest.raises(SmtpServerError, match="not running"):
        _ = server.port
    with server:
        with pytest.raises(SmtpServerError, match="already running"):
            server.start()
    with server:
        assert server.port > 0


def test_latency_is_a_round_trip_on_every_exchange_starttls_included(pki) -> None:
    latency = 0.2

    def reply(stream: socket.socket) -> bytes:  # one whole reply, however many lines
        data = b""
        while not re.search(rb"(^|\n)\d{3} [^\n]*\r\n$", data):
            data += stream.recv(4096)
        return data

    with LocalMxServer("mx1.far.test", MxBehaviour.OK, pki, MailSink(), latency=latency) as far:
        started = time.monotonic()
        with socket.create_connection((far.bind, far.port), timeout=5) as raw:
            replies = [reply(raw)]
            marks = [time.monotonic()]
            for command in (b"EHLO probe.test\r\n", b"STARTTLS\r\n"):
                raw.sendall(command)
                replies.append(reply(raw))
                marks.append(time.monotonic())
            with pki.client_context().wrap_socket(raw, server_hostname="mx1.far.test") as tls:
                marks.append(time.monotonic())
                tls.sendall(b"EHLO probe.test\r\n")
                replies.append(reply(tls))
                marks.append(time.monotonic())

    assert [answer[:4] for answer in replies] == [b"220 ", b"250-", b"220 ", b"250-"]
    steps = [later - earlier for earlier, later in zip([started, *marks], marks, strict=False)]
    # banner, EHLO, STARTTLS, the handshake (TLS 1.3: one flight from the server), EHLO
    assert [round(step / latency) for step in steps] == [1, 1, 1, 1, 1], steps
