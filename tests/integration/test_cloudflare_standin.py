"""The Cloudflare API stand-in, driven only through the real `cloudflare` SDK over HTTP, with the
SDK's strict response validation on and every answer checked against Cloudflare's OpenAPI
schema (a test fails at teardown if any answer it caused broke the schema)."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import blake3
import cloudflare
import pytest
from cloudflare import Cloudflare
from cloudflare.types.pages import Deployment
from cloudflare.types.pages.asset_upload_params import Body as UploadEntry

from mtasts_local.cloudflare.contract import (
    Exchange,
    OpenApiContract,
    bundled_spec_path,
    shared_spec_path,
)
from mtasts_local.cloudflare.faults import FaultInjector, FaultKind, FaultRule, FaultRuleError
from mtasts_local.cloudflare.server import CloudflareStandIn
from mtasts_local.cloudflare.state import CloudflareState, Zone

ACCOUNT_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
API_TOKEN = "local-world-api-token"
PROJECT = "mta-sts-example"
POLICY = b"version: STSv1\nmode: testing\nmx: mx1.example.com\nmax_age: 86400\n"
HEADERS_FILE = b"/.well-known/mta-sts.txt\n  Content-Type: text/plain; charset=utf-8\n"


@pytest.fixture(scope="module")
def stand_in() -> Iterator[CloudflareStandIn]:
    state = CloudflareState(ACCOUNT_ID, API_TOKEN)
    with CloudflareStandIn(state, contract=OpenApiContract()) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh(stand_in: CloudflareStandIn) -> Iterator[None]:
    stand_in.state.reset()
    stand_in.reset()
    yield
    assert stand_in.contract is not None
    assert stand_in.contract.violations == ()


@pytest.fixture
def client(stand_in: CloudflareStandIn) -> Iterator[Cloudflare]:
    with sdk(stand_in, max_retries=0) as api:
        yield api


@pytest.fixture
def zone(stand_in: CloudflareStandIn) -> Zone:
    return stand_in.state.add_zone("example.com")


def sdk(stand_in: CloudflareStandIn, max_retries: int, token: str = API_TOKEN) -> Cloudflare:
    return Cloudflare(
        api_token=token,
        base_url=stand_in.base_url,
        _strict_response_validation=True,
        max_retries=max_retries,
    )


def error_code(error: cloudflare.APIStatusError) -> int:
    body: Any = error.body
    return int(body["errors"][0]["code"])


def wrangler_hash(content: bytes, path: str) -> str:
    """The manifest hash rule wrangler uses (see ../shared/cloudflare/README.md)."""
    extension = path.rsplit(".", 1)[-1]
    return blake3.blake3(base64.b64encode(content) + extension.encode()).hexdigest()[:32]


# --- zones and DNS records -----------------------------------------------------------------------


def test_zone_lookup_by_name(client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone) -> None:
    stand_in.state.add_zone("example.net")

    found = list(client.zones.list(name="Example.COM"))
    missing = list(client.zones.list(name="example.org"))

    assert [(z.id, z.name, z.account.id) for z in found] == [(zone.id, "example.com", ACCOUNT_ID)]
    assert missing == []
    # the page with the answer and the empty page that ends the listing; then one empty page
    assert stand_in.calls == Counter({"zones.list": 3})


def test_dns_record_create_filter_update_patch_delete(client: Cloudflare, zone: Zone) -> None:
    txt = '"v=STSv1; id=20240101T000000"'
    created = client.dns.records.create(
        zone_id=zone.id, name="_mta-sts", type="TXT", content=txt, ttl=300
    )
    client.dns.records.create(
        zone_id=zone.id,
        name="_smtp._tls",
        type="TXT",
        content='"v=TLSRPTv1; rua=mailto:r@x"',
        ttl=1,
    )
    client.dns.records.create(
        zone_id=zone.id, name="@", type="MX", content="mx1.example.com", priority=10, ttl=1
    )
    assert created is not None and created.name == "_mta-sts.example.com"

    by_name = client.dns.records.list(
        zone_id=zone.id, type="TXT", name={"exact": "_MTA-STS.example.com"}
    ).result
    by_content = client.dns.records.list(zone_id=zone.id, content={"exact": txt}).result
    by_plain_name = client.dns.records.list(
        zone_id=zone.id, extra_query={"name": "_mta-sts.example.com"}
    ).result
    assert [r.id for r in by_name] == [r.id for r in by_content] == [created.id]
    assert [r.id for r in by_plain_name] == [created.id]
    assert by_content[0].content == txt  # stored and returned quoted, as sent

    new_txt = '"v=STSv1; id=20240202T000000"'
    updated = client.dns.records.update(
        created.id, zone_id=zone.id, name="_mta-sts.example.com", type="TXT", content=new_txt, ttl=1
    )
    patched = client.dns.records.edit(  # PATCH: no content given, so it stays
        created.id, zone_id=zone.id, name="_mta-sts.example.com", type="TXT", ttl=600
    )
    assert updated is not None and updated.content == new_txt and updated.ttl == 1
    assert patched is not None and (patched.content, patched.ttl) == (new_txt, 600)

    deleted = client.dns.records.delete(created.id, zone_id=zone.id)
    assert deleted is not None and deleted.id == created.id
    with pytest.raises(cloudflare.NotFoundError) as gone:
        client.dns.records.get(created.id, zone_id=zone.id)
    assert error_code(gone.value) == 81044


def test_dns_listing_walks_pages_until_an_empty_one(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone
) -> None:
    for n in range(7):
        client.dns.records.create(
            zone_id=zone.id, name=f"host{n}", type="A", content=f"192.0.2.{n + 1}", ttl=1
        )
    stand_in.reset()

    names = [r.name for r in client.dns.records.list(zone_id=zone.id, type="A", per_page=3)]

    assert sorted(names) == [f"host{n}.example.com" for n in range(7)]
    assert stand_in.calls["dns_records.list"] == 4  # 3 + 3 + 1, then the empty page 4


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"type": "MX", "content": "mx1.example.com"}, 9100),  # MX without priority
        ({"type": "A", "content": "not-an-address"}, 9005),
        ({"type": "TXT", "content": '"x"', "proxied": True}, 9004),
        ({"type": "SPF", "content": "v=spf1 -all"}, 9020),
    ],
)
def test_malformed_records_are_refused_like_cloudflare(
    client: Cloudflare, zone: Zone, fields: dict[str, Any], code: int
) -> None:
    with pytest.raises(cloudflare.BadRequestError) as refused:
        client.dns.records.create(zone_id=zone.id, name="bad", ttl=1, **fields)

    assert refused.value.status_code == 400
    assert error_code(refused.value) == code
    assert client.dns.records.list(zone_id=zone.id).result == []


def test_unknown_zone_and_bad_credentials_are_cloudflare_shaped(
    client: Cloudflare, stand_in: CloudflareStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    with pytest.raises(cloudflare.NotFoundError) as no_zone:
        client.dns.records.list(zone_id="0" * 32)
    with sdk(stand_in, max_retries=0, token="someone-elses-token") as stranger:
        with pytest.raises(cloudflare.PermissionDeniedError) as denied:
            stranger.zones.list()
    with Cloudflare(
        api_token=None,
        base_url=stand_in.base_url,
        default_headers={"Authorization": "Basic dXNlcjpwYXNz"},
        _strict_response_validation=True,
        max_retries=0,
    ) as not_bearer:
        with pytest.raises(cloudflare.AuthenticationError) as unauthenticated:
            not_bearer.zones.list()

    assert error_code(no_zone.value) == 7003
    assert error_code(denied.value) == 10000
    assert error_code(unauthenticated.value) == 10001


# --- Pages direct upload, the way wrangler does it -----------------------------------------------


def direct_upload(
    client: Cloudflare, files: dict[str, tuple[bytes, str]]
) -> tuple[Deployment, list[str]]:
    """wrangler's sequence: upload token, check-missing, upload what is missing (with the JWT),
    upsert-hashes, then the multipart deployment with `manifest` and the `_headers` part.
    Returns the deployment and the paths whose files had to be uploaded."""
    manifest = {path: wrangler_hash(content, path) for path, (content, _) in files.items()}
    jwt = client.pages.projects.get_upload_token(PROJECT, account_id=ACCOUNT_ID).jwt
    uploader = client.with_options(api_token=jwt)
    missing = set(uploader.pages.assets.check_missing(hashes=list(manifest.values())))
    to_upload = [path for path in files if manifest[path] in missing]
    uploads: list[UploadEntry] = [
        {
            "key": manifest[path],
            "value": base64.b64encode(files[path][0]).decode(),
            "metadata": {"content_type": files[path][1]},
            "base64": True,
        }
        for path in to_upload
    ]
    if uploads:
        uploader.pages.assets.upload(body=uploads)
    uploader.pages.assets.upsert_hashes(hashes=list(manifest.values()))
    deployment = client.pages.projects.deployments.create(
        PROJECT,
        account_id=ACCOUNT_ID,
        manifest=json.dumps(manifest),
        branch="main",
        commit_dirty="true",
        _headers=("_headers", HEADERS_FILE),
    )
    return deployment, to_upload


def poll_until_done(client: Cloudflare, deployment_id: str) -> tuple[Deployment, int]:
    """Poll the deployment as wrangler does until its latest stage is no longer active."""
    for polls in range(1, 11):
        deployment = client.pages.projects.deployments.get(
            deployment_id, account_id=ACCOUNT_ID, project_name=PROJECT
        )
        if deployment.latest_stage.status != "active":
            return deployment, polls
    raise AssertionError("the deployment never finished")


def test_pages_direct_upload_then_custom_domain_goes_live(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stand_in.deployments, "polls_until_success", 3)
    client.pages.projects.create(account_id=ACCOUNT_ID, name=PROJECT, production_branch="main")
    files = {
        "/index.html": (b"hello", "text/html"),
        "/.well-known/mta-sts.txt": (POLICY, "text/plain"),
    }

    deployment, uploaded = direct_upload(client, files)
    assert uploaded == list(files)
    assert deployment.latest_stage.status == "active"
    assert stand_in.state.site_for_host(f"{PROJECT}.pages.dev") is None  # not live yet
    done, polls = poll_until_done(client, deployment.id)
    assert (done.latest_stage.name, done.latest_stage.status, polls) == ("deploy", "success", 3)

    domain = client.pages.projects.domains.create(
        PROJECT, account_id=ACCOUNT_ID, name="mta-sts.example.com"
    )
    assert domain.status == "pending"
    assert stand_in.state.site_for_host("mta-sts.example.com") is None
    client.dns.records.create(
        zone_id=zone.id,
        name="mta-sts",
        type="CNAME",
        content=f"{PROJECT}.pages.dev",
        proxied=True,
        ttl=1,
    )
    live = client.pages.projects.domains.get(
        "mta-sts.example.com", account_id=ACCOUNT_ID, project_name=PROJECT
    )
    assert live.status == "active" and live.zone_tag == zone.id

    site = stand_in.state.site_for_host("mta-sts.example.com")
    assert site is not None and site.deployment_id == deployment.id
    assert site.files["/.well-known/mta-sts.txt"].content == POLICY
    assert site.files["/.well-known/mta-sts.txt"].content_type == "text/plain"
    assert site.headers_file == HEADERS_FILE
    project = client.pages.projects.get(PROJECT, account_id=ACCOUNT_ID)
    assert project.canonical_deployment is not None
    assert project.canonical_deployment.id == deployment.id
    assert project.domains == ["mta-sts.example.com"]


def test_a_second_upload_sends_only_what_changed(
    client: Cloudflare, stand_in: CloudflareStandIn
) -> None:
    client.pages.projects.create(account_id=ACCOUNT_ID, name=PROJECT, production_branch="main")
    index = (b"hello", "text/html")
    testing = (POLICY, "text/plain")
    enforce = (POLICY.replace(b"testing", b"enforce"), "text/plain")
    direct_upload(client, {"/index.html": index, "/.well-known/mta-sts.txt": testing})

    second, uploaded = direct_upload(
        client, {"/index.html": index, "/.well-known/mta-sts.txt": enforce}
    )
    listed = client.pages.projects.deployments.list(PROJECT, account_id=ACCOUNT_ID).result

    assert uploaded == ["/.well-known/mta-sts.txt"]
    policy_hash = wrangler_hash(enforce[0], "/.well-known/mta-sts.txt")
    assert stand_in.state.assets[policy_hash].content == enforce[0]
    assert [d.id for d in listed] == [second.id, listed[1].id]  # newest first
    assert stand_in.calls["pages.assets.upload"] == 2


def test_domains_and_projects_can_be_listed_and_removed(
    client: Cloudflare, stand_in: CloudflareStandIn
) -> None:
    client.pages.projects.create(account_id=ACCOUNT_ID, name=PROJECT, production_branch="main")
    for name in ("mta-sts.example.com", "mta-sts.example.net"):
        client.pages.projects.domains.create(PROJECT, account_id=ACCOUNT_ID, name=name)

    listed = [d.name for d in client.pages.projects.domains.list(PROJECT, account_id=ACCOUNT_ID)]
    client.pages.projects.domains.delete(
        "mta-sts.example.net", account_id=ACCOUNT_ID, project_name=PROJECT
    )
    left = [d.name for d in client.pages.projects.domains.list(PROJECT, account_id=ACCOUNT_ID)]
    client.pages.projects.delete(PROJECT, account_id=ACCOUNT_ID)

    assert listed == ["mta-sts.example.com", "mta-sts.example.net"]
    assert left == ["mta-sts.example.com"]
    assert list(client.pages.projects.list(account_id=ACCOUNT_ID)) == []
    assert stand_in.state.projects == {}


def test_a_manifest_naming_files_never_uploaded_is_refused(client: Cloudflare) -> None:
    client.pages.projects.create(account_id=ACCOUNT_ID, name=PROJECT, production_branch="main")

    with pytest.raises(cloudflare.BadRequestError) as refused:
        client.pages.projects.deployments.create(
            PROJECT,
            account_id=ACCOUNT_ID,
            manifest=json.dumps({"/.well-known/mta-sts.txt": "f" * 32}),
            branch="main",
        )

    assert "f" * 32 in str(refused.value)
    assert client.pages.projects.deployments.list(PROJECT, account_id=ACCOUNT_ID).result == []


def test_asset_endpoints_take_only_a_live_upload_jwt(
    client: Cloudflare, stand_in: CloudflareStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.pages.projects.create(account_id=ACCOUNT_ID, name=PROJECT, production_branch="main")
    with pytest.raises(cloudflare.AuthenticationError) as with_api_token:
        client.pages.assets.check_missing(hashes=["a" * 32])
    monkeypatch.setattr(stand_in.upload_tokens, "ttl", -1.0)
    expired = client.pages.projects.get_upload_token(PROJECT, account_id=ACCOUNT_ID).jwt
    with pytest.raises(cloudflare.AuthenticationError) as with_expired_jwt:
        client.with_options(api_token=expired).pages.assets.check_missing(hashes=["a" * 32])

    # 8000013 is the code on which wrangler fetches a fresh upload token
    assert error_code(with_api_token.value) == error_code(with_expired_jwt.value) == 8000013


def test_unknown_project_and_deployment_are_not_found(client: Cloudflare) -> None:
    with pytest.raises(cloudflare.NotFoundError) as no_project:
        client.pages.projects.get("nope", account_id=ACCOUNT_ID)
    client.pages.projects.create(account_id=ACCOUNT_ID, name=PROJECT, production_branch="main")
    with pytest.raises(cloudflare.NotFoundError) as no_deployment:
        client.pages.projects.deployments.get("0" * 32, account_id=ACCOUNT_ID, project_name=PROJECT)

    assert error_code(no_project.value) == 8000007
    assert error_code(no_deployment.value) == 8000009


# --- faults and the SDK's retries ----------------------------------------------------------------


def test_an_injected_429_makes_the_sdk_wait_and_retry(
    stand_in: CloudflareStandIn, zone: Zone
) -> None:
    stand_in.faults.add(
        FaultRule("zones.list", FaultKind.RATE_LIMIT, on_calls=(1,), retry_after=0.05)
    )

    with sdk(stand_in, max_retries=2) as patient:
        page = patient.zones.list(name="example.com")

    assert [z.id for z in page.result] == [zone.id]
    assert stand_in.calls["zones.list"] == 2  # the 429, then the retry
    assert stand_in.faults.fired["zones.list"] == 1


def test_a_429_carries_retry_after(client: Cloudflare, stand_in: CloudflareStandIn) -> None:
    stand_in.faults.add(FaultRule("zones.list", FaultKind.RATE_LIMIT, retry_after=2.5))

    with pytest.raises(cloudflare.RateLimitError) as throttled:
        client.zones.list()

    assert throttled.value.response.headers["Retry-After"] == "3"
    assert throttled.value.response.headers["retry-after-ms"] == "2500"


def test_a_dropped_connection_is_retried(stand_in: CloudflareStandIn, zone: Zone) -> None:
    stand_in.faults.add(FaultRule("dns_records.create", FaultKind.DROP, on_calls=(1,)))

    with sdk(stand_in, max_retries=1) as api:
        record = api.dns.records.create(
            zone_id=zone.id, name="_mta-sts", type="TXT", content='"v=STSv1; id=1"', ttl=1
        )
        records = api.dns.records.list(zone_id=zone.id).result

    assert record is not None and [r.id for r in records] == [record.id]
    assert stand_in.calls["dns_records.create"] == 2


def test_a_lost_answer_to_a_create_makes_the_retry_collide(
    stand_in: CloudflareStandIn, zone: Zone
) -> None:
    # The create takes effect, its answer is lost, the SDK retries: why callers list first.
    stand_in.faults.add(
        FaultRule("dns_records.create", FaultKind.DROP, on_calls=(1,), after_handling=True)
    )

    with sdk(stand_in, max_retries=1) as api:
        with pytest.raises(cloudflare.BadRequestError) as collided:
            api.dns.records.create(
                zone_id=zone.id, name="_mta-sts", type="TXT", content='"v=STSv1; id=1"', ttl=1
            )
        records = api.dns.records.list(zone_id=zone.id).result

    assert error_code(collided.value) == 81058
    assert len(records) == 1


def test_server_errors_are_retried(stand_in: CloudflareStandIn) -> None:
    stand_in.faults.add(
        FaultRule(
            "pages.projects.list",
            FaultKind.SERVER_ERROR,
            on_calls=(1, 2),
            status=502,
            retry_after=0.01,
        )
    )

    with sdk(stand_in, max_retries=2) as api:
        projects = api.pages.projects.list(account_id=ACCOUNT_ID).result

    assert projects == []
    assert stand_in.calls["pages.projects.list"] == 3


def test_a_slow_answer_outlasts_a_short_timeout(
    client: Cloudflare, stand_in: CloudflareStandIn
) -> None:
    stand_in.faults.add(FaultRule("zones.list", FaultKind.SLOW, delay=1.0, times=1))

    with pytest.raises(cloudflare.APITimeoutError):
        client.with_options(timeout=0.1).zones.list()
    answered = client.zones.list()  # the rule fired once; the next call is prompt

    assert answered.result == []


def test_rate_rules_are_seeded_and_rules_can_be_cleared() -> None:
    def pattern(seed: int) -> list[bool]:
        injector = FaultInjector(seed)
        injector.add(FaultRule("zones.list", FaultKind.SERVER_ERROR, rate=0.5))
        return [injector.pick("zones.list", n) is not None for n in range(1, 41)]

    assert pattern(7) == pattern(7)
    assert 0 < sum(pattern(7)) < 40
    injector = FaultInjector()
    injector.add(FaultRule("*", FaultKind.DROP, times=2))
    assert [injector.pick("dns_records.get", n) is not None for n in (1, 2, 3)] == [1, 1, 0]
    injector.add(FaultRule("zones.list", FaultKind.SLOW, delay=0.1))
    injector.clear()
    assert injector.pick("zones.list", 1) is None
    with pytest.raises(FaultRuleError):
        FaultRule("zones.list", FaultKind.SERVER_ERROR, status=404)


# --- counting, contract, lifecycle ---------------------------------------------------------------


def test_every_request_is_counted_per_operation(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone
) -> None:
    record = client.dns.records.create(
        zone_id=zone.id, name="www", type="A", content="192.0.2.1", ttl=1
    )
    assert record is not None
    client.dns.records.get(record.id, zone_id=zone.id)
    client.dns.records.delete(record.id, zone_id=zone.id)
    client.pages.projects.list(account_id=ACCOUNT_ID)

    assert stand_in.calls == Counter(
        {
            "dns_records.create": 1,
            "dns_records.get": 1,
            "dns_records.delete": 1,
            "pages.projects.list": 1,
        }
    )


def test_the_contract_checks_answers_and_catches_a_wrong_one(
    client: Cloudflare, stand_in: CloudflareStandIn, zone: Zone
) -> None:
    client.zones.list(name="example.com")
    with pytest.raises(cloudflare.NotFoundError):
        client.dns.records.get("0" * 32, zone_id=zone.id)
    assert stand_in.contract is not None
    assert stand_in.contract.checked == Counter({"zones.list": 1, "dns_records.get": 1})

    contract = stand_in.contract.contract
    no_name_servers = {"success": True, "errors": [], "messages": [], "result": [{"id": zone.id}]}
    wrong = contract.check(
        Exchange("GET", "/client/v4/zones", 200, json.dumps(no_name_servers).encode())
    )
    uncovered = contract.check(Exchange("POST", "/client/v4/pages/assets/upload", 200, b"{}"))

    assert wrong.covered and not wrong.passed
    assert any("name_servers" in problem for problem in wrong.problems)
    assert not uncovered.covered


def test_stop_leaves_no_thread_behind() -> None:
    state = CloudflareState(ACCOUNT_ID, API_TOKEN)
    server = CloudflareStandIn(state).start()
    assert server.base_url == f"http://127.0.0.1:{server.port}/client/v4" and server.port > 0
    with sdk(server, max_retries=0) as api:
        assert api.zones.list().result == []

    thread_name = f"cloudflare-stand-in:{server.port}"
    server.stop()

    assert thread_name not in [t.name for t in threading.enumerate()]


def test_the_bundled_contract_is_the_shared_one() -> None:
    shared = shared_spec_path()
    if shared is None:
        pytest.skip("../shared/cloudflare is not beside this checkout")
    assert bundled_spec_path().read_bytes() == shared.read_bytes()
