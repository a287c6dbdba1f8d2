"""Probe one MX host the way an RFC 8461 sender does before it hands over mail (§4.2, §7):
EHLO, STARTTLS, TLS 1.2 or later with SNI set to the MX name, and a certificate valid for that
name, chained to a trusted root and unexpired. No mail is sent: the probe says QUIT.

`probe_mx` never raises for anything a host does wrong; every outcome is an `MxProbe`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime

import msgspec

from mtasts.findings import Code
from mtasts.tls_stream import TlsStream

# Finding codes (the validator reports them; see findings.Code).
UNREACHABLE = Code.MX_UNREACHABLE.value
STARTTLS_MISSING = Code.MX_STARTTLS_MISSING.value
CERTIFICATE_INVALID = Code.MX_CERTIFICATE_INVALID.value
CERTIFICATE_EXPIRED = Code.MX_CERTIFICATE_EXPIRED.value

SMTP_PORT = 25
DEFAULT_TIMEOUT = 30.0
DEFAULT_HELO = "mtasts-autopilot.invalid"
MAX_REPLY_LINES = 100  # a reply longer than this is not an SMTP server worth talking to
MAX_QUIT_REPLY = 4096
GOODBYE_TIMEOUT = 5.0  # for QUIT's reply and the close, after the probe's own timeout
_X509_CERT_HAS_EXPIRED = 10  # OpenSSL's X509_V_ERR_CERT_HAS_EXPIRED

ConnectTargets = Mapping[str, tuple[str, int]]


class MxProbe(msgspec.Struct, frozen=True):
    host: str
    starttls: bool
    tls_version: str | None
    not_after: datetime | None  # the certificate's expiry, when it verified
    error_code: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error_code is None

    def days_left(self, now: datetime) -> int | None:
        return None if self.not_after is None else (self.not_after - now).days


class _SmtpError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def strict_client_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """Certificate and host name checked, TLS 1.2 at least, as §4.2 asks of a sender."""
    context = ssl.create_default_context(cafile=ca_bundle)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


async def probe_mx(
    host: str,
    context: ssl.SSLContext,
    *,
    connect_to: ConnectTargets | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    helo: str = DEFAULT_HELO,
) -> MxProbe:
    """EHLO, STARTTLS and a verified handshake with `host`, within one `timeout`; then QUIT
    and the close, within `GOODBYE_TIMEOUT` more, which cannot change the outcome."""
    address, port = (connect_to or {}).get(host, (host, SMTP_PORT))
    session = _Session(host)
    try:
        async with asyncio.timeout(timeout):
            probe = await session.converse(address, port, context, helo)
    except TimeoutError:
        probe = _failed(host, UNREACHABLE, f"{host}: no complete answer within {timeout:g} s")
    except _SmtpError as error:
        offered = error.code in (CERTIFICATE_INVALID, CERTIFICATE_EXPIRED)
        probe = _failed(host, error.code, str(error), starttls=offered)
    except OSError as error:
        probe = _failed(host, UNREACHABLE, f"{host}: cannot connect to {address}:{port}: {error}")
    await session.goodbye()
    return probe


class _Session:
    """One SMTP connection of a probe, and what has to be closed at its end."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.writer: asyncio.StreamWriter | None = None
        self.tls: TlsStream | None = None

    async def converse(
        self, address: str, port: int, context: ssl.SSLContext, helo: str
    ) -> MxProbe:
        host = self.host
        reader, self.writer = await asyncio.open_connection(address, port)
        writer = self.writer
        await _expect(reader, "220", host, "greeting")
        writer.write(f"EHLO {helo}\r\n".encode("ascii"))
        extensions = await _expect(reader, "250", host, "EHLO")
        if "STARTTLS" not in {line.split(" ")[0].upper() for line in extensions[1:]}:
            raise _SmtpError(STARTTLS_MISSING, f"{host} does not offer STARTTLS")
        writer.write(b"STARTTLS\r\n")
        await _expect(reader, "220", host, "STARTTLS")
        self.tls = await _start_tls(reader, writer, context, host)
        return MxProbe(
            host=host,
            starttls=True,
            tls_version=self.tls.ssl_object.version(),
            not_after=_not_after(self.tls.ssl_object.getpeercert()),
            error_code=None,
            error=None,
        )

    async def goodbye(self) -> None:
        """Over TLS: QUIT, its reply awaited (RFC 5321 §4.1.1.10: a client SHOULD wait for
        it) but not judged, and close_notify. Then the TCP close. Never raises."""
        if self.writer is None:
            return
        try:
            async with asyncio.timeout(GOODBYE_TIMEOUT):
                if self.tls is not None:
                    await self.tls.write(b"QUIT\r\n")
                    await self.tls.read(MAX_QUIT_REPLY)
                    self.tls.close()
                else:
                    self.writer.close()
                await self.writer.wait_closed()
        except (TimeoutError, OSError, ssl.SSLError):
            self.writer.transport.abort()  # the host hung up first, or will not let go


async def _start_tls(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, context: ssl.SSLContext, host: str
) -> TlsStream:
    try:
        return await TlsStream.handshake(reader, writer, context, host)
    except ssl.SSLCertVerificationError as error:
        code = CERTIFICATE_EXPIRED if error.verify_code == _X509_CERT_HAS_EXPIRED else None
        detail = error.verify_message or str(error)
        raise _SmtpError(
            code or CERTIFICATE_INVALID, f"{host}: certificate not accepted: {detail}"
        ) from error
    except ssl.SSLError as error:
        raise _SmtpError(
            CERTIFICATE_INVALID, f"{host}: TLS handshake failed: {error.reason or error}"
        ) from error


async def _expect(reader: asyncio.StreamReader, status: str, host: str, step: str) -> list[str]:
    """Read one (possibly multi-line) reply; its text lines if its code is `status`."""
    lines: list[str] = []
    while len(lines) < MAX_REPLY_LINES:
        raw = await reader.readline()
        if not raw:
            raise _SmtpError(UNREACHABLE, f"{host} closed the connection at {step}")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line[:3] != status:
            code = STARTTLS_MISSING if step == "STARTTLS" else UNREACHABLE
            raise _SmtpError(code, f"{host} answered {step} with {line[:200]!r}")
        lines.append(line[4:])
        if line[3:4] != "-":
            return lines
    raise _SmtpError(UNREACHABLE, f"{host} sent an endless reply at {step}")


def _not_after(certificate: Mapping[str, object] | None) -> datetime | None:
    value = certificate.get("notAfter") if certificate else None
    if not isinstance(value, str):
        return None
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(value), UTC)


def _failed(host: str, code: str, message: str, *, starttls: bool = False) -> MxProbe:
    return MxProbe(host, starttls, None, None, code, message)
