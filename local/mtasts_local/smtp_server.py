"""The world's MX hosts (one aiosmtpd server each, offering STARTTLS, some broken on purpose),
the sink that keeps what they receive, and `deliver`: how the world's senders hand them mail.

    sink = MailSink()
    with LocalMxServer("mx1.selfhosted.example", MxBehaviour.OK, pki, sink) as mx:
        result = deliver(message, "mx1.selfhosted.example", "127.0.0.1", mx.port,
                         pki.client_context())
    assert result.delivered and sink.messages()[0].tls

STARTTLS is offered in plain text on connect (RFC 3207), never as implicit TLS: aiosmtpd's
Controller `ssl_context` would wrap the whole connection, so the context goes to the SMTP
protocol as `tls_context` instead. Each server has its own thread and event loop (the
Controller's); `stop()` joins it.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import socket
import ssl
import threading
import weakref
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from enum import StrEnum
from typing import Any, NamedTuple, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session, TLSSetupException

from mtasts_local.config import MxBehaviour
from mtasts_local.latency import DelayedTransport
from mtasts_local.listening import listen_tcp
from mtasts_local.pki import CertKind, LocalPki
from mtasts_local.service import Service

DEFAULT_TIMEOUT = 10.0
# What the world's senders say in EHLO unless told otherwise; a fixed name, because smtplib's
# default (socket.getfqdn) asks the host's resolver, which may be slow or absent.
DEFAULT_HELO = "mta.sender.test"

_log = logging.getLogger(__name__)

CERT_KIND: dict[MxBehaviour, CertKind | None] = {
    MxBehaviour.OK: CertKind.VALID,
    MxBehaviour.EXPIRED_CERT: CertKind.EXPIRED,
    MxBehaviour.WRONG_NAME_CERT: CertKind.WRONG_NAME,
    MxBehaviour.UNTRUSTED_CERT: CertKind.UNTRUSTED,
    MxBehaviour.EXPIRING_CERT: CertKind.EXPIRING,
    MxBehaviour.NO_STARTTLS: None,  # no certificate: EHLO does not offer STARTTLS
}


class SmtpWorldError(Exception):
    """Base class for the local SMTP world's errors."""


class SmtpServerError(SmtpWorldError):
    """An MX server cannot start, listen where asked, or was used while stopped."""


class DeliveryError(SmtpWorldError):
    """Mail could not be handed over for a reason that is not TLS (refused, rejected, ...)."""


# --- the sink ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    mx_host: str  # the MX host name of the server that accepted it
    mail_from: str  # "" for the null reverse-path
    rcpt_tos: tuple[str, ...]
    data: bytes  # the message exactly as received after DATA
    tls: bool  # the session was upgraded with STARTTLS before the mail was sent
    sni: str | None  # the server name the sender asked for in its TLS ClientHello


class MailSink:
    """Every message the world's MX hosts accepted, in order; safe to share between servers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mail: list[ReceivedMail] = []

    def add(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._mail.append(mail)

    def messages(self, mx_host: str | None = None) -> list[ReceivedMail]:
        with self._lock:
            return [m for m in self._mail if mx_host is None or m.mx_host == mx_host.lower()]

    def clear(self) -> None:
        with self._lock:
            self._mail.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._mail)


# --- the MX servers ------------------------------------------------------------------------------


class _SinkHandler:
    """The aiosmtpd handler: every message is accepted into the sink."""

    def __init__(self, mx_host: str, sink: MailSink, sni: _SniMemory) -> None:
        self._mx_host = mx_host
        self._sink = sink
        self._sni = sni

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        tls = session.ssl is not None
        ssl_object = session.ssl.get("ssl_object") if session.ssl else None
        mail = ReceivedMail(
            mx_host=self._mx_host,
            mail_from=_reverse_path(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=envelope.original_content or b"",
            tls=tls,
            sni=self._sni.get(ssl_object) if ssl_object is not None else None,
        )
        self._sink.add(mail)
        return "250 2.0.0 Message accepted for delivery"

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):
            # A sender refusing a broken certificate is what broken hosts are here for.
            _log.info("%s: TLS handshake failed: %s", self._mx_host, error.__cause__)
        else:
            _log.exception("%s: SMTP session failed", self._mx_host)
        return f"500 Error: ({type(error).__name__}) {error}"


def _reverse_path(mail_from: str | None) -> str:
    """aiosmtpd keeps the null reverse-path (`MAIL FROM:<>`) as "<>"; the sink says ""."""
    return "" if mail_from in (None, "<>") else mail_from


class _SniMemory:
    """The server name each TLS connection asked for, kept only as long as the connection."""

    def __init__(self) -> None:
        self._names: weakref.WeakKeyDictionary[ssl.SSLObject, str] = weakref.WeakKeyDictionary()

    def callback(self, connection: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        # Runs in the server's event loop thread, as does `get`: no lock needed.
        if name is not None:
            self._names[connection] = name

    def get(self, connection: ssl.SSLObject) -> str | None:
        return self._names.get(connection)


class _AnyNameSni(_SniMemory):
    """For `LocalMxServer(any_name=True)`: presents, per handshake, a certificate for whatever
    MX name the client asks for (SNI), as a provider's shared MX fleet does. One server then
    stands in for thousands of MX host names (the validator benchmark), each with its own
    certificate, where a wildcard could cover only one label under one domain."""

    def __init__(self, pki: LocalPki, kind: CertKind) -> None:
        super().__init__()
        self._pki = pki
        self._kind = kind
        self._contexts: dict[str, ssl.SSLContext] = {}  # event loop thread only: no lock

    def callback(self, connection: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        super().callback(connection, name, _)
        if name is not None:
            host = name.rstrip(".").lower()
            context = self._contexts.get(host)
            if context is None:
                context = self._contexts[host] = self._pki.server_context((host,), self._kind)
            connection.context = context


# The names `dir()` gives an `_Smtp`: the only ones aiosmtpd looks for in it.
_SMTP_MEMBERS = sorted(name for name in dir(SMTP) if name.startswith(("auth_", "smtp_")))


class _Smtp(SMTP):
    """aiosmtpd's SMTP session, optionally far away (a round trip of `latency` seconds on
    every exchange, STARTTLS's handshake included: for the validator benchmark), and cheaper
    to create: aiosmtpd finds its AUTH mechanisms and SMTP commands by listing every member of
    each new session (`inspect.getmembers`, `dir`), which was a tenth of the CPU of a whole
    session with STARTTLS. Its `dir()` lists only the names aiosmtpd looks for, which are the
    same for every session."""

    def __init__(self, handler: _SinkHandler, *, latency: float = 0.0, **kwargs: Any) -> None:
        self._latency = latency
        super().__init__(handler, **kwargs)

    def __dir__(self) -> list[str]:
        return _SMTP_MEMBERS

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The socket's own transport is held; after STARTTLS aiosmtpd hands this method the
        # TLS layer's, which writes through the held one already.
        if self._latency > 0 and self._original_transport is None:
            assert isinstance(transport, asyncio.Transport)
            transport = DelayedTransport(transport, self._latency, self.loop)
        super().connection_made(transport)


class _PreboundController(Controller):
    """A Controller serving on a socket bound before `start`, so a port-0 server knows its port
    and a busy port fails at once (aiosmtpd would otherwise only report it after its timeout)."""

    def __init__(
        self,
        listener: socket.socket,
        handler: _SinkHandler,
        server_hostname: str,
        tls_context: ssl.SSLContext | None,
        latency: float = 0.0,
    ) -> None:
        address, port = listener.getsockname()[:2]
        super().__init__(
            handler,
            hostname=address,
            port=port,
            server_hostname=server_hostname,  # the name in its 220 banner and EHLO reply
            ident="ESMTP local world",
            tls_context=tls_context,  # STARTTLS; the Controller's `ssl_context` is implicit TLS
        )
        self._listener = listener
        self._latency = latency

    def factory(self) -> SMTP:
        return _Smtp(self.handler, latency=self._latency, **self.SMTP_kwargs)

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self.loop.create_server(self._factory_invoker, sock=self._listener)


class LocalMxServer(Service):
    """One MX host's SMTP server, behaving as its `MxBehaviour` says."""

    def __init__(
        self,
        host_name: str,
        behaviour: MxBehaviour,
        pki: LocalPki,
        sink: MailSink,
        bind: str = "127.0.0.1",
        port: int = 0,
        *,
        any_name: bool = False,
        latency: float = 0.0,
    ) -> None:
        """`any_name`: present a certificate for any SNI name (see `_AnyNameSni`), not only
        for `host_name` (which a client without SNI still gets). `latency`: a round trip of
        this many seconds on every exchange (banner, replies, STARTTLS's handshake), as a
        sender far away sees a host (see `latency.DelayedTransport`)."""
        if latency < 0:
            raise ValueError("latency must not be negative")
        self.host_name = host_name.rstrip(".").lower()
        self.any_name = any_name
        self.latency = latency
        self.behaviour = behaviour
        self.bind = bind
        self._pki = pki
        self._sink = sink
        self._requested_port = port
        self._port: int | None = None
        self._controller: _PreboundController | None = None

    def start(self) -> Self:
        if self._controller is not None:
            raise SmtpServerError(f"the SMTP server for {self.host_name} is already running")
        listener = _listen(self.bind, self._requested_port)
        kind = CERT_KIND[self.behaviour]
        sni = _AnyNameSni(self._pki, kind) if self.any_name and kind else _SniMemory()
        controller = _PreboundController(
            listener,
            _SinkHandler(self.host_name, self._sink, sni),
            server_hostname=self.host_name,
            tls_context=self._tls_context(sni),
            latency=self.latency,
        )
        try:
            controller.start()
        except Exception as error:
            _abandon(controller, listener)
            raise SmtpServerError(f"the SMTP server for {self.host_name} did not start") from error
        self._controller = controller
        self._port = listener.getsockname()[1]
        return self

    def _tls_context(self, sni: _SniMemory) -> ssl.SSLContext | None:
        kind = CERT_KIND[self.behaviour]
        if kind is None:
            return None  # aiosmtpd then leaves STARTTLS out of its EHLO reply
        context = self._pki.server_context((self.host_name,), kind)
        context.sni_callback = sni.callback
        return context

    def stop(self) -> None:
        """Close the listener and every open session, and join the server's thread."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def port(self) -> int:
        if self._port is None or self._controller is None:
            raise SmtpServerError(f"the SMTP server for {self.host_name} is not running")
        return self._port


def _listen(address: str, port: int) -> socket.socket:
    try:
        return listen_tcp(address, port)
    except OSError as error:
        raise SmtpServerError(f"cannot listen on {address}:{port}: {error.strerror}") from error


def _abandon(controller: _PreboundController, listener: socket.socket) -> None:
    """Undo a start that failed half-way: no thread, socket or event loop may outlive it."""
    controller.stop(no_assert=True)
    if not controller.loop.is_closed():
        controller.loop.close()
    listener.close()


# --- delivering to an MX host, as a sender that checks TLS ---------------------------------------


class TlsResultType(StrEnum):
    """The RFC 8460 §4.3 result types a sending MTA can observe at an MX host."""

    STARTTLS_NOT_SUPPORTED = "starttls-not-supported"
    CERTIFICATE_HOST_MISMATCH = "certificate-host-mismatch"
    CERTIFICATE_EXPIRED = "certificate-expired"
    CERTIFICATE_NOT_TRUSTED = "certificate-not-trusted"
    VALIDATION_FAILURE = "validation-failure"


# OpenSSL X509_V_ERR_* codes, as ssl.SSLCertVerificationError.verify_code carries them.
_RESULT_BY_VERIFY_CODE = {
    10: TlsResultType.CERTIFICATE_EXPIRED,  # CERT_HAS_EXPIRED
    62: TlsResultType.CERTIFICATE_HOST_MISMATCH,  # HOSTNAME_MISMATCH
    2: TlsResultType.CERTIFICATE_NOT_TRUSTED,  # UNABLE_TO_GET_ISSUER_CERT
    18: TlsResultType.CERTIFICATE_NOT_TRUSTED,  # DEPTH_ZERO_SELF_SIGNED_CERT
    19: TlsResultType.CERTIFICATE_NOT_TRUSTED,  # SELF_SIGNED_CERT_IN_CHAIN
    20: TlsResultType.CERTIFICATE_NOT_TRUSTED,  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: TlsResultType.CERTIFICATE_NOT_TRUSTED,  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
}


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What happened at one MX host: enough for a truthful TLS-RPT failure detail."""

    mx_host: str
    receiving_ip: str
    port: int
    delivered: bool
    tls: bool  # the mail was delivered over a STARTTLS session
    result_type: TlsResultType | None  # None: STARTTLS with a valid certificate
    additional_information: str | None = None  # e.g. OpenSSL's reason
    receiving_mx_helo: str | None = None  # the name in the server's EHLO reply

    @property
    def tls_ok(self) -> bool:
        return self.result_type is None


class _TlsFailure(Exception):
    def __init__(self, result_type: TlsResultType, information: str) -> None:
        super().__init__(information)
        self.result_type = result_type
        self.information = information


@dataclass(slots=True)
class _Target:
    mx_host: str
    address: str
    port: int
    timeout: float
    helo_name: str  # what the sender says in EHLO
    mx_helo: str | None = None  # the MX's EHLO name, kept even when the session fails


class _Envelope(NamedTuple):
    mail_from: str
    rcpt_to: list[str]
    data: bytes


class _PinnedSmtp(smtplib.SMTP):
    """smtplib connecting to a given address while naming the MX host, so that STARTTLS sends
    it as SNI and checks the certificate against it (smtplib uses the name it connected to)."""

    def __init__(self, target: _Target) -> None:
        self._address = target.address
        super().__init__(target.mx_host, target.port, target.helo_name, timeout=target.timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self._address, port), timeout, self.source_address)


def deliver(
    message: bytes,
    mx_host: str,
    address: str,
    port: int,
    ca_context: ssl.SSLContext,
    require_tls: bool = True,
    *,
    mail_from: str | None = None,
    rcpt_to: Sequence[str] | None = None,
    helo_name: str = DEFAULT_HELO,
    timeout: float = DEFAULT_TIMEOUT,
) -> DeliveryResult:
    """Hand `message` to `mx_host` (reached at `address:port`) over STARTTLS, checking its
    certificate with `ca_context` and SNI = `mx_host`, as RFC 8461 §4.2 asks.

    `require_tls=True` is a sender with an enforced policy: a TLS failure means no delivery.
    `require_tls=False` is one in testing mode (§5): it reports the failure but delivers anyway,
    over unchecked TLS where offered and plain text where not. The envelope defaults to the
    message's From and To/Cc. Raises DeliveryError when the host refuses or rejects the mail.
    """
    if not ca_context.check_hostname or ca_context.verify_mode != ssl.CERT_REQUIRED:
        raise ValueError("ca_context must verify certificates and host names")
    envelope = _envelope(message, mail_from, rcpt_to)
    target = _Target(mx_host.rstrip(".").lower(), address, port, timeout, helo_name)
    try:
        _send(target, envelope, ca_context)
    except _TlsFailure as failure:
        if require_tls:
            return _result(target, delivered=False, tls=False, failure=failure)
        return _deliver_anyway(target, envelope, failure)
    return _result(target, delivered=True, tls=True)


def _deliver_anyway(target: _Target, envelope: _Envelope, failure: _TlsFailure) -> DeliveryResult:
    """A testing-mode sender: TLS without checks where offered, else plain text; the failure
    that a checking sender would have seen is still what it reports."""
    plain = failure.result_type is TlsResultType.STARTTLS_NOT_SUPPORTED
    try:
        _send(target, envelope, None if plain else _unchecked_context())
    except _TlsFailure:
        return _result(target, delivered=False, tls=False, failure=failure)
    return _result(target, delivered=True, tls=not plain, failure=failure)


def _send(target: _Target, envelope: _Envelope, tls: ssl.SSLContext | None) -> None:
    """One SMTP session: EHLO, then STARTTLS with `tls` (None: stay in plain text), the mail."""
    try:
        smtp = _PinnedSmtp(target)
    except OSError as error:
        raise DeliveryError(f"cannot connect to {target.mx_host}: {error}") from error
    try:
        smtp.ehlo()
        target.mx_helo = (
            smtp.ehlo_resp.split()[0].decode("ascii", "replace") if smtp.ehlo_resp else None
        )
        if tls is not None:
            _starttls(smtp, tls)
        smtp.sendmail(envelope.mail_from, envelope.rcpt_to, envelope.data)
        smtp.quit()
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(f"{target.mx_host} did not take the mail: {error}") from error
    finally:
        smtp.close()


def _starttls(smtp: _PinnedSmtp, context: ssl.SSLContext) -> None:
    if not smtp.has_extn("starttls"):
        raise _TlsFailure(TlsResultType.STARTTLS_NOT_SUPPORTED, "STARTTLS not offered in EHLO")
    try:
        smtp.starttls(context=context)
    except ssl.SSLCertVerificationError as error:
        kind = _RESULT_BY_VERIFY_CODE.get(error.verify_code, TlsResultType.VALIDATION_FAILURE)
        raise _TlsFailure(kind, error.verify_message) from error
    except ssl.SSLError as error:
        raise _TlsFailure(TlsResultType.VALIDATION_FAILURE, error.reason or str(error)) from error
    smtp.ehlo()


def _unchecked_context() -> ssl.SSLContext:
    """Opportunistic TLS, as a sender without an enforced policy uses it: encrypt, trust anyone."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _envelope(message: bytes, mail_from: str | None, rcpt_to: Sequence[str] | None) -> _Envelope:
    headers = BytesHeaderParser().parsebytes(message)
    if mail_from is None:
        senders = [address for _, address in getaddresses(headers.get_all("From", []))]
        mail_from = senders[0] if senders else ""
    if rcpt_to is None:
        fields = headers.get_all("To", []) + headers.get_all("Cc", [])
        rcpt_to = [address for _, address in getaddresses(fields) if address]
    if not rcpt_to:
        raise ValueError("no recipients: give rcpt_to or To/Cc headers")
    return _Envelope(mail_from, list(rcpt_to), message)


def _result(
    target: _Target, *, delivered: bool, tls: bool, failure: _TlsFailure | None = None
) -> DeliveryResult:
    return DeliveryResult(
        mx_host=target.mx_host,
        receiving_ip=target.address,
        port=target.port,
        delivered=delivered,
        tls=tls,
        result_type=failure.result_type if failure else None,
        additional_information=failure.information if failure else None,
        receiving_mx_helo=target.mx_helo,
    )
