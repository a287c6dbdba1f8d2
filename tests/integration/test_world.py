"""The local world as a whole: it starts, answers as the world file says, resets to its seed
without restarting anything, and stops leaving no thread, socket or file descriptor behind."""

from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path

import dns.resolver
import pytest
from cloudflare import Cloudflare

from mtasts_local.cloudflare.faults import FaultKind, FaultRule
from mtasts_local.config import MxBehaviour, load_world
from mtasts_local.endpoints import Endpoints
from mtasts_local.smtp_server import TlsResultType, deliver
from mtasts_local.world import LocalWorld, LocalWorldError, mx_addresses

from .conftest import WORLD_TEMPLATE

DEFAULT_WORLD = load_world(None)
ENDPOINT_KEYS = {
    "aws_endpoint_url",
    "cloudflare_base_url",
    "cloudflare_api_token",
    "cloudflare_account_id",
    "dns",
    "https",
    "smtp",
    "ca_bundle",
    "api_url",
    "api_key",
}
MESSAGE = (
    b"From: sender@giantmail.test\r\nTo: postmaster@selfhosted.example\r\n"
    b"Subject: hello\r\n\r\nover the world\r\n"
)


def open_fds() -> set[str]:
    gc.collect()  # sockets of dropped boto3/httpx pools close when collected
    return set(os.listdir("/proc/self/fd"))


def live_threads() -> set[str]:
    return {f"{t.name}#{t.ident}" for t in threading.enumerate() if t.is_alive()}


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def fresh_world(tmp_path: Path, **options) -> LocalWorld:
    return LocalWorld(DEFAULT_WORLD, state_dir=tmp_path, template=WORLD_TEMPLATE, **options)


# --- start and stop (these start worlds of their own, before the session's) ---------------------


def test_stop_leaves_no_thread_socket_or_descriptor(tmp_path: Path) -> None:
    with fresh_world(tmp_path):  # the first run imports and caches what any run needs
        pass
    threads, fds = live_threads(), open_fds()

    world = fresh_world(tmp_path).start()
    assert len(live_threads()) > len(threads)
    world.stop()
    world.stop()  # twice is fine

    assert wait_for(lambda: live_threads() == threads), live_threads() - threads
    assert wait_for(lambda: open_fds() == fds), open_fds() - fds
    assert not world.running
    with pytest.raises(LocalWorldError, match="not running"):
        world.endpoints()


def test_a_start_that_fails_half_way_stops_what_it_started(tmp_path: Path) -> None:
    with fresh_world(tmp_path):
        pass
    threads, fds = live_threads(), open_fds()
    broken = LocalWorld(DEFAULT_WORLD, state_dir=tmp_path, template=tmp_path / "missing.yaml")

    with pytest.raises(Exception, match="missing.yaml"):
        broken.start()

    assert wait_for(lambda: live_threads() == threads), live_threads() - threads
    assert wait_for(lambda: open_fds() == fds), open_fds() - fds
    assert not broken.running


def test_standard_ports_give_each_mx_host_its_own_loopback_address() -> None:
    addresses = mx_addresses(DEFAULT_WORLD, "127.0.0.2", standard_ports=True)

    assert list(addresses) == [host.name for host in DEFAULT_WORLD.mx_hosts]
    assert list(addresses.values()) == [f"127.0.0.{n}" for n in range(3, 11)]
    assert set(mx_addresses(DEFAULT_WORLD, "127.0.0.2", standard_ports=False).values()) == {
        "127.0.0.2"
    }
    with pytest.raises(LocalWorldError, match="not an IPv4 loopback"):
        mx_addresses(DEFAULT_WORLD, "192.0.2.10", standard_ports=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="ports 25, 53 and 443 need root")
def test_standard_ports_mode_listens_on_53_443_and_25(tmp_path: Path) -> None:
    bind = "127.0.83.1"  # an address nobody else on this machine uses
    with fresh_world(tmp_path, bind=bind, standard_ports=True) as world:
        endpoints = world.endpoints()
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = [bind], 53
        answer = resolver.resolve("mx1.selfhosted.example", "A")

    assert (endpoints.dns.port, endpoints.https.port) == (53, 443)
    assert {hp.port for hp in endpoints.smtp.values()} == {25}
    assert [r.address for r in answer] == [endpoints.smtp["mx1.selfhosted.example"].host]


# --- the session's world ---------------------------------------------------------------------


def test_endpoints_name_every_service(world: LocalWorld) -> None:
    endpoints = world.endpoints()
    dumped = endpoints.dump()

    assert set(dumped) == ENDPOINT_KEYS
    assert set(dumped["dns"]) == set(dumped["https"]) == {"host", "port"}
    assert set(endpoints.smtp) == {host.name for host in DEFAULT_WORLD.mx_hosts}
    assert Path(endpoints.ca_bundle).is_absolute()
    assert Path(endpoints.ca_bundle).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert endpoints.cloudflare_account_id == DEFAULT_WORLD.cloudflare.account_id
    assert len(endpoints.api_key) == 40 and endpoints.api_key.isalnum()
    assert Endpoints.model_validate(dumped) == endpoints
    assert endpoints.aws_endpoint_url == world.aws.endpoint_url


def test_dns_answers_mx_and_a_for_the_default_worlds_domains(
    world: LocalWorld, world_resolver: dns.resolver.Resolver
) -> None:
    for zone in DEFAULT_WORLD.zones:
        answer = world_resolver.resolve(zone.name, "MX")
        served = sorted((r.preference, r.exchange.to_text(omit_final_dot=True)) for r in answer)
        assert served == sorted((mx.preference, mx.host) for mx in zone.mx)
        for mx in zone.mx:
            [address] = world_resolver.resolve(mx.host, "A")
            assert address.address == world.endpoints().smtp[mx.host].host
    with pytest.raises(dns.resolver.NXDOMAIN):
        world_resolver.resolve("nobody.selfhosted.example", "A")


def test_a_sender_delivers_over_starttls_to_an_mx_found_through_the_worlds_dns(
    world: LocalWorld, world_resolver: dns.resolver.Resolver
) -> None:
    [best, *_] = sorted(
        world_resolver.resolve("selfhosted.example", "MX"), key=lambda r: r.preference
    )
    mx_host = best.exchange.to_text(omit_final_dot=True)
    [address] = world_resolver.resolve(mx_host, "A")
    where = world.endpoints().smtp[mx_host]

    result = deliver(MESSAGE, mx_host, address.address, where.port, world.pki.client_context())

    assert result.delivered and result.tls and result.result_type is None
    [received] = world.sink.messages(mx_host)
    assert received.tls and received.sni == mx_host


def test_a_checking_sender_refuses_the_expired_mx(world: LocalWorld) -> None:
    [expired] = DEFAULT_WORLD.zones_with(MxBehaviour.EXPIRED_CERT)
    mx_host = expired.mx[0].host
    where = world.endpoints().smtp[mx_host]

    result = deliver(MESSAGE, mx_host, where.host, where.port, world.pki.client_context())

    assert not result.delivered
    assert result.result_type is TlsResultType.CERTIFICATE_EXPIRED


def test_reset_restores_the_seed_and_forgets_everything_else(
    world: LocalWorld, cloudflare_client: Cloudflare, world_resolver: dns.resolver.Resolver
) -> None:
    [zone] = cloudflare_client.zones.list(name="selfhosted.example")
    seeded = {
        r.id: (r.type, r.name, r.content)
        for r in cloudflare_client.dns.records.list(zone_id=zone.id)
    }
    for record_id in seeded:
        cloudflare_client.dns.records.delete(record_id, zone_id=zone.id)
    world.stand_in.faults.add(FaultRule("zones.list", FaultKind.SERVER_ERROR))
    where = world.endpoints().smtp["mx1.selfhosted.example"]
    deliver(MESSAGE, "mx1.selfhosted.example", where.host, where.port, world.pki.client_context())
    table = world.stack.ref("SeenTable")
    world.aws.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": "left-over"}})
    endpoints = world.endpoints()
    assert (
        world_resolver.resolve("selfhosted.example", "MX", raise_on_no_answer=False).rrset is None
    )

    world.reset()

    assert world.endpoints() == endpoints  # nothing was restarted
    [again] = cloudflare_client.zones.list(name="selfhosted.example")
    assert again.id == zone.id
    restored = {
        r.id: (r.type, r.name, r.content)
        for r in cloudflare_client.dns.records.list(zone_id=zone.id)
    }
    assert restored == seeded
    assert len(world_resolver.resolve("selfhosted.example", "MX")) == 2
    assert world.stand_in.faults.rules == ()
    # Only what was asked since the reset is counted (the SDK's lists may fetch a second page).
    assert set(world.stand_in.calls) == {"zones.list", "dns_records.list"}
    assert len(world.sink) == 0
    assert world.aws.client("dynamodb").scan(TableName=table)["Count"] == 0
