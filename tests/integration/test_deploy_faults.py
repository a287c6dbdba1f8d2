"""Deploy-and-rotate under Cloudflare API faults: 100 seeded runs against the stand-in failing
about 30% of calls (429 with Retry-After, 5xx, dropped connections before and after the request
took effect, answers slower than the client waits).

Every run must end in one of three states: fully done; nothing announced; or the new policy
served with the id not yet rotated, which a rerun completes. Never an id that announces a
policy that is not served, never two `v=STSv1` records.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cloudflare._base_client
import pytest

from mtasts.clock import SystemClock
from mtasts.cloudflare_client import make_client
from mtasts.cloudflare_dns import CloudflareDns
from mtasts.cloudflare_pages import CloudflarePagesHost
from mtasts.deploy import Deployer, DeployRequest
from mtasts.dns_lookup import DnsLookup, DnsMxResolver
from mtasts.errors import MtaStsError
from mtasts.file_store import FilePolicyStore
from mtasts.policy import Mode, build_policy
from mtasts.policy_fetch import HttpsPolicyFetcher, wait_until_served
from mtasts_local.cloudflare.faults import ANY_OPERATION, FaultKind, FaultRule
from mtasts_local.world import LocalWorld

DOMAIN = "selfhosted.example"
MX = ("mx1.selfhosted.example", "mx2.selfhosted.example")
RUNS = 100
RATE = 0.075  # per kind; four kinds make about 30% of calls fail
CLIENT_TIMEOUT = 0.25
REQUEST = DeployRequest(DOMAIN, Mode.TESTING, 86400, ("mailto:tlsrpt@reports.mtasts.test",))
POLICY = build_policy("testing", MX, 86400).render().encode()


def faults() -> list[FaultRule]:
    return [
        FaultRule(ANY_OPERATION, FaultKind.RATE_LIMIT, rate=RATE, retry_after=0.01),
        FaultRule(ANY_OPERATION, FaultKind.SERVER_ERROR, rate=RATE, retry_after=0.01),
        FaultRule(ANY_OPERATION, FaultKind.DROP, rate=RATE / 2),
        FaultRule(ANY_OPERATION, FaultKind.DROP, rate=RATE / 2, after_handling=True),
        FaultRule(ANY_OPERATION, FaultKind.SLOW, rate=RATE, delay=CLIENT_TIMEOUT * 2),
    ]


@dataclass
class Rig:
    world: LocalWorld
    deployer: Deployer
    fetcher: HttpsPolicyFetcher
    store: FilePolicyStore


@pytest.fixture
def make_rig(
    world: LocalWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[object]:
    # The SDK waits 0.5 s, doubling, before retrying a dropped or timed-out request; the retry
    # path is what is under test, not the wait, so it is shortened (Retry-After still rules).
    monkeypatch.setattr(cloudflare._base_client, "INITIAL_RETRY_DELAY", 0.01)
    fetchers: list[HttpsPolicyFetcher] = []

    def build(run: int) -> Rig:
        client = make_client(
            world.cloudflare.api_token,
            base_url=world.stand_in.base_url,
            timeout=CLIENT_TIMEOUT,
            max_retries=2,
        )
        dns = CloudflareDns(client, sleep=lambda _s: None)
        host = CloudflarePagesHost(client, world.cloudflare.account_id, dns, sleep=lambda _s: None)
        fetcher = HttpsPolicyFetcher(
            ca_bundle=world.ca_bundle, connect_to={"*": (world.bind, world.https.port)}, timeout=5
        )
        fetchers.append(fetcher)
        store = FilePolicyStore(tmp_path / f"run-{run}")
        deployer = Deployer(
            host=host,
            dns=dns,
            resolver=DnsMxResolver(DnsLookup(world.bind, world.dns.port)),
            fetcher=fetcher,
            confirm_served=lambda d, b: wait_until_served(
                fetcher, d, b, attempts=3, sleep=lambda _s: None
            ),
            store=store,
            audit=store,
            clock=SystemClock(),
        )
        return Rig(world, deployer, fetcher, store)

    yield build
    for fetcher in fetchers:
        fetcher.close()


def sts_records(world: LocalWorld) -> list[str]:
    name = f"_mta-sts.{DOMAIN}"
    return [
        r.content.strip('"')
        for r in world.cloudflare.records_named(name)
        if r.type == "TXT" and r.content.strip('"').startswith("v=STSv1")
    ]


def classify(rig: Rig) -> str:
    """Which of the three allowed states the world is in; fails on anything else."""
    records = sts_records(rig.world)
    assert len(records) <= 1, f"two v=STSv1 records: {records}"
    served = rig.fetcher.fetch(DOMAIN)
    state = rig.store.load(DOMAIN)
    if not records:
        return "served, not announced" if served.body == POLICY else "nothing announced"
    announced_id = records[0].removeprefix("v=STSv1; id=")
    assert state is not None and state.policy_id == announced_id, "an id the store never chose"
    assert served.body == state.policy_text.encode(), "the id announces a policy not served"
    return "done"


def test_deploy_under_faults_ends_in_an_allowed_state_and_a_rerun_completes(
    world: LocalWorld, make_rig: object
) -> None:
    outcomes: dict[str, int] = {}
    for run in range(RUNS):
        world.reset()
        world.stand_in.faults.reseed(run)
        for rule in faults():
            world.stand_in.faults.add(rule)
        rig = make_rig(run)  # type: ignore[operator]
        try:
            rig.deployer.deploy(REQUEST)
        except MtaStsError:
            pass
        state = classify(rig)
        outcomes[state] = outcomes.get(state, 0) + 1

        world.stand_in.faults.clear()
        outcome = rig.deployer.deploy(REQUEST)
        assert classify(rig) == "done", f"run {run}: the rerun did not complete"
        assert sts_records(world) == [f"v=STSv1; id={outcome.policy_id}"]

    print(f"outcomes of {RUNS} faulted runs: {outcomes}")  # shown with `pytest -s`
    assert sum(outcomes.values()) == RUNS
    assert outcomes.get("done", 0) < RUNS, f"no run was hurt by the faults: {outcomes}"
