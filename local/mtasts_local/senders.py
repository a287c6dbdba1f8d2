"""The organisations that mail the world's domains, as sending MTAs that honour MTA-STS
(RFC 8461 §5) and keep the tally RFC 8460 reports are made of.

A sender looks the way a careful real one does: `_mta-sts` TXT from the world's DNS; the policy
fetched over HTTPS only when the id changes (strictly: no redirects, the CA's certificates);
MX hosts by preference; SMTP with STARTTLS, SNI and a full certificate check against each MX
name. In `enforce` a host the policy does not cover, or one whose TLS fails, is skipped and the
next one tried; in `testing` (and without a policy) the failure is noted and the message is
delivered anyway, as §5 says. Every session is tallied per UTC day of the world's clock, for
the reports (`mtasts_local.tlsrpt_mail`).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Final

import dns.exception
import dns.resolver

from mtasts.policy import Mode, Policy, check_policy, mx_matches
from mtasts.policy_fetch import HttpsPolicyFetcher
from mtasts.sts_record import select_sts_record

# OpenSSL's verify results (X509_V_ERR_*) and the RFC 8460 §4.3 result types they are.
_RESULT_TYPES: Final = {
    10: "certificate-expired",
    62: "certificate-host-mismatch",
    2: "certificate-not-trusted",
    18: "certificate-not-trusted",
    19: "certificate-not-trusted",
    20: "certificate-not-trusted",
    21: "certificate-not-trusted",
}
SMTP_TIMEOUT: Final = 10.0
NO_POLICY: Final = "no-policy-found"


@dataclass(frozen=True, slots=True)
class WorldNetwork:
    """Where a sender finds the world: its DNS server, the Pages edge, each MX host, the CA."""

    dns: tuple[str, int]
    https: tuple[str, int]
    smtp: Mapping[str, tuple[str, int]]
    ca_bundle: Path


@dataclass(frozen=True, slots=True)
class AppliedPolicy:
    """The policy a session was judged by, as a report describes it (RFC 8460 §4.3)."""

    policy_type: str  # "sts" or "no-policy-found"
    domain: str
    lines: tuple[str, ...] = ()
    mx_patterns: tuple[str, ...] = ()
    enforce: bool = False  # failures withhold the message (mode enforce)


@dataclass(frozen=True, slots=True)
class Session:
    day: date
    policy: AppliedPolicy
    mx_host: str
    receiving_ip: str
    sending_ip: str
    result_type: str | None  # None: the TLS session was what the policy asks for
    reason: str | None = None  # what went wrong, in OpenSSL's or the sender's words


@dataclass(frozen=True, slots=True)
class _CachedPolicy:
    policy_id: str
    policy: Policy
    text: str

    def applied(self, domain: str) -> AppliedPolicy:
        lines = tuple(line for line in self.text.splitlines() if line)
        enforce = self.policy.mode is Mode.ENFORCE
        return AppliedPolicy("sts", domain, lines, self.policy.mx, enforce)


class _RoutedSmtp(smtplib.SMTP):
    """SMTP to an MX host by name (so STARTTLS sends its name as SNI and checks the certificate
    against it), connecting where the world runs that host."""

    def __init__(
        self, targets: Mapping[str, tuple[str, int]], mx_host: str, local_hostname: str
    ) -> None:
        self._targets = targets
        # Connects now; smtplib keeps the name given here for STARTTLS's server_hostname.
        super().__init__(mx_host, 25, local_hostname=local_hostname, timeout=SMTP_TIMEOUT)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        address = self._targets.get(host.lower(), (host, port))
        return socket.create_connection(address, timeout)


@dataclass
class SendingMta:
    organization: str
    submitter: str  # the sender's own domain: EHLO name and TLS-Report-Submitter
    network: WorldNetwork
    clock: Callable[[], datetime]
    _policies: dict[str, _CachedPolicy] = field(default_factory=dict)
    _sessions: list[Session] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, domain: str, count: int) -> list[Session]:
        """Deliver `count` messages to `domain`; every session they took, in order."""
        sessions: list[Session] = []
        for number in range(count):
            policy = self._current_policy(domain)
            sessions += self._deliver(domain, policy, _message(self, domain, number))
        with self._lock:
            self._sessions += sessions
        return sessions

    def take_sessions(self, before: date) -> list[Session]:
        """The tallied sessions of days before `before` (their reports are due), forgotten."""
        with self._lock:
            due = [s for s in self._sessions if s.day < before]
            self._sessions = [s for s in self._sessions if s.day >= before]
        return due

    # --- RFC 8461 §5: discovering and refreshing the policy -------------------------------------

    def _resolver(self) -> dns.resolver.Resolver:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [self.network.dns[0]]
        resolver.port = self.network.dns[1]
        resolver.lifetime = 5.0
        return resolver

    def txt(self, name: str) -> list[str]:
        try:
            answer = self._resolver().resolve(name, "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]

    def _current_policy(self, domain: str) -> _CachedPolicy | None:
        cached = self._policies.get(domain)
        record = select_sts_record(self.txt(f"_mta-sts.{domain}")).value
        if record is None or (cached is not None and cached.policy_id == record.id):
            return cached  # no record: a cached policy still applies until max_age (§5.1)
        fetched = self._fetch(domain, record.id)
        if fetched is not None:
            self._policies[domain] = fetched
        return fetched or cached

    def _fetch(self, domain: str, policy_id: str) -> _CachedPolicy | None:
        connect_to = {"*": self.network.https}
        with HttpsPolicyFetcher(ca_bundle=self.network.ca_bundle, connect_to=connect_to) as fetcher:
            fetched = fetcher.fetch(domain)
        if fetched.body is None:
            return None
        checked = check_policy(fetched.body)
        if checked.value is None:
            return None
        return _CachedPolicy(policy_id, checked.value, fetched.body.decode())

    # --- RFC 8461 §4 and §5: delivering under the policy -----------------------------------------

    def mx_hosts(self, domain: str) -> list[str]:
        try:
            answer = self._resolver().resolve(domain, "MX")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.exception.Timeout):
            return []
        ranked = sorted(answer, key=lambda r: (r.preference, str(r.exchange)))
        return [str(r.exchange).rstrip(".").lower() for r in ranked]

    def _deliver(
        self, domain: str, cached: _CachedPolicy | None, message: EmailMessage
    ) -> list[Session]:
        applied = cached.applied(domain) if cached else AppliedPolicy(NO_POLICY, domain)
        enforce = applied.enforce
        sessions: list[Session] = []
        for mx_host in self.mx_hosts(domain):
            covered = cached is None or any(mx_matches(p, mx_host) for p in cached.policy.mx)
            if enforce and not covered:
                sessions.append(self._refused(applied, mx_host))
                continue
            session = self._attempt(applied, mx_host, message)
            if session is None:
                continue  # unreachable: not a TLS failure, nothing to report
            if not covered:
                session = _uncovered(session)
            sessions.append(session)
            if session.result_type is None or not enforce:
                return sessions
        return sessions  # every MX failed: the message waits in the queue

    def _refused(self, applied: AppliedPolicy, mx_host: str) -> Session:
        address = self.network.smtp.get(mx_host, ("", 25))[0]
        return Session(
            self.clock().date(),
            applied,
            mx_host,
            address,
            "",
            "validation-failure",
            "the MX host is not covered by the policy's mx patterns",
        )

    def _attempt(
        self, applied: AppliedPolicy, mx_host: str, message: EmailMessage
    ) -> Session | None:
        """One SMTP session. Under a policy the certificate is checked and a failure reported,
        and only `enforce` withholds the message; without one TLS is opportunistic, as it is for
        every sender without MTA-STS: no certificate check."""
        day = self.clock().date()
        strict = applied.policy_type != NO_POLICY
        deliver_anyway = not applied.enforce
        try:
            with _RoutedSmtp(self.network.smtp, mx_host, self.submitter) as smtp:
                assert smtp.sock is not None  # connected by the constructor
                receiving, sending = smtp.sock.getpeername()[0], smtp.sock.getsockname()[0]
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    if deliver_anyway:
                        smtp.send_message(message)
                    return Session(
                        day, applied, mx_host, receiving, sending, "starttls-not-supported"
                    )
                context = self._strict_context() if strict else _unverified_context()
                try:
                    smtp.starttls(context=context)
                except ssl.SSLCertVerificationError as error:
                    result = _RESULT_TYPES.get(error.verify_code, "validation-failure")
                    if deliver_anyway:
                        self._deliver_opportunistically(mx_host, message)
                    reason = error.verify_message
                    return Session(day, applied, mx_host, receiving, sending, result, reason)
                smtp.ehlo()
                smtp.send_message(message)
                return Session(day, applied, mx_host, receiving, sending, None)
        except (OSError, smtplib.SMTPException):
            return None

    def _deliver_opportunistically(self, mx_host: str, message: EmailMessage) -> None:
        """What `testing` means (§5): the failure is reported, the mail still goes, encrypted
        without authentication."""
        with _RoutedSmtp(self.network.smtp, mx_host, self.submitter) as smtp:
            smtp.ehlo()
            smtp.starttls(context=_unverified_context())
            smtp.ehlo()
            smtp.send_message(message)

    def _strict_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.network.ca_bundle))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


def _uncovered(session: Session) -> Session:
    """A testing policy that does not cover the host: TLS may have been fine, the policy not."""
    if session.result_type is not None:
        return session
    reason = "the MX host is not covered by the policy's mx patterns"
    return Session(
        session.day,
        session.policy,
        session.mx_host,
        session.receiving_ip,
        session.sending_ip,
        "validation-failure",
        reason,
    )


def _unverified_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _message(sender: SendingMta, domain: str, number: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"{sender.organization} <newsletter@{sender.submitter}>"
    message["To"] = f"postmaster@{domain}"
    message["Subject"] = f"Message {number + 1} from {sender.organization}"
    message.set_content("Mail the world's senders deliver so their TLS-RPT reports have news.")
    return message
