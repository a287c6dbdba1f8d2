"""Report parsing: `mtasts.report_extract.load_reports` beside parsedmarc and the bare floor.

The same gzip payloads (`application/tlsrpt+gzip`, i.e. `.json.gz` bytes) go to three parsers:

- mtasts: `load_reports(payload, name)`: bounded gunzip, then validation into `TlsReport`;
- parsedmarc 11.1.0: `parse_smtp_tls_report_json(extract_report(payload))`, the path its
  `parse_report_file` takes for a gzip SMTP TLS report, without first trying the DMARC XML parser;
- the floor: `orjson.loads(gzip.decompress(payload))`, decompression plus JSON parsing and nothing
  else, which no parser that builds Python objects from the bytes can beat by much.

The corpus is synthetic, seeded, and built in memory: reports shaped like big senders' (several
policies, many failure details with IPs and host names), from a few ~2 KB ones to one whose JSON
is ~5 MB. Each figure is the median over rounds of the mean time per call within a round; the three
parsers take turns within each round so that drift of the machine hits them alike. MB is 10**6
bytes of decompressed JSON.

Run with `make bench` (or `.venv-bench/bin/python -m benchmarks.report_parsing [--quick]`). The
exit status is 1 when a target is missed, so it doubles as a check (2: it could not run).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import orjson

from mtasts.report_extract import load_reports

MB = 1_000_000
SEED = 8460
TARGET_VS_PARSEDMARC = 3.0  # mtasts at least this many times parsedmarc's speed
TARGET_VS_FLOOR = 0.5  # mtasts at least this fraction of the floor's speed
IMPLEMENTATIONS = ("mtasts", "parsedmarc", "floor")

Payload = bytes
Totals = tuple[int, int, int]  # successful sessions, failed sessions, failure details


# --- the corpus ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sender:
    """How one big sender writes its reports (the variants real senders use)."""

    organization: str
    contact: str
    short: str
    indent: bool = False
    mx_key: str = "mx-host-pattern"
    info_key: str = "additional-information"
    zoned_datetimes: bool = True
    sending_ip_share: float = 1.0


SENDERS = (
    Sender("Giantmail LLC", "smtp-tls-reporting@giantmail.test", "giantmail", mx_key="mx-host"),
    Sender(
        "Bluecorp Corporation",
        "tlsrpt-noreply@bluecorp.test",
        "bluecorp",
        zoned_datetimes=False,
        sending_ip_share=0.0,
    ),
    Sender("Purplemail Inc.", "postmaster@purplemail.test", "purplemail", indent=True),
    Sender(
        "Northmail AB",
        "tls-reports@northmail.test",
        "northmail",
        info_key="additional-info-uri",
        sending_ip_share=0.7,
    ),
)

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
    "tlsa": (
        ("tlsa-invalid", 40),
        ("dnssec-invalid", 20),
        ("dane-required", 10),
        ("starttls-not-supported", 10),
    ),
    "no-policy-found": (
        ("starttls-not-supported", 50),
        ("validation-failure", 20),
        ("certificate-not-trusted", 10),
    ),
}
REASON_CODES = {
    "certificate-expired": "X509_V_ERR_CERT_HAS_EXPIRED",
    "certificate-not-trusted": "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    "certificate-host-mismatch": "X509_V_ERR_HOSTNAME_MISMATCH",
    "validation-failure": "TLS alert 40 (handshake_failure)",
    "starttls-not-supported": "502 5.5.1 STARTTLS command not recognised",
    "tlsa-invalid": "no TLSA record matches the presented certificate",
}
REGIONS = ("eu", "us", "ap", "sa", "af", "me", "ca", "au", "in", "jp", "kr", "de", "fr", "uk")


@dataclass(slots=True)
class _World:
    """The receiving domain's MX hosts and the sender's outbound addresses."""

    rng: random.Random
    domain: str
    mx_hosts: list[tuple[str, str]] = field(default_factory=list)
    sending_ips: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, rng: random.Random, domain: str, mx_count: int, ip_count: int) -> _World:
        world = cls(rng, domain)
        for n in range(mx_count):
            region = REGIONS[n % len(REGIONS)]
            ip = f"203.0.113.{n % 254 + 1}" if n % 3 else f"2001:db8:ffff:{n:x}::25"
            world.mx_hosts.append((f"mx{n + 1}.{region}.mx.{domain}", ip))
        for n in range(ip_count):
            if n % 4:
                world.sending_ips.append(f"198.51.{100 + n % 3}.{rng.randrange(1, 255)}")
            else:
                world.sending_ips.append(f"2001:db8:{n % 16:x}:{rng.getrandbits(16):x}::1")
        return world


def _weighted(rng: random.Random, choices: Sequence[tuple[str, int]]) -> str:
    names = [name for name, _ in choices]
    return rng.choices(names, [weight for _, weight in choices])[0]


def _detail(world: _World, sender: Sender, policy_type: str) -> dict[str, Any]:
    rng = world.rng
    result_type = _weighted(rng, RESULT_TYPES[policy_type])
    detail: dict[str, Any] = {"result-type": result_type}
    if rng.random() < sender.sending_ip_share:
        detail["sending-mta-ip"] = rng.choice(world.sending_ips)
    if result_type != "sts-policy-fetch-error":
        host, ip = rng.choice(world.mx_hosts)
        detail["receiving-mx-hostname"] = host
        if rng.random() < 0.2:
            detail["receiving-mx-helo"] = host.split(".", 1)[0] + ".internal." + world.domain
        detail["receiving-ip"] = ip
    detail["failed-session-count"] = max(1, int(rng.paretovariate(1.2)))
    if rng.random() < 0.25:
        detail[sender.info_key] = f"https://{sender.short}.test/tlsrpt/help/{result_type}"
    if result_type in REASON_CODES and rng.random() < 0.6:
        detail["failure-reason-code"] = REASON_CODES[result_type]
    return detail


def _policy(world: _World, index: int) -> dict[str, Any]:
    policy_type = "sts" if index % 4 != 1 else "tlsa"
    if index % 4 == 3:
        policy_type = "no-policy-found"
    region = REGIONS[index % len(REGIONS)]
    domain = world.domain if index == 0 else f"{region}{index}.{world.domain}"
    policy: dict[str, Any] = {"policy-type": policy_type, "policy-domain": domain}
    if policy_type == "sts":
        mode = "enforce" if index % 2 == 0 else "testing"
        policy["policy-string"] = [
            "version: STSv1",
            f"mode: {mode}",
            f"mx: *.mx.{world.domain}",
            f"mx: mx-backup.{world.domain}",
            "max_age: 604800",
        ]
        policy["mx-host-pattern"] = [f"*.mx.{world.domain}", f"mx-backup.{world.domain}"]
    elif policy_type == "tlsa":
        digest = world.rng.getrandbits(256).to_bytes(32).hex()
        policy["policy-string"] = [f"3 1 1 {digest}"]
    return {"policy": policy, "summary": {}, "failure-details": []}


def _dumps(report: dict[str, Any], sender: Sender) -> bytes:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2 if sender.indent else 0)


def make_report(
    rng: random.Random, sender: Sender, target_bytes: int, policies: int, day: int
) -> bytes:
    """The JSON of one report of about `target_bytes`, most of it failure details."""
    world = _World.build(rng, "example.com", mx_count=max(2, target_bytes // 20_000), ip_count=200)
    start = f"2026-11-{day:02d}T00:00:00" + ("Z" if sender.zoned_datetimes else "")
    end = f"2026-11-{day:02d}T23:59:59" + ("Z" if sender.zoned_datetimes else "")
    results = [_policy(world, i) for i in range(policies)]
    report = {
        "organization-name": sender.organization,
        "date-range": {"start-datetime": start, "end-datetime": end},
        "contact-info": sender.contact,
        "report-id": f"2026-11-{day:02d}T00:00:00Z_{world.domain}_{sender.short}_{target_bytes}",
        "policies": results,
    }
    size = len(_dumps(report, sender))
    weights = [1.0 / (i + 1) ** 1.5 for i in range(policies)]
    while size < target_bytes:
        result = rng.choices(results, weights)[0]
        detail = _detail(world, sender, result["policy"]["policy-type"])
        result["failure-details"].append(detail)
        size += len(_dumps(detail, sender)) + 2
    for result in results:
        failed = sum(d["failed-session-count"] for d in result["failure-details"])
        result["summary"] = {
            "total-successful-session-count": rng.randrange(1_000, 5_000_000),
            "total-failure-session-count": failed,
        }
        if not result["failure-details"]:
            del result["failure-details"]
    return _dumps(report, sender)


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    bucket: str
    payload: Payload
    json_size: int


BUCKETS = (  # (bucket, JSON size, policies, the senders of its reports by SENDERS index)
    ("~2 KB", 2_000, 2, (0, 1, 2, 3)),
    ("~100 KB", 100_000, 4, (3,)),
    ("~1 MB", 1_000_000, 8, (1,)),
    ("~5 MB", 5_000_000, 16, (0,)),
)


def build_corpus(seed: int = SEED) -> list[Sample]:
    """Every sample as the gzip bytes a sender attaches, deterministic for a given seed."""
    rng = random.Random(seed)
    samples: list[Sample] = []
    day = 1
    for bucket, target, policies, senders in BUCKETS:
        for sender in (SENDERS[i] for i in senders):
            data = make_report(rng, sender, target, policies, day)
            name = f"{sender.short}!example.com!2026-11-{day:02d}!{len(data)}.json.gz"
            payload = gzip.compress(data, compresslevel=6, mtime=0)
            samples.append(Sample(name, bucket, payload, len(data)))
            day += 1
    return samples


# --- the three parsers, and what each says the report held ---------------------------------------


def _fail(message: str) -> NoReturn:
    """Stop with status 2: the benchmark itself cannot run (status 1 means a missed target)."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def _mtasts(payload: Payload) -> Any:
    return load_reports(payload, "report.json.gz").reports


def _floor(payload: Payload) -> Any:
    return orjson.loads(gzip.decompress(payload))


def _parsedmarc_parser() -> Callable[[Payload], Any]:
    try:
        import parsedmarc
    except ImportError:
        _fail("parsedmarc is not installed: run `make bench` (it builds .venv-bench)")

    def parse(payload: Payload) -> Any:
        return parsedmarc.parse_smtp_tls_report_json(parsedmarc.extract_report(payload))

    return parse


def _mtasts_totals(reports: Any) -> Totals:
    policies = [p for report in reports for p in report.policies]
    return (
        sum(report.total_successful_sessions for report in reports),
        sum(report.total_failed_sessions for report in reports),
        sum(len(p.failure_details) for p in policies),
    )


def _parsedmarc_totals(report: Any) -> Totals:
    policies = report["policies"]
    return (
        sum(p["successful_session_count"] for p in policies),
        sum(p["failed_session_count"] for p in policies),
        sum(len(p.get("failure_details", [])) for p in policies),
    )


def _raw_totals(report: Any) -> Totals:
    policies = report["policies"]
    return (
        sum(p["summary"]["total-successful-session-count"] for p in policies),
        sum(p["summary"]["total-failure-session-count"] for p in policies),
        sum(len(p.get("failure-details", [])) for p in policies),
    )


Parsers = dict[str, Callable[[Payload], Any]]


def check_agreement(samples: Sequence[Sample], parsers: Parsers) -> None:
    """Exit if the parsers disagree on any report's session and failure-detail counts."""
    totals_of = {"mtasts": _mtasts_totals, "parsedmarc": _parsedmarc_totals, "floor": _raw_totals}
    for sample in samples:
        seen = {name: totals_of[name](parse(sample.payload)) for name, parse in parsers.items()}
        if len(set(seen.values())) != 1:
            _fail(f"parsers disagree on {sample.name}: {seen}")
        successful, failed, details = seen["mtasts"]
        if not (successful and failed and details):
            _fail(f"{sample.name} parsed to nothing: {seen}")


# --- timing -------------------------------------------------------------------------------------


def _calibrate(parse: Callable[[Payload], Any], payload: Payload, min_round: float) -> int:
    """How many calls make a round of at least `min_round` seconds (after a warm-up call)."""
    parse(payload)
    start = time.perf_counter()
    parse(payload)
    once = max(time.perf_counter() - start, 1e-7)
    return max(1, math.ceil(min_round / once))


def time_sample(
    sample: Sample, parsers: Parsers, rounds: int, min_round: float
) -> dict[str, float]:
    """Seconds per call of each parser on one sample: the median over rounds."""
    loops = {name: _calibrate(parse, sample.payload, min_round) for name, parse in parsers.items()}
    per_call: dict[str, list[float]] = {name: [] for name in parsers}
    payload = sample.payload
    for _ in range(rounds):
        for name, parse in parsers.items():
            n = loops[name]
            gc.collect()
            start = time.perf_counter()
            for _ in range(n):
                parse(payload)
            per_call[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(times) for name, times in per_call.items()}


# --- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    reports: int
    json_bytes: int
    seconds: dict[str, float]  # per implementation, for all the row's reports once

    def reports_per_s(self, name: str) -> float:
        return self.reports / self.seconds[name]

    def mb_per_s(self, name: str) -> float:
        return self.json_bytes / MB / self.seconds[name]

    def speedup(self, than: str) -> float:
        return self.seconds[than] / self.seconds["mtasts"]

    def parsedmarc_target_vs_floor(self) -> float:
        """The speed the parsedmarc target asks for, as a fraction of the floor's speed."""
        return TARGET_VS_PARSEDMARC * self.seconds["floor"] / self.seconds["parsedmarc"]

    def meets_targets(self) -> bool:
        return (
            self.speedup("parsedmarc") >= TARGET_VS_PARSEDMARC
            and self.speedup("floor") >= TARGET_VS_FLOOR
        )


def make_rows(samples: Sequence[Sample], timings: Sequence[dict[str, float]]) -> list[Row]:
    groups: dict[str, list[int]] = {}
    for index, sample in enumerate(samples):
        groups.setdefault(sample.bucket, []).append(index)
    groups["whole corpus"] = list(range(len(samples)))
    return [
        Row(
            label,
            len(indices),
            sum(samples[i].json_size for i in indices),
            {name: sum(timings[i][name] for i in indices) for name in IMPLEMENTATIONS},
        )
        for label, indices in groups.items()
    ]


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def markdown_table(rows: Sequence[Row]) -> str:
    head = ["reports", "JSON MB"]
    for name in IMPLEMENTATIONS:
        head += [f"{name} reports/s", f"{name} MB/s"]
    head += ["mtasts ÷ parsedmarc", "mtasts ÷ floor", "3x parsedmarc ÷ floor", "targets"]
    lines = ["| " + " | ".join(["bucket", *head]) + " |", "|" + "---|" * (len(head) + 1)]
    for row in rows:
        cells = [row.label, str(row.reports), f"{row.json_bytes / MB:.3f}"]
        for name in IMPLEMENTATIONS:
            cells += [_rate(row.reports_per_s(name)), _rate(row.mb_per_s(name))]
        cells += [
            f"{row.speedup('parsedmarc'):.2f}x",
            f"{row.speedup('floor'):.2f}",
            f"{row.parsedmarc_target_vs_floor():.2f}",
            "met" if row.meets_targets() else "**missed**",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next(
                line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return (
        f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        f" ({platform.python_implementation()}), {platform.system()} {platform.machine()}"
    )


# --- entry point --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.report_parsing",
        description="Report parsing: mtasts beside parsedmarc and gzip + orjson.",
    )
    parser.add_argument("--quick", action="store_true", help="few short rounds (a smoke run)")
    parser.add_argument("--rounds", type=int, help="rounds per sample (default 15, quick 5)")
    parser.add_argument("--seed", type=int, default=SEED, help="corpus seed (default %(default)s)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (5 if args.quick else 15)
    min_round = 0.02 if args.quick else 0.1

    samples = build_corpus(args.seed)
    parsers = {"mtasts": _mtasts, "parsedmarc": _parsedmarc_parser(), "floor": _floor}
    check_agreement(samples, parsers)
    print(f"machine: {machine()}")
    print(f"corpus: {len(samples)} reports, seed {args.seed}; {rounds} rounds of >= {min_round}s")
    for sample in samples:
        gz_size = len(sample.payload)
        print(f"  {sample.bucket:>8}  {sample.json_size:>9,} B JSON  {gz_size:>8,} B gzip")
    timings = [time_sample(s, parsers, rounds, min_round) for s in samples]
    rows = make_rows(samples, timings)
    print()
    print(markdown_table(rows))
    print()
    print(
        f"targets: mtasts >= {TARGET_VS_PARSEDMARC:g}x parsedmarc and >= {TARGET_VS_FLOOR:g}"
        " of the floor, in every row"
    )
    met = all(row.meets_targets() for row in rows)
    print("all targets met" if met else "TARGETS MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
