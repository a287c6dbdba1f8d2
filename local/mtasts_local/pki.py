"""The local world's certificates: one trusted CA (written to the CA bundle) and one that nobody
trusts, with leaf certificates that are good or broken on purpose.

Certificates are cached per (names, kind), so servers that ask twice get the same one.
"""

from __future__ import annotations

import ssl
import threading
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import trustme


class CertKind(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    WRONG_NAME = "wrong-name"  # valid, but for a name nobody asked for
    UNTRUSTED = "untrusted"  # issued by a CA that is not in the bundle
    EXPIRING = "expiring"  # valid today, expires within days (a renewal that did not happen)


WRONG_NAME = "wrong-name.invalid"
EXPIRING_IN = timedelta(days=5)


class LocalPki:
    def __init__(self, ca: trustme.CA | None = None) -> None:
        """`ca`: the trusted CA to issue from (one shared by the servers of several
        processes); a new one by default."""
        self.ca = ca or trustme.CA(organization_name="MTA-STS autopilot local world CA")
        self._untrusted_ca = trustme.CA(organization_name="Nobody trusts this CA")
        self._leaves: dict[tuple[tuple[str, ...], CertKind], trustme.LeafCert] = {}
        self._lock = threading.Lock()

    def write_ca_bundle(self, path: Path) -> Path:
        """The PEM of the trusted CA; clients point `cafile`/`--cacert` at it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.ca.cert_pem.write_to_path(str(path))
        return path.resolve()

    def leaf(self, names: tuple[str, ...], kind: CertKind = CertKind.VALID) -> trustme.LeafCert:
        key = (tuple(sorted(n.lower() for n in names)), kind)
        with self._lock:
            if key not in self._leaves:
                self._leaves[key] = self._issue(key[0], kind)
            return self._leaves[key]

    def _issue(self, names: tuple[str, ...], kind: CertKind) -> trustme.LeafCert:
        if kind is CertKind.UNTRUSTED:
            return self._untrusted_ca.issue_cert(*names)
        if kind is CertKind.WRONG_NAME:
            return self.ca.issue_cert(WRONG_NAME)
        if kind is CertKind.EXPIRED:
            ended = datetime.now(UTC) - timedelta(days=3)
            return self.ca.issue_cert(
                *names, not_before=ended - timedelta(days=90), not_after=ended
            )
        if kind is CertKind.EXPIRING:
            now = datetime.now(UTC)
            return self.ca.issue_cert(
                *names, not_before=now - timedelta(days=85), not_after=now + EXPIRING_IN
            )
        return self.ca.issue_cert(*names)

    def server_context(
        self, names: tuple[str, ...], kind: CertKind = CertKind.VALID
    ) -> ssl.SSLContext:
        """A TLS 1.2+ server context presenting the leaf for `names` (and its chain)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.leaf(names, kind).configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly the local CA, with hostname checks on."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context
