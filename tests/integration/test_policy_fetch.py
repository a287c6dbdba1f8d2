"""The policy fetcher against the local Pages edge over real TLS: every way RFC 8461 §3.3 says a
fetch fails, seen the way a strict sender sees it, and the deploy gate's wait for new bytes."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mtasts.errors import PolicyNotServedError
from mtasts.policy_fetch import (
    CERTIFICATE_INVALID,
    FETCH_FAILED,
    HTTP_STATUS,
    REDIRECT,
    TOO_LARGE,
    AsyncHttpsPolicyFetcher,
    HttpsPolicyFetcher,
    is_text_plain,
    wait_until_served,
)
from mtasts.ports import FetchedPolicy
from mtasts_local.cloudflare.state import (
    Asset,
    CloudflareState,
    CustomDomain,
    Deployment,
    DnsRecord,
    PagesProject,
    new_id,
)
from mtasts_local.https_server import HttpsBehaviour, LocalHttpsServer
from mtasts_local.pki import LocalPki

DOMAIN = "selfhosted.example"
HOST = f"mta-sts.{DOMAIN}"
URL = f"https://{HOST}/.well-known/mta-sts.txt"
POLICY_PATH = "/.well-known/mta-sts.txt"
POLICY = b"version: STSv1\r\nmode: testing\r\nmx: mx1.selfhosted.example\r\nmax_age: 86400\r\n"
ENFORCE = POLICY.replace(b"testing", b"enforce")
HEADERS_FILE = b"""\
/.well-known/mta-sts.txt
  Content-Type: text/plain; charset=utf-8
  Cache-Control: no-store
"""
# SLOW sends 8 bytes per interval: POLICY takes about 2.5 s, far past the 1 s total timeout,
# while each single read waits only 0.25 s, well within it.
SLOW_INTERVAL = 0.25
TOTAL_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def pki() -> LocalPki:
    return LocalPki()


@pytest.fixture(scope="module")
def ca_bundle(pki: LocalPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pki.write_ca_bundle(tmp_path_factory.mktemp("pki") / "ca.pem")


@pytest.fixture(scope="module")
def state() -> CloudflareState:
    return CloudflareState("10ca1f00d10ca1f00d10ca1f00d10ca1", "token")


@pytest.fixture(scope="module")
def edge(state: CloudflareState, pki: LocalPki) -> Iterator[LocalHttpsServer]:
    with LocalHttpsServer(state, pki, slow_interval=SLOW_INTERVAL) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(state: CloudflareState, edge: LocalHttpsServer) -> None:
    state.reset()
    edge.clear_behaviours()


@pytest.fixture
def fetcher(edge: LocalHttpsServer, ca_bundle: Path) -> Iterator[HttpsPolicyFetcher]:
    with HttpsPolicyFetcher(
        ca_bundle=ca_bundle, connect_to={"*": ("127.0.0.1", edge.port)}, timeout=TOTAL_TIMEOUT
    ) as running:
        yield running


# --- building sites straight into the state -------------------------------------------------------


def site(state: CloudflareState, policy: bytes = POLICY, domain: str = DOMAIN) -> PagesProject:
    """An active Pages project for `mta-sts.<domain>` with one production deployment."""
    name = f"mta-sts-{domain.replace('.', '-')}"
    project = PagesProject(new_id(), name, state.account_id)
    state.projects[name] = project
    deploy(state, project, policy)
    host = f"mta-sts.{domain}"
    project.domains[host] = CustomDomain(new_id(), host, name)
    zone = state.zone_for(host) or state.add_zone(domain)
    cname = DnsRecord(new_id(), zone.id, zone.name, "CNAME", host, project.subdomain, proxied=True)
    state.put_record(cname)
    return project


def deploy(state: CloudflareState, project: PagesProject, policy: bytes) -> None:
    digest = hashlib.sha256(policy).hexdigest()[:32]
    state.assets[digest] = Asset(policy, "application/octet-stream")
    manifest = {POLICY_PATH: digest}
    deployment = Deployment(new_id(), project.name, manifest, HEADERS_FILE, "main", "production")
    project.deployments.append(deployment)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- served ---------------------------------------------------------------------------------------


def test_a_served_policy_comes_back_with_its_bytes_and_headers(
    fetcher: HttpsPolicyFetcher, state: CloudflareState
):
    site(state)

    fetched = fetcher.fetch(DOMAIN)

    assert fetched == FetchedPolicy(
        URL, 200, POLICY, "text/plain; charset=utf-8", "no-store", None, None
    )


def test_the_domain_is_normalised_before_it_becomes_the_host(
    fetcher: HttpsPolicyFetcher, state: CloudflareState
):
    site(state)

    fetched = fetcher.fetch("SelfHosted.Example.")

    assert fetched.url == URL and fetched.body == POLICY


def test_without_a_headers_rule_pages_caching_is_reported(
    fetcher: HttpsPolicyFetcher, state: CloudflareState
):
    project = site(state)
    project.deployments.clear()
    digest = hashlib.sha256(POLICY).hexdigest()[:32]
    state.assets[digest] = Asset(POLICY, "text/plain")
    project.deployments.append(
        Deployment(new_id(), project.name, {POLICY_PATH: digest}, None, "main", "production")
    )

    fetched = fetcher.fetch(DOMAIN)

    assert fetched.content_type == "text/plain"
    assert fetched.cache_control == "public, max-age=0, must-revalidate"


# --- what a sender refuses ------------------------------------------------------------------------


def test_a_redirect_is_not_followed(
    fetcher: HttpsPolicyFetcher, state: CloudflareState, edge: LocalHttpsServer
):
    site(state)
    site(state, domain="elsewhere.example")  # a target that would answer 200
    target = "https://mta-sts.elsewhere.example/.well-known/mta-sts.txt"
    edge.set_behaviour(HOST, HttpsBehaviour.REDIRECT, redirect_to=target)

    fetched = fetcher.fetch(DOMAIN)

    assert (fetched.status, fetched.error_code, fetched.body) == (301, REDIRECT, None)
    assert fetched.error is not None and target in fetched.error


@pytest.mark.parametrize(
    ("behaviour", "status"),
    [(HttpsBehaviour.NOT_FOUND, 404), (HttpsBehaviour.SERVER_ERROR, 500)],
)
def test_a_status_other_than_200_fails(
    fetcher: HttpsPolicyFetcher,
    state: CloudflareState,
    edge: LocalHttpsServer,
    behaviour: HttpsBehaviour,
    status: int,
):
    site(state)
    edge.set_behaviour(HOST, behaviour)

    fetched = fetcher.fetch(DOMAIN)

    assert (fetched.status, fetched.error_code, fetched.body) == (status, HTTP_STATUS, None)


def test_a_host_without_a_site_is_404(fetcher: HttpsPolicyFetcher):
    fetched = fetcher.fetch("nobody.example")

    assert (fetched.status, fetched.error_code) == (404, HTTP_STATUS)


def test_a_wrong_content_type_is_reported_not_refused(
    fetcher: HttpsPolicyFetcher, state: CloudflareState, edge: LocalHttpsServer
):
    site(state)
    edge.set_behaviour(HOST, HttpsBehaviour.CONTENT_TYPE)

    fetched = fetcher.fetch(DOMAIN)

    assert fetched.error is None and fetched.body == POLICY
    assert fetched.content_type == "text/html; charset=utf-8"
    assert not is_text_plain(fetched.content_type)


def test_a_huge_body_is_refused_without_reading_it(
    fetcher: HttpsPolicyFetcher, state: CloudflareState, edge: LocalHttpsServer
):
    site(state)
    edge.set_behaviour(HOST, HttpsBehaviour.HUGE)

    fetched = fetcher.fetch(DOMAIN)

    assert (fetched.status, fetched.error_code, fetched.body) == (200, TOO_LARGE, None)
    assert fetched.error is not None and "66560" in fetched.error  # refused on Content-Length


def test_the_cap_allows_exactly_max_bytes_and_refuses_one_more(
    state: CloudflareState, edge: LocalHttpsServer, ca_bundle: Path
):
    # (Cutting a body without a Content-Length while it streams is in the unit tests: this
    # edge always declares the length.)
    site(state)
    targets = {HOST: ("127.0.0.1", edge.port)}
    with HttpsPolicyFetcher(ca_bundle=ca_bundle, connect_to=targets, max_bytes=len(POLICY)) as f:
        exact = f.fetch(DOMAIN)
    with HttpsPolicyFetcher(
        ca_bundle=ca_bundle, connect_to=targets, max_bytes=len(POLICY) - 1
    ) as f:
        over = f.fetch(DOMAIN)

    assert (exact.error_code, exact.body) == (None, POLICY)
    assert (over.error_code, over.body) == (TOO_LARGE, None)


def test_a_slow_body_hits_the_total_timeout_though_each_read_is_quick(
    fetcher: HttpsPolicyFetcher, state: CloudflareState, edge: LocalHttpsServer
):
    site(state)
    edge.set_behaviour(HOST, HttpsBehaviour.SLOW)

    started = time.monotonic()
    fetched = fetcher.fetch(DOMAIN)
    elapsed = time.monotonic() - started

    assert (fetched.status, fetched.error_code) == (None, FETCH_FAILED)
    assert fetched.error is not None and "1 s" in fetched.error
    assert TOTAL_TIMEOUT <= elapsed < TOTAL_TIMEOUT + 0.75


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (HttpsBehaviour.EXPIRED_CERT, "certificate has expired"),
        (HttpsBehaviour.WRONG_NAME_CERT, "Hostname mismatch"),
        (HttpsBehaviour.UNTRUSTED_CERT, "unable to get local issuer certificate"),
    ],
)
def test_a_broken_certificate_is_refused(
    fetcher: HttpsPolicyFetcher,
    state: CloudflareState,
    edge: LocalHttpsServer,
    behaviour: HttpsBehaviour,
    reason: str,
):
    site(state)
    edge.set_behaviour(HOST, behaviour)

    fetched = fetcher.fetch(DOMAIN)

    assert (fetched.status, fetched.error_code, fetched.body) == (None, CERTIFICATE_INVALID, None)
    assert fetched.error is not None and reason in fetched.error


def test_the_system_trust_store_does_not_trust_the_local_ca(
    state: CloudflareState, edge: LocalHttpsServer
):
    site(state)

    with HttpsPolicyFetcher(connect_to={HOST: ("127.0.0.1", edge.port)}) as system_trust:
        fetched = system_trust.fetch(DOMAIN)

    assert fetched.error_code == CERTIFICATE_INVALID


# --- where it connects ----------------------------------------------------------------------------


def test_only_the_connect_is_remapped_sni_host_and_name_check_stay_the_policy_host(
    state: CloudflareState, edge: LocalHttpsServer, pki: LocalPki
):
    # The edge answers 421 when SNI and Host differ and picks the site by Host; the local CA's
    # certificate names only the SNI name. A 200 with the site's bytes proves all three.
    site(state)
    site(state, ENFORCE, domain="other.example")
    targets = {HOST: ("127.0.0.1", edge.port), "mta-sts.other.example": ("127.0.0.1", edge.port)}

    with HttpsPolicyFetcher(ssl_context=pki.client_context(), connect_to=targets) as remapped:
        mine, other = remapped.fetch(DOMAIN), remapped.fetch("other.example")

    assert (mine.url, mine.body) == (URL, POLICY)
    assert other.body == ENFORCE


def test_a_refused_connection_is_a_fetch_failure(ca_bundle: Path):
    with HttpsPolicyFetcher(
        ca_bundle=ca_bundle, connect_to={HOST: ("127.0.0.1", closed_port())}
    ) as nowhere:
        fetched = nowhere.fetch(DOMAIN)

    assert (fetched.status, fetched.error_code) == (None, FETCH_FAILED)
    assert fetched.error is not None and "ConnectError" in fetched.error


# --- many at once ---------------------------------------------------------------------------------


def test_the_async_fetcher_applies_the_same_rules_to_many_domains(
    state: CloudflareState, edge: LocalHttpsServer, ca_bundle: Path
):
    domains = ["good.example", "moved.example", "expired.example", "big.example", "slow.example"]
    for domain in domains:
        site(state, domain=domain)
    edge.set_behaviour("mta-sts.moved.example", HttpsBehaviour.REDIRECT)
    edge.set_behaviour("mta-sts.expired.example", HttpsBehaviour.EXPIRED_CERT)
    edge.set_behaviour("mta-sts.big.example", HttpsBehaviour.HUGE)
    edge.set_behaviour("mta-sts.slow.example", HttpsBehaviour.SLOW)

    async def check_all() -> list[FetchedPolicy]:
        async with AsyncHttpsPolicyFetcher(
            ca_bundle=ca_bundle,
            connect_to={"*": ("127.0.0.1", edge.port)},
            timeout=TOTAL_TIMEOUT,
            max_concurrency=2,
        ) as fetcher:
            return await fetcher.fetch_many([*domains, "not a domain"])

    results = asyncio.run(check_all())

    assert [r.error_code for r in results] == [
        None,
        REDIRECT,
        CERTIFICATE_INVALID,
        TOO_LARGE,
        FETCH_FAILED,
        FETCH_FAILED,
    ]
    assert results[0].body == POLICY
    assert results[0].url == "https://mta-sts.good.example/.well-known/mta-sts.txt"


# --- the deploy gate ------------------------------------------------------------------------------


def test_wait_until_served_returns_once_the_new_deployment_is_live(
    fetcher: HttpsPolicyFetcher, state: CloudflareState
):
    project = site(state)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            deploy(state, project, ENFORCE)  # the upload finishes during the second wait

    fetched = wait_until_served(fetcher, DOMAIN, ENFORCE, attempts=5, backoff=0.5, sleep=sleep)

    assert fetched.body == ENFORCE
    assert sleeps == [0.5, 1.0]


def test_wait_until_served_gives_up_after_its_attempts_with_the_last_fetch(
    fetcher: HttpsPolicyFetcher, state: CloudflareState
):
    site(state)
    sleeps: list[float] = []

    with pytest.raises(PolicyNotServedError) as raised:
        wait_until_served(
            fetcher, DOMAIN, ENFORCE, attempts=4, backoff=1.0, max_delay=3.0, sleep=sleeps.append
        )

    assert sleeps == [1.0, 2.0, 3.0]
    assert raised.value.attempts == 4
    assert raised.value.last.body == POLICY
    assert HOST in str(raised.value)
