"""The validator over a fleet of healthy domains in the local world, against the floor: the same
DNS queries and TLS handshakes done by the most direct code possible, measured in the same run.

    .venv/bin/python -m benchmarks.validator_fleet [--domains N] [--latency-ms N] [--rounds N]

Each domain `dNNNN.bench.test` has `_mta-sts` and `_smtp._tls` TXT records, two MX hosts of its
own (`mx1.dNNNN.bench.test`, `mx2...`, so the validator's per-run MX dedup does not shrink the
work) and a Pages site serving a valid policy on `mta-sts.dNNNN.bench.test`. The world (DNS,
HTTPS and SMTP servers) runs in a child process, so the client's CPU time is its own and the
world's is measured apart (the world reports it over the pipe); a few
`LocalMxServer(any_name=True)` instances stand in for every MX host name, each name with its own
certificate. With `--latency-ms`, a second set of the same servers sends everything that much
later (their `latency` setting): each DNS answer, the SMTP banner and every reply, each flight of
a TLS handshake, the HTTP response. Every exchange then costs the client one round trip of that
length, as on a path that far away, with no proxy copying every byte in the world's process.

Targets (exit status 1 when one is missed, 2 when the benchmark cannot run or a verdict or
floor session is not clean): validator >= 50 % of the floor's domains/s; with `--latency-ms`
of round trip on every exchange, the fleet within 10x one domain's time; peak RSS of
the client process <= 300 MB. The report also says what the CPU alone allows: the client's and
the world's CPU per domain, the least wall time they need on this machine's cores, and the
cores the latency target would need.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import trustme

from mtasts.tls_stream import TlsStream
from mtasts_local.cloudflare.state import (
    Asset,
    CloudflareState,
    CustomDomain,
    Deployment,
    DnsRecord,
    PagesProject,
    Zone,
    canonical,
    new_id,
)
from mtasts_local.pki import LocalPki

RATIO_TARGET = 0.5
LATENCY_FACTOR_TARGET = 10.0
RSS_TARGET_MB = 300.0
TIMEOUT = 30.0  # seconds for each fetch, probe and lookup; nothing should come near it


# --- the world (a child process) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Targets:
    """Where the client connects: DNS, the Pages edge, and each MX host name's server."""

    dns: tuple[str, int]
    https: tuple[str, int]
    smtp: dict[str, tuple[str, int]]


@dataclass(frozen=True, slots=True)
class WorldEndpoints:
    ca_bundle: str
    direct: Targets
    far: Targets | None  # the same world's servers, each adding latency

    def targets(self, far: bool) -> Targets:
        if not far:
            return self.direct
        if self.far is None:
            raise BenchmarkError("the world has no servers with latency")
        return self.far


class IndexedState(CloudflareState):
    """The stand-in's state, answering the same, with hash lookups where `CloudflareState` scans
    every zone (`zone_for`) or every project (`_project_for_host`): at 1,000 zones those scans,
    run several times per DNS query and HTTPS request, made the servers the bottleneck. The
    benchmark populates the state once and never changes it while measuring."""

    def __init__(self, account_id: str, api_token: str) -> None:
        super().__init__(account_id, api_token)
        self._zone_by_name: dict[str, Zone] = {}
        self._project_by_host: dict[str, PagesProject] = {}

    def add_zone(self, name: str, zone_id: str | None = None) -> Zone:
        zone = super().add_zone(name, zone_id)
        self._zone_by_name[zone.name] = zone
        return zone

    def zone_for(self, name: str) -> Zone | None:
        labels = canonical(name).split(".")
        for start in range(len(labels)):
            zone = self._zone_by_name.get(".".join(labels[start:]))
            if zone is not None:
                return zone
        return None

    def add_project(self, project: PagesProject) -> None:
        self.projects[project.name] = project
        self._project_by_host[project.subdomain] = project
        for host in project.domains:
            self._project_by_host[host] = project

    def _project_for_host(self, host: str) -> PagesProject | None:
        project = self._project_by_host.get(host)
        if project is None or host == project.subdomain:
            return project
        domain = project.domains[host]
        return project if self.custom_domain_status(domain) == "active" else None


def mx_names(domain: str, shared: bool) -> tuple[str, str]:
    if shared:
        return "mx1.shared.bench.test", "mx2.shared.bench.test"
    return f"mx1.{domain}", f"mx2.{domain}"


def populate(state: IndexedState, domains: Sequence[str], shared_mx: bool) -> list[str]:
    """Every domain's zone, records and Pages site, straight into the state; the MX names."""
    from mtasts.pages_project import headers_file

    hosts: dict[str, None] = {}
    if shared_mx:
        zone = state.add_zone("shared.bench.test")
        for host in mx_names("", True):
            _record(state, zone, "A", host, "127.0.0.1")
    for domain in domains:
        zone = state.add_zone(domain)
        _record(state, zone, "TXT", f"_mta-sts.{domain}", '"v=STSv1; id=20260101T000000"')
        _record(state, zone, "TXT", f"_smtp._tls.{domain}", '"v=TLSRPTv1; rua=mailto:r@bench.test"')
        for preference, host in zip((10, 20), mx_names(domain, shared_mx), strict=True):
            _record(state, zone, "MX", domain, host, priority=preference)
            if not shared_mx:
                _record(state, zone, "A", host, "127.0.0.1")
            hosts[host] = None
        policy = "".join(
            ["version: STSv1\r\nmode: enforce\r\n"]
            + [f"mx: {host}\r\n" for host in mx_names(domain, shared_mx)]
            + ["max_age: 604800\r\n"]
        ).encode()
        _site(state, zone, domain, policy, headers_file())
    return list(hosts)


def _record(
    state: CloudflareState, zone: Zone, kind: str, name: str, content: str, **extra: Any
) -> None:
    state.put_record(DnsRecord(new_id(), zone.id, zone.name, kind, name, content, **extra))


def _site(state: IndexedState, zone: Zone, domain: str, policy: bytes, headers: bytes) -> None:
    """A Pages project with an active custom domain and one production deployment."""
    host = f"mta-sts.{domain}"
    project = PagesProject(new_id(), f"mta-sts-{domain.replace('.', '-')}", state.account_id)
    digest = new_id()
    state.assets[digest] = Asset(policy, "text/plain")
    manifest = {"/.well-known/mta-sts.txt": digest}
    project.deployments.append(
        Deployment(new_id(), project.name, manifest, headers, "main", "production")
    )
    project.domains[host] = CustomDomain(new_id(), host, project.name)
    _record(state, zone, "CNAME", host, project.subdomain, proxied=True)
    state.add_project(project)


@dataclass(frozen=True, slots=True)
class WorldRole:
    """What one world process serves: "web" (DNS and the Pages edge, over the state) or "mail"
    (the SMTP servers); each once directly and, with `latency`, once more that far away."""

    name: str
    domains: int
    mx_servers: int
    latency: float
    shared_mx: bool
    ca_pem: tuple[bytes, bytes]  # certificate and key: the servers of both processes chain to it


Listening = list[tuple[str, int]]  # where a process's servers listen, in its role's order


def serve_world(connection: Connection, role: WorldRole) -> None:
    """A child process: start its part of the world, send where it listens (directly, then far
    away), serve until told to stop. The world is two processes, as a real one's servers are
    on other machines: the threads of one share an interpreter lock, which was the bottleneck."""
    stoppers: list[Callable[[], None]] = []
    try:
        pki = LocalPki(trustme.CA.from_pem(*role.ca_pem))
        latencies = [0.0, role.latency] if role.latency > 0 else [0.0]
        if role.name == "web":
            state = IndexedState("bench-account", "bench-token")
            populate(state, domain_names(role.domains), role.shared_mx)
            listening = [_web_servers(state, pki, delay, stoppers) for delay in latencies]
        else:
            listening = [_mx_servers(pki, role.mx_servers, delay, stoppers) for delay in latencies]
        connection.send(listening)
        while connection.recv() == "cpu":
            connection.send(process_cpu())
    except Exception as error:  # the parent reports it; a traceback here would be lost
        connection.send(f"{type(error).__name__}: {error}")
    finally:
        for stop in reversed(stoppers):
            stop()


def _web_servers(
    state: IndexedState, pki: LocalPki, latency: float, stoppers: list[Callable[[], None]]
) -> Listening:
    """One DNS server and one HTTPS edge over the state, `latency` away."""
    from mtasts_local.dns_server import LocalDnsServer
    from mtasts_local.https_server import LocalHttpsServer

    https = LocalHttpsServer(state, pki, socket_timeout=TIMEOUT, latency=latency).start()
    stoppers.append(https.stop)
    dns = LocalDnsServer(state, edge_address="127.0.0.1", latency=latency).start()
    stoppers.append(dns.stop)
    return [("127.0.0.1", dns.port), ("127.0.0.1", https.port)]


def _mx_servers(
    pki: LocalPki, count: int, latency: float, stoppers: list[Callable[[], None]]
) -> Listening:
    """`count` SMTP servers that present a certificate for any MX name, `latency` away."""
    from mtasts_local.config import MxBehaviour
    from mtasts_local.smtp_server import LocalMxServer, MailSink

    sink = MailSink()
    listening = []
    for number in range(count):
        server = LocalMxServer(
            f"mx{number}.bench.test", MxBehaviour.OK, pki, sink, any_name=True, latency=latency
        ).start()
        stoppers.append(server.stop)
        listening.append(("127.0.0.1", server.port))
    return listening


class World:
    """The world's two processes, seen from the client: where to connect, their CPU time."""

    def __init__(self, args: argparse.Namespace) -> None:
        ca = trustme.CA(organization_name="validator_fleet benchmark CA")
        bundle = Path(tempfile.mkdtemp(prefix="bench-")) / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        context = multiprocessing.get_context("spawn")
        self._processes: list[tuple[Any, Connection]] = []
        listening: dict[str, list[Listening]] = {}
        try:
            for name in ("web", "mail"):
                role = WorldRole(
                    name,
                    args.domains,
                    args.mx_servers,
                    args.latency_ms / 1000,
                    args.shared_mx,
                    (ca.cert_pem.bytes(), ca.private_key_pem.bytes()),
                )
                parent, child = context.Pipe()
                process = context.Process(
                    target=serve_world, args=(child, role), name=f"bench-world-{name}"
                )
                process.start()
                self._processes.append((process, parent))
                listening[name] = _started(process, parent)
        except BaseException:
            self.stop()
            raise
        hosts = [h for d in domain_names(args.domains) for h in mx_names(d, args.shared_mx)]
        targets = [
            _targets(web, mail, list(dict.fromkeys(hosts)))
            for web, mail in zip(listening["web"], listening["mail"], strict=True)
        ]
        far = targets[1] if len(targets) > 1 else None
        self.endpoints = WorldEndpoints(str(bundle.resolve()), targets[0], far)

    def cpu(self) -> float:
        """The CPU seconds of every world process so far (all threads, user and system)."""
        total = 0.0
        for _, connection in self._processes:
            connection.send("cpu")
            total += connection.recv()
        return total

    def stop(self) -> None:
        for process, connection in self._processes:
            if process.is_alive():
                connection.send("stop")
        for process, _ in self._processes:
            process.join(60)


def _started(process: Any, connection: Connection) -> list[Listening]:
    if not connection.poll(180):
        process.kill()
        raise BenchmarkError("the world did not start within 180 s")
    message = connection.recv()
    if isinstance(message, str):
        process.join()
        raise BenchmarkError(f"the world failed to start: {message}")
    listening: list[Listening] = message
    return listening


def _targets(web: Listening, mail: Listening, hosts: Sequence[str]) -> Targets:
    dns, https = web
    return Targets(dns, https, {host: mail[i % len(mail)] for i, host in enumerate(hosts)})


# --- the floor ------------------------------------------------------------------------------------


async def floor_run(
    targets: Targets, ca_bundle: str, domains: Sequence[str], timeout: float
) -> None:
    """For each domain, what the validator does on the wire and nothing else: three UDP DNS
    queries (dnspython's own query call, no resolver), one TLS connection with a GET of the
    policy, and per MX host EHLO, STARTTLS and the handshake; at most as many domains at
    once as the validator allows, and each MX host once per run."""
    from mtasts.validator import DEFAULT_CONCURRENCY

    context = ssl.create_default_context(cafile=ca_bundle)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    floor = _Floor(targets, context, timeout)
    limit = asyncio.Semaphore(DEFAULT_CONCURRENCY)

    async def one(domain: str) -> None:
        async with limit:
            await floor.domain(domain)

    async with asyncio.timeout(timeout * 4):
        await asyncio.gather(*(one(d) for d in domains))


class _Floor:
    def __init__(self, targets: Targets, context: ssl.SSLContext, timeout: float) -> None:
        import dns.asyncquery
        import dns.message

        self.targets = targets
        self.context = context
        self.timeout = timeout
        self.probes: dict[str, asyncio.Task[None]] = {}
        self._query = dns.asyncquery.udp
        self._message = dns.message.make_query

    async def domain(self, domain: str) -> None:
        _, _, mx = await asyncio.gather(
            self.dns(f"_mta-sts.{domain}", "TXT"),
            self.dns(f"_smtp._tls.{domain}", "TXT"),
            self.dns(domain, "MX"),
        )
        hosts = [r.exchange.to_text(omit_final_dot=True) for r in mx.answer[0]]
        await asyncio.gather(self.https(domain), *(self.probe(h) for h in hosts))

    async def dns(self, name: str, rdtype: str) -> Any:
        address, port = self.targets.dns
        return await self._query(self._message(name, rdtype), address, self.timeout, port)

    async def https(self, domain: str) -> None:
        host = f"mta-sts.{domain}"
        reader, writer = await asyncio.open_connection(*self.targets.https)
        tls = await TlsStream.handshake(reader, writer, self.context, host)
        request = f"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\n\r\n"
        await tls.write(request.encode("ascii"))
        answer = b""
        while chunk := await tls.read(65536):  # the edge closes after its response
            answer += chunk
        if not answer.startswith(b"HTTP/1.1 200 "):
            raise BenchmarkError(f"floor: {host} answered {answer[:40]!r}")
        tls.abort()

    def probe(self, host: str) -> asyncio.Task[None]:
        task = self.probes.get(host)
        if task is None:
            task = self.probes[host] = asyncio.ensure_future(self.smtp(host))
        return task

    async def smtp(self, host: str) -> None:
        reader, writer = await asyncio.open_connection(*self.targets.smtp[host])
        await _reply(reader, b"220")
        writer.write(b"EHLO floor.invalid\r\n")
        await _reply(reader, b"250")
        writer.write(b"STARTTLS\r\n")
        await _reply(reader, b"220")
        tls = await TlsStream.handshake(reader, writer, self.context, host)
        await tls.write(b"QUIT\r\n")
        await tls.read(4096)  # 221
        tls.close()
        await _closed(writer)


async def _reply(reader: asyncio.StreamReader, code: bytes) -> None:
    while True:
        line = await reader.readline()
        if line[:3] != code:
            raise BenchmarkError(f"floor: expected {code!r}, got {line[:60]!r}")
        if line[3:4] != b"-":
            return


async def _closed(writer: asyncio.StreamWriter) -> None:
    try:
        await writer.wait_closed()
    except (OSError, ssl.SSLError):
        pass


# --- the client side ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timing:
    wall: float
    cpu: float  # the client process's CPU seconds (all its threads, user and system)
    world_cpu: float = 0.0  # the world process's, over the same run


def process_cpu() -> float:
    """This process's CPU seconds so far, user and system, every thread."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_WORLD: World | None = None


def watch_world(world: World) -> None:
    global _WORLD
    _WORLD = world


def world_cpu() -> float:
    return _WORLD.cpu() if _WORLD is not None else 0.0


def domain_names(count: int) -> list[str]:
    return [f"d{i:04d}.bench.test" for i in range(1, count + 1)]


async def validator_run(endpoints: WorldEndpoints, domains: Sequence[str], far: bool) -> Timing:
    """The validator as the validate Lambda builds it (default concurrency limits)."""
    from mtasts.dns_lookup import AsyncDnsLookup
    from mtasts.policy_fetch import AsyncHttpsPolicyFetcher
    from mtasts.smtp_probe import strict_client_context
    from mtasts.validator import Validator

    targets = endpoints.targets(far)
    async with AsyncHttpsPolicyFetcher(
        ca_bundle=endpoints.ca_bundle,
        connect_to={"*": targets.https},
        timeout=TIMEOUT,
    ) as fetcher:
        validator = Validator(
            lookup=AsyncDnsLookup(targets.dns[0], targets.dns[1], timeout=TIMEOUT),
            fetcher=fetcher,
            smtp_context=strict_client_context(endpoints.ca_bundle),
            smtp_connect_to=targets.smtp,
            smtp_timeout=TIMEOUT,
        )
        world, cpu, started = world_cpu(), process_cpu(), time.perf_counter()
        verdicts = await validator.validate(domains)
        wall = time.perf_counter() - started
        timing = Timing(wall, process_cpu() - cpu, world_cpu() - world)
    unclean = [v for v in verdicts if v.findings or v.policy is None]
    if unclean:
        first = unclean[0]
        raise BenchmarkError(f"{len(unclean)} verdict(s) not clean, e.g. {first.domain}: {first}")
    return timing


async def floor_timed(endpoints: WorldEndpoints, domains: Sequence[str], far: bool) -> Timing:
    world, cpu, started = world_cpu(), process_cpu(), time.perf_counter()
    await floor_run(endpoints.targets(far), endpoints.ca_bundle, domains, TIMEOUT)
    wall = time.perf_counter() - started
    return Timing(wall, process_cpu() - cpu, world_cpu() - world)


class BenchmarkError(Exception):
    """The benchmark cannot give a figure: the world is wrong or a run was not clean."""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@dataclass
class Figures:
    domains: int
    validator: list[Timing]
    floor: list[Timing]
    rss_after_validator_mb: float = 0.0
    peak_rss_mb: float = 0.0
    one_domain: list[float] | None = None
    fleet_latency: list[Timing] | None = None

    def rate(self, timings: list[Timing], cpu: bool = False) -> float:
        return self.domains / statistics.median(t.cpu if cpu else t.wall for t in timings)

    def ratio(self, cpu: bool = False) -> float:
        return self.rate(self.validator, cpu) / self.rate(self.floor, cpu)


Run = Callable[[WorldEndpoints, Sequence[str], bool], Awaitable[Timing]]


def timed_rounds(endpoints: WorldEndpoints, domains: Sequence[str], rounds: int) -> Figures:
    """Validator and floor take turns, so drift in the machine's speed hits both alike."""
    figures = Figures(len(domains), [], [])
    print(f"warm-up: floor over {len(domains)} domains (the servers' certificate caches)")
    asyncio.run(floor_timed(endpoints, domains, False))
    asyncio.run(validator_run(endpoints, domains[:20], False))
    for number in range(1, rounds + 1):
        for name, run, into in (
            ("validator", validator_run, figures.validator),
            ("floor", floor_timed, figures.floor),
        ):
            timing = asyncio.run(run(endpoints, domains, False))
            into.append(timing)
            print(
                f"  round {number} {name:9}: {timing.wall:6.2f} s wall, {timing.cpu:6.2f} s CPU, "
                f"{len(domains) / timing.wall:7.1f} domains/s"
            )
            if number == 1 and name == "validator":
                figures.rss_after_validator_mb = peak_rss_mb()
    return figures


def latency_runs(
    endpoints: WorldEndpoints, domains: Sequence[str], figures: Figures, rounds: int
) -> None:
    # Warm-up, untimed: the floor fills these servers' certificate caches; a validator pass
    # brings the world's processes to their steady state (their heaps grown to the peak of a
    # validator run's sessions: the first such run cost the world 1-2 s more CPU than later
    # ones, which remote servers in service would not show).
    asyncio.run(floor_timed(endpoints, domains, True))
    asyncio.run(validator_run(endpoints, domains, True))
    singles = []
    for domain in domains[-5:]:
        singles.append(asyncio.run(validator_run(endpoints, [domain], True)).wall)
    figures.one_domain = singles
    print("  one domain alone: " + ", ".join(f"{s:.3f}" for s in singles) + " s")
    figures.fleet_latency = []
    for number in range(1, rounds + 1):
        timing = asyncio.run(validator_run(endpoints, domains, True))
        figures.fleet_latency.append(timing)
        print(
            f"  round {number}, {len(domains)} domains: {timing.wall:.2f} s wall, "
            f"{timing.cpu:.2f} s client CPU, {timing.world_cpu:.2f} s world CPU"
        )
    # The control: if the floor cannot do it either, the machine (CPU), not the validator's
    # concurrency, is what limits the fleet run.
    one = asyncio.run(floor_timed(endpoints, domains[-1:], True)).wall
    fleet = asyncio.run(floor_timed(endpoints, domains, True))
    print(
        f"  floor, the control: one domain {one:.3f} s, {len(domains)} domains {fleet.wall:.2f} s "
        f"= {fleet.wall / one:.1f}x ({fleet.cpu:.2f} s client CPU, {fleet.world_cpu:.2f} s world)"
    )


# --- the report -----------------------------------------------------------------------------------


def report(figures: Figures, latency_ms: float) -> bool:
    v_wall, f_wall = figures.rate(figures.validator), figures.rate(figures.floor)
    v_cpu, f_cpu = figures.rate(figures.validator, True), figures.rate(figures.floor, True)
    ratio_wall, ratio_cpu = figures.ratio(), figures.ratio(cpu=True)
    print()
    print(f"{'':28} {'validator':>10} {'floor':>10} {'ratio':>7}")
    print(f"{'domains/s (wall)':28} {v_wall:10.1f} {f_wall:10.1f} {ratio_wall:7.2f}")
    print(f"{'domains/s per client CPU s':28} {v_cpu:10.1f} {f_cpu:10.1f} {ratio_cpu:7.2f}")
    checks = [
        (f"validator >= {RATIO_TARGET:.0%} of the floor (wall)", ratio_wall >= RATIO_TARGET),
        (f"validator >= {RATIO_TARGET:.0%} of the floor (CPU)", ratio_cpu >= RATIO_TARGET),
        (
            f"peak RSS {figures.peak_rss_mb:.0f} MB <= {RSS_TARGET_MB:.0f} MB "
            f"(after the first validator round: {figures.rss_after_validator_mb:.0f} MB)",
            figures.peak_rss_mb <= RSS_TARGET_MB,
        ),
    ]
    if figures.one_domain and figures.fleet_latency:
        one = statistics.median(figures.one_domain)
        fleet = median_timing(figures.fleet_latency)
        factor = fleet.wall / one
        checks.append(
            (
                f"{latency_ms:g} ms round trips: {figures.domains} domains in "
                f"{fleet.wall:.2f} s = {factor:.1f}x one domain ({one:.3f} s) "
                f"<= {LATENCY_FACTOR_TARGET:g}x",
                factor <= LATENCY_FACTOR_TARGET,
            )
        )
        cpu_bound(figures.domains, fleet, one)
    print()
    for text, met in checks:
        print(f"  [{'met' if met else 'MISSED'}] {text}")
    return all(met for _, met in checks)


def median_timing(timings: Sequence[Timing]) -> Timing:
    """The run with the median wall time (its CPU figures are that run's)."""
    ordered = sorted(timings, key=lambda t: t.wall)
    return ordered[(len(ordered) - 1) // 2]


def cpu_bound(domains: int, fleet: Timing, one: float) -> None:
    """What the CPU alone allows: the client's event loop is one thread, so the run takes at
    least its CPU time; client and world together take at least their CPU time spread over
    every core. The latency target needs both under `LATENCY_FACTOR_TARGET` one-domain times."""
    cores = os.cpu_count() or 1
    total = fleet.cpu + fleet.world_cpu
    floor = max(fleet.cpu, total / cores)
    budget = LATENCY_FACTOR_TARGET * one
    print(
        f"CPU per domain in the +latency fleet run: client {1000 * fleet.cpu / domains:.2f} ms, "
        f"world {1000 * fleet.world_cpu / domains:.2f} ms"
    )
    print(
        f"CPU-bound least wall time on {cores} cores: {floor:.2f} s = {floor / one:.1f}x one "
        f"domain; {LATENCY_FACTOR_TARGET:g}x ({budget:.2f} s) needs {total / budget:.1f} cores "
        f"in all, the client's share on {fleet.cpu / budget:.1f} of them"
    )


# --- main -----------------------------------------------------------------------------------------


async def part_run(endpoints: WorldEndpoints, domains: Sequence[str], part: str) -> Timing:
    """One kind of probe alone over every domain, as the validator makes it (its limits)."""
    from mtasts.dns_lookup import AsyncDnsLookup
    from mtasts.policy_fetch import AsyncHttpsPolicyFetcher
    from mtasts.smtp_probe import probe_mx, strict_client_context
    from mtasts.validator import DEFAULT_CONCURRENCY

    targets = endpoints.direct
    limit = asyncio.Semaphore(DEFAULT_CONCURRENCY)

    async def bounded(probe: Awaitable[object]) -> object:
        async with limit:
            return await probe

    world, cpu, started = world_cpu(), process_cpu(), time.perf_counter()
    if part == "dns":
        lookup = AsyncDnsLookup(*targets.dns, timeout=TIMEOUT)
        names = [n for d in domains for n in (f"_mta-sts.{d}", f"_smtp._tls.{d}")]
        await asyncio.gather(*(bounded(lookup.txt(n)) for n in names))
        await asyncio.gather(*(bounded(lookup.mx(d)) for d in domains))
    elif part == "fetch":
        async with AsyncHttpsPolicyFetcher(
            ca_bundle=endpoints.ca_bundle, connect_to={"*": targets.https}, timeout=TIMEOUT
        ) as fetcher:
            await asyncio.gather(*(bounded(fetcher.fetch(d)) for d in domains))
    else:
        context = strict_client_context(endpoints.ca_bundle)
        hosts = [h for d in domains for h in mx_names(d, False)]
        probes = (probe_mx(h, context, connect_to=targets.smtp, timeout=TIMEOUT) for h in hosts)
        await asyncio.gather(*(bounded(p) for p in probes))
    wall = time.perf_counter() - started
    return Timing(wall, process_cpu() - cpu, world_cpu() - world)


def breakdown(endpoints: WorldEndpoints, domains: Sequence[str], rounds: int) -> None:
    """Where the CPU goes: each kind of probe alone, client and world, per domain (medians)."""
    print("CPU per domain by part (each alone over every domain; median of the rounds):")
    for part, what in (
        ("dns", "3 DNS lookups"),
        ("fetch", "the policy fetch"),
        ("smtp", "2 MX probes"),
    ):
        timings = [asyncio.run(part_run(endpoints, domains, part)) for _ in range(rounds)]
        client = statistics.median(t.cpu for t in timings) * 1000 / len(domains)
        world = statistics.median(t.world_cpu for t in timings) * 1000 / len(domains)
        print(f"  {what:17} client {client:5.2f} ms   world {world:5.2f} ms")


def measure(args: argparse.Namespace, endpoints: WorldEndpoints) -> Figures:
    domains = domain_names(args.domains)
    figures = timed_rounds(endpoints, domains, args.rounds)
    if args.breakdown:
        breakdown(endpoints, domains, args.rounds)
    if args.latency_ms > 0:
        print(f"latency: {args.latency_ms:g} ms round trip on every exchange")
        latency_runs(endpoints, domains, figures, args.rounds)
    figures.peak_rss_mb = peak_rss_mb()
    return figures


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.validator_fleet")
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=100.0, help="0 skips the latency run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mx-servers", type=int, default=2, help="LocalMxServer instances")
    parser.add_argument(
        "--breakdown", action="store_true", help="also each kind of probe alone: CPU per part"
    )
    parser.add_argument(
        "--shared-mx", action="store_true", help="every domain uses the same two MX host names"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    variant = "shared MX hosts" if args.shared_mx else "two MX hosts of its own per domain"
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores; {args.domains} domains, "
        f"{variant}; {args.rounds} rounds"
    )
    started = time.perf_counter()
    try:
        world = World(args)
    except BenchmarkError as error:
        print(f"validator_fleet: {error}", file=sys.stderr)
        return 2
    try:
        print(f"world ready in {time.perf_counter() - started:.1f} s")
        watch_world(world)
        figures = measure(args, world.endpoints)
    except BenchmarkError as error:
        print(f"validator_fleet: {error}", file=sys.stderr)
        return 2
    finally:
        world.stop()
    met = report(figures, args.latency_ms)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
