"""Every validator finding code, produced by a real misconfiguration of the local world and seen
over real DNS, HTTPS and SMTP; and no finding at all for the healthy domain.

Each case starts from `selfhosted.example` deployed in `testing` through the real Cloudflare
adapters (mx `*.selfhosted.example`, so extra MX hosts under it are covered), then breaks one
thing the way it breaks in the field: a record edited by hand, an edge that redirects, an MX host
whose certificate lapsed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mtasts.cloudflare_client import make_client
from mtasts.cloudflare_dns import CloudflareDns
from mtasts.cloudflare_pages import CloudflarePagesHost
from mtasts.deploy import DeployRequest
from mtasts.dns_lookup import AsyncDnsLookup
from mtasts.file_store import FilePolicyStore
from mtasts.findings import Severity
from mtasts.pages_project import headers_file
from mtasts.policy import Mode
from mtasts.policy_fetch import AsyncHttpsPolicyFetcher
from mtasts.policy_state import PublishedPolicy
from mtasts.ports import SiteFiles
from mtasts.settings import load_settings
from mtasts.smtp_probe import strict_client_context
from mtasts.validation_rules import Verdict
from mtasts.validator import Validator
from mtasts.wiring import build_deployer
from mtasts_local.cloudflare.state import CloudflareState, DnsRecord, new_id
from mtasts_local.config import MxBehaviour
from mtasts_local.https_server import HttpsBehaviour
from mtasts_local.smtp_server import LocalMxServer
from mtasts_local.world import LocalWorld

DOMAIN = "selfhosted.example"
POLICY_HOST = f"mta-sts.{DOMAIN}"
RUA = ("mailto:tlsrpt@reports.mtasts.test",)
TIMEOUT = 2.0


@dataclass
class Field:
    """The deployed domain and what a case may change around it."""

    world: LocalWorld
    expected: PublishedPolicy
    smtp: dict[str, tuple[str, int]] = field(default_factory=dict)
    servers: list[LocalMxServer] = field(default_factory=list)

    @property
    def state(self) -> CloudflareState:
        return self.world.cloudflare

    def txt(self, name: str, content: str) -> None:
        zone = self.state.zone_for(name)
        assert zone is not None
        record = DnsRecord(new_id(), zone.id, zone.name, "TXT", name, f'"{content}"')
        self.state.put_record(record)

    def edit_txt(self, name: str, tag: str, content: str) -> None:
        record = next(r for r in self.state.records_named(name) if tag in r.content)
        self.state.replace_record(record, content=f'"{content}"')

    def drop_txt(self, name: str, tag: str) -> None:
        record = next(r for r in self.state.records_named(name) if tag in r.content)
        self.state.delete_record(record.zone_id, record.id)

    def publish(self, policy: bytes, headers: bytes | None = None) -> None:
        client = make_client(self.world.cloudflare.api_token, base_url=self.world.stand_in.base_url)
        dns = CloudflareDns(client)
        host = CloudflarePagesHost(client, self.world.cloudflare.account_id, dns)
        host.publish(SiteFiles(DOMAIN, policy, headers or headers_file()))

    def mx_host(self, name: str, behaviour: MxBehaviour | None) -> None:
        """A new MX host under the domain: a server with `behaviour`, or none (unreachable)."""
        zone = self.state.zone_for(DOMAIN)
        assert zone is not None
        address = "127.0.0.1"
        self.state.put_record(DnsRecord(new_id(), zone.id, zone.name, "A", name, address))
        self.state.put_record(
            DnsRecord(new_id(), zone.id, zone.name, "MX", DOMAIN, name, priority=30)
        )
        if behaviour is None:
            with socket.socket() as unused:
                unused.bind((address, 0))
                self.smtp[name] = (address, unused.getsockname()[1])
            return
        server = LocalMxServer(name, behaviour, self.world.pki, self.world.sink, address).start()
        self.servers.append(server)
        self.smtp[name] = (address, server.port)


@pytest.fixture
def deployed(world: LocalWorld, tmp_path: Path) -> Iterator[Field]:
    endpoints = world.endpoints()
    settings = load_settings(
        {
            "CLOUDFLARE_API_TOKEN": endpoints.cloudflare_api_token,
            "CLOUDFLARE_ACCOUNT_ID": endpoints.cloudflare_account_id,
            "CLOUDFLARE_BASE_URL": endpoints.cloudflare_base_url,
            "DNS_NAMESERVER": f"{endpoints.dns.host}:{endpoints.dns.port}",
            "POLICY_CONNECT_TO": f"{endpoints.https.host}:{endpoints.https.port}",
            "CA_BUNDLE": endpoints.ca_bundle,
        }
    )
    store = FilePolicyStore(tmp_path / "state")
    deployer = build_deployer(settings, store=store, audit=store, sleep=lambda _s: None)
    deployer.deploy(DeployRequest(DOMAIN, Mode.TESTING, 86400, RUA, ("*.selfhosted.example",)))
    expected = store.load(DOMAIN)
    assert expected is not None
    scene = Field(world, expected, dict(endpoints.smtp_targets()))
    yield scene
    for server in scene.servers:
        server.stop()


def validate(scene: Field, timeout: float = TIMEOUT) -> Verdict:
    world = scene.world

    async def run() -> Verdict:
        async with AsyncHttpsPolicyFetcher(
            ca_bundle=world.ca_bundle,
            connect_to={"*": (world.bind, world.https.port)},
            timeout=timeout,
        ) as fetcher:
            validator = Validator(
                lookup=AsyncDnsLookup(world.bind, world.dns.port, timeout=timeout),
                fetcher=fetcher,
                smtp_context=strict_client_context(str(world.ca_bundle)),
                smtp_connect_to=scene.smtp,
                smtp_timeout=timeout,
            )
            (verdict,) = await validator.validate([DOMAIN], {DOMAIN: scene.expected})
            return verdict

    return asyncio.run(run())


def edge(behaviour: HttpsBehaviour) -> Callable[[Field], None]:
    return lambda scene: scene.world.https.set_behaviour(POLICY_HOST, behaviour)


STS, TLSRPT = f"_mta-sts.{DOMAIN}", f"_smtp._tls.{DOMAIN}"
BAD_POLICY = b"version: STSv1\r\nmode: enforce\r\nmax_age: 86400\r\n"  # enforce without mx
CASES: list[tuple[str, Callable[[Field], None], str]] = [
    ("sts-record-missing", lambda s: s.drop_txt(STS, "v=STSv1"), "error"),
    ("sts-record-multiple", lambda s: s.txt(STS, "v=STSv1; id=1"), "error"),
    ("sts-record-invalid", lambda s: s.edit_txt(STS, "v=STSv1", "v=STSv1; id=a-b"), "error"),
    ("tlsrpt-record-missing", lambda s: s.drop_txt(TLSRPT, "v=TLSRPTv1"), "error"),
    ("tlsrpt-record-multiple", lambda s: s.txt(TLSRPT, "v=TLSRPTv1; rua=mailto:x@y.z"), "error"),
    (
        "tlsrpt-record-invalid",
        lambda s: s.edit_txt(TLSRPT, "v=TLSRPTv1", "v=TLSRPTv1; rua=ftp://x"),
        "error",
    ),
    ("policy-fetch-failed", edge(HttpsBehaviour.SLOW), "error"),
    ("policy-certificate-invalid", edge(HttpsBehaviour.EXPIRED_CERT), "error"),
    ("policy-certificate-invalid", edge(HttpsBehaviour.WRONG_NAME_CERT), "error"),
    ("policy-certificate-invalid", edge(HttpsBehaviour.UNTRUSTED_CERT), "error"),
    ("policy-redirect", edge(HttpsBehaviour.REDIRECT), "error"),
    ("policy-http-status", edge(HttpsBehaviour.NOT_FOUND), "error"),
    ("policy-content-type", edge(HttpsBehaviour.CONTENT_TYPE), "warning"),
    ("policy-too-large", edge(HttpsBehaviour.HUGE), "error"),
    ("policy-invalid", lambda s: s.publish(BAD_POLICY), "error"),
    (
        "policy-cache-long",
        lambda s: s.publish(s.expected.policy_text.encode(), headers_file(cache_seconds=86400)),
        "warning",
    ),
    (
        "policy-id-stale",
        lambda s: s.edit_txt(STS, "v=STSv1", "v=STSv1; id=20200101000000"),
        "error",
    ),
    ("mx-not-covered", lambda s: s.mx_host("mx.elsewhere.example", None), "warning"),
    ("mx-starttls-missing", lambda s: s.mx_host("mx3." + DOMAIN, MxBehaviour.NO_STARTTLS), "error"),
    (
        "mx-certificate-invalid",
        lambda s: s.mx_host("mx3." + DOMAIN, MxBehaviour.WRONG_NAME_CERT),
        "error",
    ),
    (
        "mx-certificate-invalid",
        lambda s: s.mx_host("mx3." + DOMAIN, MxBehaviour.UNTRUSTED_CERT),
        "error",
    ),
    (
        "mx-certificate-expired",
        lambda s: s.mx_host("mx3." + DOMAIN, MxBehaviour.EXPIRED_CERT),
        "error",
    ),
    (
        "mx-certificate-expiring",
        lambda s: s.mx_host("mx3." + DOMAIN, MxBehaviour.EXPIRING_CERT),
        "warning",
    ),
    ("mx-unreachable", lambda s: s.mx_host("mx3." + DOMAIN, None), "warning"),
]


def test_the_healthy_deployed_domain_has_no_finding_at_all(deployed: Field) -> None:
    verdict = validate(deployed)
    assert verdict.findings == () and verdict.ok
    assert verdict.policy is not None and verdict.policy_id == deployed.expected.policy_id


@pytest.mark.parametrize(("code", "breakage", "severity"), CASES, ids=[c[0] for c in CASES])
def test_each_misconfiguration_produces_its_code(
    deployed: Field, code: str, breakage: Callable[[Field], None], severity: str
) -> None:
    breakage(deployed)
    verdict = validate(deployed, timeout=1.0 if code == "policy-fetch-failed" else TIMEOUT)
    found = {(f.code.value, f.severity.value) for f in verdict.findings}
    assert (code, severity) in found, verdict.findings
    # A warning alone never fails the domain; an error always does.
    assert verdict.ok is (Severity(severity) is Severity.WARNING), verdict.findings
