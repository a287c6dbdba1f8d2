"""The Cloudflare adapters (`CloudflareDns`, `CloudflarePagesHost`) against the local stand-in,
through the real SDK with strict response validation, every answer checked against
Cloudflare's OpenAPI schema, and the result fetched from the local Pages edge over TLS.

Call budgets are asserted from the stand-in's per-operation counts: they are what a Lambda
spends against Cloudflare's rate limit on every run.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cloudflare import Cloudflare
from hypothesis import given
from hypothesis import strategies as st

from mtasts.cloudflare_client import make_client
from mtasts.cloudflare_dns import CloudflareDns, quote_txt, unquote_txt
from mtasts.cloudflare_errors import (
    CloudflareAuthError,
    CloudflareConflictError,
    CloudflareTransientError,
    DeploymentTimeoutError,
    ZoneNotFoundError,
)
from mtasts.cloudflare_pages import CloudflarePagesHost, PollLimits
from mtasts.pages_project import custom_host, headers_file, manifest_hash, project_name
from mtasts.ports import POLICY_PATH, SiteFiles
from mtasts_local.cloudflare import (
    CloudflareStandIn,
    CloudflareState,
    FaultKind,
    FaultRule,
    OpenApiContract,
)
from mtasts_local.cloudflare.state import DnsRecord, Zone, new_id
from mtasts_local.https_server import LocalHttpsServer
from mtasts_local.pki import LocalPki

ACCOUNT_ID = "c0ffee00c0ffee00c0ffee00c0ffee00"
API_TOKEN = "adapter-test-token"
DOMAIN = "example.com"
HOST = f"mta-sts.{DOMAIN}"
STS_NAME = f"_mta-sts.{DOMAIN}"
TLSRPT_NAME = f"_smtp._tls.{DOMAIN}"
STS_RECORD = "v=STSv1; id=20250101T000000"
TLSRPT_RECORD = "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"
TESTING = b"version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmax_age: 86400\r\n"
ENFORCE = TESTING.replace(b"testing", b"enforce")

FIRST_DEPLOY_BUDGET = 12
REDEPLOY_BUDGET = 3


# --- the world -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def state() -> CloudflareState:
    return CloudflareState(ACCOUNT_ID, API_TOKEN)


@pytest.fixture(scope="module")
def stand_in(state: CloudflareState) -> Iterator[CloudflareStandIn]:
    with CloudflareStandIn(state, contract=OpenApiContract()) as server:
        yield server


@pytest.fixture(scope="module")
def pki() -> LocalPki:
    return LocalPki()


@pytest.fixture(scope="module")
def edge(state: CloudflareState, pki: LocalPki) -> Iterator[LocalHttpsServer]:
    with LocalHttpsServer(state, pki) as server:
        yield server


@pytest.fixture(scope="module")
def http(pki: LocalPki) -> Iterator[httpx.Client]:
    with httpx.Client(verify=pki.client_context(), timeout=5.0) as client:
        yield client


@pytest.fixture(autouse=True)
def fresh(stand_in: CloudflareStandIn) -> Iterator[None]:
    stand_in.state.reset()
    stand_in.reset()
    yield
    assert stand_in.contract is not None
    assert stand_in.contract.violations == ()


@pytest.fixture
def zone(state: CloudflareState) -> Zone:
    return state.add_zone(DOMAIN)


@dataclass
class FakeTime:
    """A clock that only moves when the adapter sleeps, so waits cost no real time."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client(stand_in: CloudflareStandIn) -> Iterator[Cloudflare]:
    with make_client(API_TOKEN, base_url=stand_in.base_url, timeout=5.0) as api:
        yield api


@dataclass
class Adapters:
    dns: CloudflareDns
    host: CloudflarePagesHost


def adapters(client: Cloudflare, time: FakeTime, limits: PollLimits | None = None) -> Adapters:
    """What one Lambda invocation builds: nothing remembered from an earlier run."""
    dns = CloudflareDns(client, sleep=time.sleep)
    host = CloudflarePagesHost(
        client, ACCOUNT_ID, dns, clock=time.clock, sleep=time.sleep, limits=limits
    )
    return Adapters(dns, host)


def site(policy: bytes = TESTING) -> SiteFiles:
    return SiteFiles(DOMAIN, policy, headers_file())


def deploy(world: Adapters, policy: bytes = TESTING) -> None:
    """What the deploy use case asks of the two ports on a first deployment."""
    world.host.publish(site(policy))
    world.dns.ensure_txt(STS_NAME, "v=STSv1", STS_RECORD)
    world.dns.ensure_txt(TLSRPT_NAME, "v=TLSRPTv1", TLSRPT_RECORD)


def spent(stand_in: CloudflareStandIn, before: Counter[str]) -> Counter[str]:
    return stand_in.calls - before


def fetch(http: httpx.Client, edge: LocalHttpsServer, host: str = HOST) -> httpx.Response:
    """The policy URL as a sender fetches it: SNI and Host name `host`, the certificate
    checked against the world's CA."""
    return http.get(
        f"https://127.0.0.1:{edge.port}/{POLICY_PATH}",
        headers={"Host": host},
        extensions={"sni_hostname": host},
    )


def txt_contents(state: CloudflareState, name: str) -> list[str]:
    return sorted(r.content for r in state.records_named(name) if r.type == "TXT")


_created = itertools.count()


def put_txt(state: CloudflareState, zone: Zone, name: str, content: str) -> DnsRecord:
    """A TXT record made by hand, each one a second younger than the one before."""
    created = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=next(_created))
    record = DnsRecord(new_id(), zone.id, zone.name, "TXT", name, content, created_on=created)
    return state.put_record(record)


# --- deploying -----------------------------------------------------------------------------------


def test_a_first_deploy_serves_the_policy_within_its_call_budget(
    client: Cloudflare,
    stand_in: CloudflareStandIn,
    zone: Zone,
    time: FakeTime,
    http: httpx.Client,
    edge: LocalHttpsServer,
) -> None:
    world = adapters(client, time)

    hosted = world.host.publish(site())
    sts = world.dns.ensure_txt(STS_NAME, "v=STSv1", STS_RECORD)
    tlsrpt = world.dns.ensure_txt(TLSRPT_NAME, "v=TLSRPTv1", TLSRPT_RECORD)

    assert stand_in.calls == Counter(
        {
            "pages.projects.create": 1,
            "pages.projects.upload_token": 1,
            "pages.assets.upload": 1,
            "pages.deployments.create": 1,
            "pages.deployments.get": 1,
            "zones.list": 1,
            "dns_records.create": 3,  # the CNAME and the two TXT records
            "pages.domains.create": 1,
            "dns_records.list": 2,
        }
    )
    assert stand_in.calls.total() <= FIRST_DEPLOY_BUDGET
    assert (hosted.site_name, hosted.host_name) == (project_name(DOMAIN), HOST)
    assert hosted.active and hosted.uploaded_files == 1 and hosted.deployment_id
    assert (sts.before, sts.after, tlsrpt.after) == (None, STS_RECORD, TLSRPT_RECORD)
    response = fetch(http, edge)
    assert response.status_code == 200
    assert response.content == TESTING
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "max-age=300, must-revalidate"
    assert txt_contents(stand_in.state, STS_NAME) == [f'"{STS_RECORD}"']


def test_an_identical_redeploy_costs_three_calls_and_uploads_nothing(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    deploy(adapters(client, time))
    before = stand_in.calls

    # A later run: the use case asks the host how things stand and checks DNS once.
    later = adapters(client, time)
    described = later.host.describe(DOMAIN)
    records = later.dns.txt_records(STS_NAME)

    used = spent(stand_in, before)
    assert used == Counter({"pages.projects.get": 1, "pages.domains.get": 1, "dns_records.list": 1})
    assert used.total() <= REDEPLOY_BUDGET
    assert described is not None and described.active and described.uploaded_files == 0
    project = stand_in.state.projects[project_name(DOMAIN)]
    assert described.deployment_id == project.deployments[-1].id
    assert [r.content for r in records] == [STS_RECORD]


def test_records_that_are_already_right_cost_one_list_each(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    deploy(adapters(client, time))
    before = stand_in.calls

    later = adapters(client, time)  # knows no zone yet
    sts = later.dns.ensure_txt(STS_NAME, "v=STSv1", STS_RECORD)
    tlsrpt = later.dns.ensure_txt(TLSRPT_NAME, "v=TLSRPTv1", TLSRPT_RECORD)

    assert spent(stand_in, before) == Counter({"zones.list": 1, "dns_records.list": 2})
    assert not sts.changed and not tlsrpt.changed


def test_publishing_the_same_files_again_uploads_nothing(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    deploy(adapters(client, time))
    before = stand_in.calls

    hosted = adapters(client, time).host.publish(site())

    used = spent(stand_in, before)
    assert hosted.uploaded_files == 0 and hosted.active
    assert "pages.assets.upload" not in used
    assert used == Counter(
        {
            "pages.projects.create": 1,  # answered "exists"
            "pages.projects.upload_token": 1,
            "pages.assets.check_missing": 1,
            "pages.assets.upsert_hashes": 1,
            "pages.deployments.create": 1,
            "pages.deployments.get": 1,
            "pages.domains.get": 1,
        }
    )


def test_a_changed_policy_uploads_one_file_and_is_served(
    client: Cloudflare,
    stand_in: CloudflareStandIn,
    zone: Zone,
    time: FakeTime,
    http: httpx.Client,
    edge: LocalHttpsServer,
) -> None:
    deploy(adapters(client, time))
    before = stand_in.calls

    hosted = adapters(client, time).host.publish(site(ENFORCE))

    used = spent(stand_in, before)
    assert hosted.uploaded_files == 1 and used["pages.assets.upload"] == 1
    assert "pages.assets.upsert_hashes" not in used  # nothing was already held
    assert stand_in.state.assets[manifest_hash(ENFORCE, POLICY_PATH)].content == ENFORCE
    assert fetch(http, edge).content == ENFORCE
    assert used.total() == 7


def test_a_slow_deployment_is_polled_with_backoff_until_it_succeeds(
    client: Cloudflare,
    stand_in: CloudflareStandIn,
    zone: Zone,
    time: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stand_in.deployments, "polls_until_success", 4)

    hosted = adapters(client, time).host.publish(site())

    assert hosted.active
    assert stand_in.calls["pages.deployments.get"] == 4
    assert time.slept == [0.5, 1.0, 2.0, 4.0]


def test_a_deployment_that_never_finishes_is_a_transient_error(
    client: Cloudflare,
    stand_in: CloudflareStandIn,
    zone: Zone,
    time: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stand_in.deployments, "polls_until_success", 1000)
    world = adapters(client, time, PollLimits(deployment_timeout=10.0, max_delay=2.0))

    with pytest.raises(DeploymentTimeoutError) as waited:
        world.host.publish(site())

    assert isinstance(waited.value, CloudflareTransientError)
    assert "had not finished after 10 s" in str(waited.value)
    assert time.now <= 10.0
    assert stand_in.calls["pages.deployments.get"] == len(time.slept) <= 7


def test_a_lost_cname_is_put_back_and_the_domain_waited_for(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    adapters(client, time).host.publish(site())
    # The CNAME disappears (a person deleted it) and the domain goes back to pending.
    stand_in.state.zones[zone.id].records.clear()
    before = stand_in.calls
    time.slept.clear()

    hosted = adapters(client, time).host.publish(site())

    used = spent(stand_in, before)
    assert hosted.active  # the CNAME was put back, so the domain answered on the next look
    assert used["dns_records.create"] == 1 and used["pages.domains.get"] == 2
    assert used["pages.projects.get"] == 1  # for the project's pages.dev name
    assert time.slept == [0.5, 0.5]  # the deployment's poll, then the domain's


def test_a_domain_that_stays_pending_is_reported_inactive_after_a_bounded_wait(
    client: Cloudflare,
    stand_in: CloudflareStandIn,
    zone: Zone,
    time: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stand_in.state, "custom_domain_status", lambda _domain: "pending")
    world = adapters(client, time, PollLimits(domain_timeout=6.0, max_delay=2.0))

    hosted = world.host.publish(site())

    assert not hosted.active and hosted.deployment_id
    assert stand_in.calls["pages.domains.get"] == 4  # at 0.5, 1.5, 3.5, 5.5 s; 7.5 is too late
    assert time.now <= 0.5 + 6.0


# --- describing and removing ---------------------------------------------------------------------


def test_describing_a_domain_without_a_site_is_one_call(
    client: Cloudflare, stand_in: CloudflareStandIn, time: FakeTime
) -> None:
    assert adapters(client, time).host.describe("nothing-here.example") is None
    assert stand_in.calls == Counter({"pages.projects.get": 1})


def test_remove_cleans_up_and_tolerates_missing_pieces(
    client: Cloudflare,
    stand_in: CloudflareStandIn,
    zone: Zone,
    time: FakeTime,
    http: httpx.Client,
    edge: LocalHttpsServer,
) -> None:
    world = adapters(client, time)
    deploy(world)
    unrelated = put_txt(stand_in.state, zone, HOST, '"keep me"')

    world.host.remove(DOMAIN)
    world.host.remove(DOMAIN)  # nothing left to remove: still fine

    assert stand_in.state.projects == {}
    records = stand_in.state.records_named(HOST)
    assert [r.id for r in records] == [unrelated.id]
    assert fetch(http, edge).status_code == 404
    assert world.host.describe(DOMAIN) is None
    assert txt_contents(stand_in.state, STS_NAME) == [f'"{STS_RECORD}"']  # DNS is the caller's


def test_remove_of_a_domain_outside_the_account_is_fine(
    client: Cloudflare, stand_in: CloudflareStandIn, time: FakeTime
) -> None:
    adapters(client, time).host.remove("elsewhere.example")

    assert stand_in.calls["pages.projects.delete"] == 0


# --- TXT records ---------------------------------------------------------------------------------


def test_ensure_txt_removes_duplicates_and_leaves_unrelated_records(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    state = stand_in.state
    oldest = put_txt(state, zone, STS_NAME, '"v=STSv1; id=old1"')
    stray = put_txt(state, zone, STS_NAME, '"v=STSv1; id=old2"')
    verification = put_txt(state, zone, STS_NAME, '"google-site-verification=abc"')
    spf = put_txt(state, zone, DOMAIN, '"v=spf1 -all"')
    dns = adapters(client, time).dns

    change = dns.ensure_txt(STS_NAME, "v=STSv1", STS_RECORD)

    assert change.before == "v=STSv1; id=old1" and change.after == STS_RECORD
    assert change.removed_duplicates == (stray.id,) and change.changed
    by_id = {r.id: r.content for r in state.records_named(STS_NAME)}
    assert by_id == {oldest.id: f'"{STS_RECORD}"', verification.id: verification.content}
    assert [r.content for r in state.records_named(DOMAIN) if r.type == "TXT"] == [spf.content]
    assert stand_in.calls["dns_records.list"] == 1  # one list of the name, type filtered

    again = dns.ensure_txt(STS_NAME, "v=STSv1", STS_RECORD)
    assert not again.changed


def test_the_record_that_already_says_it_is_kept(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    put_txt(stand_in.state, zone, STS_NAME, '"v=STSv1; id=old"')
    right = put_txt(stand_in.state, zone, STS_NAME, f'"{STS_RECORD}"')

    change = adapters(client, time).dns.ensure_txt(STS_NAME, "v=STSv1", STS_RECORD)

    assert change.before == STS_RECORD and len(change.removed_duplicates) == 1
    assert [r.id for r in stand_in.state.records_named(STS_NAME)] == [right.id]
    assert stand_in.calls["dns_records.edit"] == 0


def test_delete_txt_removes_every_record_of_the_kind(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    put_txt(stand_in.state, zone, TLSRPT_NAME, f'"{TLSRPT_RECORD}"')
    second = put_txt(stand_in.state, zone, TLSRPT_NAME, '"v=TLSRPTv1; rua=mailto:x@y.example"')
    other = put_txt(stand_in.state, zone, TLSRPT_NAME, '"something else"')

    change = adapters(client, time).dns.delete_txt(TLSRPT_NAME, "v=TLSRPTv1")

    assert change.after is None and change.removed_duplicates == (second.id,)
    assert [r.id for r in stand_in.state.records_named(TLSRPT_NAME)] == [other.id]


def test_long_content_round_trips_as_several_strings(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    rua = ",".join(f"mailto:reports-{n}@collector{n}.example" for n in range(20))
    content = f'v=TLSRPTv1; rua={rua}; note="quoted" back\\slash'
    assert len(content) > 600
    dns = adapters(client, time).dns

    dns.ensure_txt(TLSRPT_NAME, "v=TLSRPTv1", content)
    raw = txt_contents(stand_in.state, TLSRPT_NAME)[0]
    read = dns.txt_records(TLSRPT_NAME)

    strings = -(-len(content.encode()) // 255)  # each at most 255 bytes
    assert strings > 1 and raw.startswith('"v=TLSRPTv1; rua=')
    assert raw.count('" "') == strings - 1
    assert [r.content for r in read] == [content]
    assert not dns.ensure_txt(TLSRPT_NAME, "v=TLSRPTv1", content).changed


def test_records_typed_in_other_forms_are_read_as_their_text(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    put_txt(stand_in.state, zone, STS_NAME, "v=STSv1; id=unquoted")
    put_txt(stand_in.state, zone, TLSRPT_NAME, '"v=TLSRPTv1; " "rua=mailto:a@b.example"')
    dns = adapters(client, time).dns

    assert [r.content for r in dns.txt_records(STS_NAME)] == ["v=STSv1; id=unquoted"]
    assert [r.content for r in dns.txt_records(TLSRPT_NAME)] == [
        "v=TLSRPTv1; rua=mailto:a@b.example"
    ]


@given(st.text(max_size=700))
def test_quoting_round_trips_any_text(text: str) -> None:
    quoted = quote_txt(text)

    assert unquote_txt(quoted) == text
    for piece in quoted[1:-1].split('" "'):
        assert len(piece.replace('\\"', '"').replace("\\\\", "\\").encode()) <= 255


def test_presentation_escapes_are_understood() -> None:
    assert unquote_txt(r'"a\"b" "c\\d" "\065"') == 'a"bc\\dA'
    assert unquote_txt('"unterminated') == '"unterminated'
    assert unquote_txt('"a" junk "b"') == '"a" junk "b"'


# --- faults and errors ---------------------------------------------------------------------------


def test_a_429_is_retried_by_the_sdk_and_the_deploy_still_ends_right(
    client: Cloudflare,
    stand_in: CloudflareStandIn,
    zone: Zone,
    time: FakeTime,
    http: httpx.Client,
    edge: LocalHttpsServer,
) -> None:
    for operation in ("pages.assets.upload", "dns_records.list", "pages.domains.create"):
        stand_in.faults.add(
            FaultRule(operation, FaultKind.RATE_LIMIT, on_calls=(1,), retry_after=0.01)
        )

    deploy(adapters(client, time))

    assert stand_in.faults.fired.total() == 3
    assert stand_in.calls["pages.assets.upload"] == 2
    assert fetch(http, edge).content == TESTING
    assert txt_contents(stand_in.state, STS_NAME) == [f'"{STS_RECORD}"']


def test_a_throttled_txt_create_is_relisted_and_created_once(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    stand_in.faults.add(
        FaultRule("dns_records.create", FaultKind.RATE_LIMIT, on_calls=(1,), retry_after=0.01)
    )

    change = adapters(client, time).dns.ensure_txt(STS_NAME, "v=STSv1", STS_RECORD)

    assert change.after == STS_RECORD
    assert txt_contents(stand_in.state, STS_NAME) == [f'"{STS_RECORD}"']
    assert stand_in.calls["dns_records.create"] == 2  # the SDK did not retry it by itself
    assert stand_in.calls["dns_records.list"] == 2 and time.slept == [1.0]


def test_a_create_whose_answer_is_lost_leaves_one_record(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    stand_in.faults.add(
        FaultRule("dns_records.create", FaultKind.DROP, on_calls=(1,), after_handling=True)
    )

    change = adapters(client, time).dns.ensure_txt(STS_NAME, "v=STSv1", STS_RECORD)

    assert txt_contents(stand_in.state, STS_NAME) == [f'"{STS_RECORD}"']
    assert stand_in.calls["dns_records.create"] == 1  # the relist found it: no second create
    assert change.after == STS_RECORD


def test_a_create_that_keeps_failing_is_a_transient_error(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    stand_in.faults.add(
        FaultRule("dns_records.create", FaultKind.SERVER_ERROR, status=502, retry_after=0)
    )

    with pytest.raises(CloudflareTransientError) as failed:
        adapters(client, time).dns.ensure_txt(STS_NAME, "v=STSv1", STS_RECORD)

    assert failed.value.status == 502
    assert "creating the TXT record at _mta-sts.example.com" in str(failed.value)
    assert stand_in.calls["dns_records.create"] == 3 and time.slept == [1.0, 2.0]
    assert stand_in.state.records_named(STS_NAME) == []


def test_a_bad_token_is_a_permanent_auth_error(
    stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    with make_client("not-the-token", base_url=stand_in.base_url, max_retries=0) as stranger:
        with pytest.raises(CloudflareAuthError) as refused:
            adapters(stranger, time).host.publish(site())

    message = str(refused.value)
    assert refused.value.status == 403 and refused.value.codes == (10000,)
    assert message.startswith("Cloudflare refused the API token while creating the Pages")
    assert "may edit DNS and Pages" in message


def test_a_domain_outside_the_account_says_so(
    client: Cloudflare, stand_in: CloudflareStandIn, time: FakeTime
) -> None:
    with pytest.raises(ZoneNotFoundError, match="mail.elsewhere.example is not a zone"):
        adapters(client, time).dns.ensure_txt("_mta-sts.mail.elsewhere.example", "v=STSv1", "x")

    assert stand_in.calls == Counter({"zones.list": 2})  # the name, then its parent


def test_a_subdomain_finds_its_parent_zone(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    dns = adapters(client, time).dns

    dns.ensure_txt(f"_mta-sts.mail.{DOMAIN}", "v=STSv1", STS_RECORD)
    dns.ensure_txt(f"_smtp._tls.mail.{DOMAIN}", "v=TLSRPTv1", TLSRPT_RECORD)

    assert stand_in.calls["zones.list"] == 2  # mail.example.com, then example.com; once
    assert txt_contents(stand_in.state, f"_mta-sts.mail.{DOMAIN}") == [f'"{STS_RECORD}"']


def test_an_address_record_at_the_policy_host_is_not_taken_over(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    stand_in.state.put_record(DnsRecord(new_id(), zone.id, zone.name, "A", HOST, "192.0.2.7"))

    with pytest.raises(CloudflareConflictError, match="mta-sts.example.com already has A"):
        adapters(client, time).host.publish(site())

    assert [r.type for r in stand_in.state.records_named(HOST)] == ["A"]


def test_a_cname_pointing_elsewhere_is_repointed(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, time: FakeTime
) -> None:
    old = DnsRecord(new_id(), zone.id, zone.name, "CNAME", HOST, "old-host.example.net")
    stand_in.state.put_record(old)

    hosted = adapters(client, time).host.publish(site())

    [record] = stand_in.state.records_named(HOST)
    assert record.id == old.id and record.proxied
    assert record.content == f"{project_name(DOMAIN)}.pages.dev"
    assert hosted.active


def test_the_client_ignores_other_credentials_in_the_environment(
    stand_in: CloudflareStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_EMAIL", "someone@example.com")
    monkeypatch.setenv("CLOUDFLARE_API_KEY", "a-global-key")

    with make_client(API_TOKEN, base_url=stand_in.base_url, max_retries=0) as api:
        assert api.zones.list().result == []
        assert api.auth_headers == {"Authorization": f"Bearer {API_TOKEN}"}


def test_the_custom_host_is_the_policy_host() -> None:
    assert custom_host(DOMAIN) == HOST
