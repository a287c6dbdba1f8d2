"""A giant reporter's TLS-RPT report, written deterministically to a gzip file, with the counts
it should land as.

Shaped like a very big sender's daily report for one domain: an `sts` policy with most of the
failure details, a `tlsa` and a `no-policy-found` one with fewer. A report is big because its
failure details are many distinct combinations (RFC 8460 §4.3 aggregates the rest): each one
here has its own sending address out of tens of thousands, one of a dozen MX hosts and their
addresses, a HELO name on some, a reason code and an information URI on many. So the JSON
compresses like a real one, about 15-20 times at gzip's default level, not a thousand times as
repeated text would. Keys come in the order senders write them (`summary` before
`failure-details`), so the summary's failure total is worked out in a first pass over the
same seeded draws.
"""

from __future__ import annotations

import random
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

DOMAIN = "example.com"
ORGANIZATION = "Giantmail LLC"
REPORT_ID = "2026-11-20T00:00:00Z_example.com_giant"
DAY = "2026-11-20"
RESULT_TYPES = {
    "sts": (
        ("certificate-host-mismatch", 30),
        ("certificate-expired", 15),
        ("certificate-not-trusted", 12),
        ("validation-failure", 10),
        ("starttls-not-supported", 20),
        ("sts-webpki-invalid", 5),
        ("sts-policy-fetch-error", 3),
        ("some-future-type", 1),
    ),
    "tlsa": (("tlsa-invalid", 40), ("dnssec-invalid", 20), ("dane-required", 10)),
    "no-policy-found": (("starttls-not-supported", 50), ("validation-failure", 20)),
}
SHARES = {"sts": 0.8, "tlsa": 0.12, "no-policy-found": 0.08}  # of the failure details
REASON_CODES = {
    "certificate-expired": "X509_V_ERR_CERT_HAS_EXPIRED",
    "certificate-not-trusted": "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    "certificate-host-mismatch": "X509_V_ERR_HOSTNAME_MISMATCH",
    "validation-failure": "TLS alert 40 (handshake_failure)",
    "starttls-not-supported": "502 5.5.1 STARTTLS command not recognised",
    "tlsa-invalid": "no TLSA record matches the presented certificate",
}
MX_HOSTS = tuple(
    (f"mx{n}.{region}.mx.{DOMAIN}", f"203.0.113.{n * 7 % 250 + 1}")
    for n, region in enumerate(
        ("eu", "us", "ap", "sa", "af", "me", "ca", "au", "in", "jp", "kr", "de"), 1
    )
)


@dataclass(slots=True)
class GiantReport:
    """What was written, and what it adds to the domain's day."""

    path: Path
    gzip_bytes: int = 0
    json_bytes: int = 0
    details: int = 0
    successful: Counter[str] = field(default_factory=Counter)  # by policy type
    failed: Counter[str] = field(default_factory=Counter)  # by policy type (summaries)
    by_result_type: Counter[str] = field(default_factory=Counter)  # "policy type/result type"
    by_mx: Counter[str] = field(default_factory=Counter)


class _Draws:
    """The seeded draws of one detail: its result type and failed sessions (needed first, for
    the summary) and the rest of its text."""

    def __init__(self, seed: int, policy_type: str) -> None:
        self.counts = random.Random(f"{seed}/{policy_type}/counts")
        self.text = random.Random(f"{seed}/{policy_type}/text")
        choices = RESULT_TYPES[policy_type]
        self.names = [name for name, _ in choices]
        self.weights = [weight for _, weight in choices]

    def count(self) -> tuple[str, int]:
        result_type = self.counts.choices(self.names, self.weights)[0]
        return result_type, min(10_000, int(self.counts.paretovariate(1.3)))


def _detail(draws: _Draws, result_type: str, sessions: int) -> tuple[str, str | None]:
    rng = draws.text
    if rng.random() < 0.75:
        sender = f'"sending-mta-ip": "198.51.{rng.randrange(100, 116)}.{rng.randrange(1, 255)}", '
    else:
        sender = (
            f'"sending-mta-ip": "2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::1", '
        )
    parts = [f'{{"result-type": "{result_type}", ', sender]
    host = None
    if result_type != "sts-policy-fetch-error":
        host, address = MX_HOSTS[rng.randrange(len(MX_HOSTS))]
        parts.append(f'"receiving-mx-hostname": "{host}", ')
        if rng.random() < 0.2:
            parts.append(f'"receiving-mx-helo": "{host.split(".", 1)[0]}.internal.{DOMAIN}", ')
        parts.append(f'"receiving-ip": "{address}", ')
    parts.append(f'"failed-session-count": {sessions}')
    if rng.random() < 0.25:
        parts.append(
            f', "additional-information": "https://giantmail.test/tlsrpt/{result_type}?'
            f'r={rng.getrandbits(32):08x}"'
        )
    if result_type in REASON_CODES and rng.random() < 0.6:
        parts.append(f', "failure-reason-code": "{REASON_CODES[result_type]}"')
    parts.append("}")
    return "".join(parts), host


def write_giant_report(path: Path, gzip_bytes: int, seed: int = 8460) -> GiantReport:
    """Write a report of about `gzip_bytes` (gzip level 6, as senders use) to `path`."""
    total = int(gzip_bytes / _compressed_detail_bytes(seed))
    report = GiantReport(path)
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    with path.open("wb") as out:

        def write(text: str) -> None:
            data = text.encode()
            report.json_bytes += len(data)
            out.write(compressor.compress(data))

        write(
            f'{{"organization-name": "{ORGANIZATION}", "date-range": {{"start-datetime": '
            f'"{DAY}T00:00:00Z", "end-datetime": "{DAY}T23:59:59Z"}}, "contact-info": '
            f'"smtp-tls-reporting@giantmail.test", "report-id": "{REPORT_ID}", "policies": ['
        )
        for index, (policy_type, share) in enumerate(SHARES.items()):
            write(", " if index else "")
            _write_policy(write, report, seed, policy_type, int(total * share))
        write("]}")
        out.write(compressor.flush())
    report.gzip_bytes = path.stat().st_size
    return report


def _write_policy(write: object, report: GiantReport, seed: int, policy_type: str, n: int) -> None:
    assert callable(write)
    draws = _Draws(seed, policy_type)
    failed = sum(draws.count()[1] for _ in range(n))
    successful = random.Random(f"{seed}/{policy_type}/ok").randrange(10**6, 10**9)
    report.successful[policy_type] += successful
    report.failed[policy_type] += failed
    policy = f'{{"policy-type": "{policy_type}", "policy-domain": "{DOMAIN}"'
    if policy_type == "sts":
        policy += (
            ', "policy-string": ["version: STSv1", "mode: testing", "mx: *.mx.example.com", '
            '"max_age: 86400"], "mx-host-pattern": ["*.mx.example.com"]'
        )
    write(
        f'{{"policy": {policy}}}, "summary": {{"total-successful-session-count": {successful}, '
        f'"total-failure-session-count": {failed}}}, "failure-details": ['
    )
    draws = _Draws(seed, policy_type)  # the same draws again, now written out
    batch: list[str] = []
    for number in range(n):
        result_type, sessions = draws.count()
        text, host = _detail(draws, result_type, sessions)
        batch.append(text)
        report.by_result_type[f"{policy_type}/{result_type}"] += sessions
        report.by_mx[host or "(not reported)"] += sessions
        if len(batch) == 4096 or number == n - 1:
            write((", " if number >= len(batch) else "") + ", ".join(batch))
            batch.clear()
    report.details += n
    write("]}")


def _compressed_detail_bytes(seed: int) -> float:
    """What one detail takes once compressed, measured on a sample of them."""
    draws = _Draws(seed, "sts")
    size = 20_000
    sample = ", ".join(_detail(draws, *draws.count())[0] for _ in range(size)).encode()
    return len(zlib.compress(sample, 6)) / size
