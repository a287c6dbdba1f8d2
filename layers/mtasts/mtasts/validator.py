"""The validator: observe each domain as a strict sending MTA would (DNS, the HTTPS policy
fetch, every MX host's STARTTLS), concurrently and within bounds, then judge it
(`validation_rules`).

Bounds: at most `concurrency` domains are observed at once; each MX host is probed at most once
per run however many domains share it (hosted providers' MX hosts serve thousands of domains,
and a burst of probes at one host looks like an attack to it).

The default of 250 domains in flight keeps a fleet run of 1,000 domains within ten times one
domain's time when every exchange waits on a distant host (waits alone: 4 one-domain times).
Each domain in flight holds up to three connections (the policy fetch and two MX probes; TLS by
`tls_stream`, which keeps no buffer of its own): 750 file descriptors at most, inside Lambda's
1,024, and about 0.1 MB of memory per domain in flight. Where the limit on open files is lower
(macOS gives a shell 256), fewer domains are in flight: `concurrency_within_open_files`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

import msgspec

from mtasts.dns_lookup import AsyncDnsLookup, Lookup, MxRecord, Outcome, mx_hosts
from mtasts.policy_fetch import AsyncHttpsPolicyFetcher, ConnectTargets
from mtasts.policy_state import PublishedPolicy
from mtasts.ports import FetchedPolicy
from mtasts.smtp_probe import MxProbe, probe_mx
from mtasts.sts_record import select_sts_record
from mtasts.validation_rules import Answer, MxCheck, Observation, Verdict, judge

DEFAULT_CONCURRENCY = 250
DEFAULT_SMTP_TIMEOUT = 30.0
CONNECTIONS_PER_DOMAIN = 3  # the policy fetch and two MX probes, at most, at once
RESERVED_FILES = 64  # for everything else a process holds open (DNS sockets, AWS clients)


def concurrency_within_open_files(default: int = DEFAULT_CONCURRENCY) -> int:
    """As many domains in flight as the process may open connections for: `default`, or fewer
    where the limit on open files is low (macOS gives a shell 256), so that a big run is not
    told "too many open files" and reports healthy hosts as unreachable."""
    try:
        import resource  # Unix only
    except ImportError:
        return default
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return default
    return max(1, min(default, (soft - RESERVED_FILES) // CONNECTIONS_PER_DOMAIN))


def _now() -> datetime:
    return datetime.now(UTC)


class Validator(msgspec.Struct):
    lookup: AsyncDnsLookup
    fetcher: AsyncHttpsPolicyFetcher
    smtp_context: ssl.SSLContext
    smtp_connect_to: ConnectTargets = msgspec.field(default_factory=dict)
    smtp_timeout: float = DEFAULT_SMTP_TIMEOUT
    concurrency: int = msgspec.field(default_factory=concurrency_within_open_files)
    clock: Callable[[], datetime] = _now
    on_verdict: Callable[[Verdict], None] = lambda _verdict: None

    async def validate(
        self,
        domains: Sequence[str],
        expected: Mapping[str, PublishedPolicy] | None = None,
    ) -> list[Verdict]:
        """Every domain's verdict, in the order given."""
        run = _Run(self, expected or {})
        return list(await asyncio.gather(*(run.verdict(d) for d in domains)))


class _Run:
    """One validation run: its concurrency limit and the MX probes it shares."""

    def __init__(self, validator: Validator, expected: Mapping[str, PublishedPolicy]) -> None:
        self.validator = validator
        self.expected = expected
        self.limit = asyncio.Semaphore(validator.concurrency)
        self.probes: dict[str, asyncio.Task[MxProbe]] = {}

    async def verdict(self, domain: str) -> Verdict:
        async with self.limit:
            observation = await self.observe(domain)
        verdict = judge(observation, self.validator.clock())
        self.validator.on_verdict(verdict)
        return verdict

    async def observe(self, domain: str) -> Observation:
        lookup = self.validator.lookup
        sts, tlsrpt, mx = await asyncio.gather(
            lookup.txt(f"_mta-sts.{domain}"), lookup.txt(f"_smtp._tls.{domain}"), lookup.mx(domain)
        )
        sts_answer = _answer(sts)
        hosts = tuple(mx_hosts(mx.records))
        # A sender fetches the policy only when there is exactly one valid record.
        has_policy = select_sts_record(sts_answer.records).valid
        fetched, probes = await asyncio.gather(
            self.fetch(domain) if has_policy else _nothing(),
            asyncio.gather(*(self.probe(h) for h in hosts)),
        )
        return Observation(
            domain=domain,
            sts_txt=sts_answer,
            tlsrpt_txt=_answer(tlsrpt),
            mx=_mx_answer(mx, hosts),
            fetched=fetched,
            mx_checks={p.host: MxCheck(p.host, p.error_code, p.error, p.not_after) for p in probes},
            expected=self.expected.get(domain),
        )

    async def fetch(self, domain: str) -> FetchedPolicy | None:
        return await self.validator.fetcher.fetch(domain)

    def probe(self, host: str) -> asyncio.Task[MxProbe]:
        task = self.probes.get(host)
        if task is None:
            v = self.validator
            task = asyncio.ensure_future(
                probe_mx(host, v.smtp_context, connect_to=v.smtp_connect_to, timeout=v.smtp_timeout)
            )
            self.probes[host] = task
        return task


async def _nothing() -> FetchedPolicy | None:
    return None


def _answer(lookup: Lookup[str]) -> Answer:
    if lookup.outcome is Outcome.FAILURE:
        return Answer(failure=lookup.error or "no answer")
    return Answer(lookup.records)


def _mx_answer(lookup: Lookup[MxRecord], hosts: Iterable[str]) -> Answer:
    if lookup.outcome is Outcome.FAILURE:
        return Answer(failure=lookup.error or "no answer")
    return Answer(tuple(hosts))
