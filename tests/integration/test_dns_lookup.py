"""DNS lookups against the local world's authoritative server over real UDP and TCP: TXT strings
joined, CNAMEs followed, MX in order, and "missing" (NXDOMAIN, NODATA) kept apart from "DNS
broken" (timeouts, refusals), for both the async lookup and the sync one behind the MX port."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from mtasts.dns_lookup import (
    AsyncDnsLookup,
    DnsLookup,
    DnsMxResolver,
    Lookup,
    MxRecord,
    Outcome,
)
from mtasts.errors import DnsLookupError
from mtasts_local.cloudflare.state import CloudflareState, DnsRecord, Zone, new_id
from mtasts_local.dns_server import LocalDnsServer, StaticRecord

EDGE = "127.0.0.1"
DOMAIN = "selfhosted.example"
PROVIDER = "mailhost.test"
STATIC = [
    StaticRecord(f"aspmx.{PROVIDER}", "A", "127.0.0.2"),
    StaticRecord(f"policies.{PROVIDER}", "TXT", "v=STSv1; id=fromprovider"),
]


@pytest.fixture(scope="module")
def state() -> CloudflareState:
    return CloudflareState("10ca1f00d10ca1f00d10ca1f00d10ca1", "token")


@pytest.fixture(scope="module")
def server(state: CloudflareState) -> Iterator[LocalDnsServer]:
    with LocalDnsServer(state, EDGE, extra_records=STATIC) as running:
        yield running


@pytest.fixture
def zone(state: CloudflareState) -> Iterator[Zone]:
    state.reset()
    yield state.add_zone(DOMAIN)
    state.reset()


@pytest.fixture
def lookup(server: LocalDnsServer) -> DnsLookup:
    return DnsLookup("127.0.0.1", server.port, timeout=5.0)


@pytest.fixture
def async_lookup(server: LocalDnsServer) -> AsyncDnsLookup:
    return AsyncDnsLookup("127.0.0.1", server.port, timeout=5.0)


class Blocking:
    """The async lookup called like the sync one (each call in an event loop of its own), so one
    test checks both: they share only the outcome rules, not the code that asks."""

    def __init__(self, lookup: AsyncDnsLookup) -> None:
        self._lookup = lookup

    def txt(self, name: str) -> Lookup[str]:
        return asyncio.run(self._lookup.txt(name))

    def mx(self, name: str) -> Lookup[MxRecord]:
        return asyncio.run(self._lookup.mx(name))

    def a(self, name: str) -> Lookup[str]:
        return asyncio.run(self._lookup.a(name))

    def aaaa(self, name: str) -> Lookup[str]:
        return asyncio.run(self._lookup.aaaa(name))


@pytest.fixture(params=["sync", "async"])
def either(request: pytest.FixtureRequest, server: LocalDnsServer) -> DnsLookup | Blocking:
    if request.param == "sync":
        return DnsLookup("127.0.0.1", server.port, timeout=5.0)
    return Blocking(AsyncDnsLookup("127.0.0.1", server.port, timeout=5.0))


def add(
    state: CloudflareState, zone: Zone, type: str, name: str, content: str, priority: int = 0
) -> None:
    """A record written straight into the account, as the API stand-in would store it."""
    record = DnsRecord(new_id(), zone.id, zone.name, type, name, content, priority=priority)
    state.put_record(record)


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- TXT ------------------------------------------------------------------------------------------


def test_each_txt_record_comes_back_with_its_strings_joined_without_spaces(
    either: DnsLookup | Blocking, state: CloudflareState, zone: Zone
):
    add(state, zone, "TXT", f"_mta-sts.{DOMAIN}", '"v=STSv1; " "id=2024" "0101T000000"')
    add(state, zone, "TXT", f"_mta-sts.{DOMAIN}", '"unrelated=1"')

    found = either.txt(f"_mta-sts.{DOMAIN}")

    assert found.outcome is Outcome.FOUND
    assert sorted(found.records) == ["unrelated=1", "v=STSv1; id=20240101T000000"]
    assert found.canonical_name == f"_mta-sts.{DOMAIN}"


def test_a_txt_record_over_255_bytes_is_one_text(
    either: DnsLookup | Blocking, state: CloudflareState, zone: Zone
):
    content = "v=TLSRPTv1; rua=" + ",".join(f"mailto:r{n}@example.net" for n in range(20))
    add(state, zone, "TXT", f"_smtp._tls.{DOMAIN}", content)

    assert either.txt(f"_smtp._tls.{DOMAIN}").records == (content,)


def test_a_cname_is_followed_to_the_txt_record_in_another_zone(
    either: DnsLookup | Blocking, state: CloudflareState, zone: Zone
):
    add(state, zone, "CNAME", f"_mta-sts.{DOMAIN}", f"policies.{PROVIDER}")

    found = either.txt(f"_mta-sts.{DOMAIN}")

    assert found.outcome is Outcome.FOUND
    assert found.records == ("v=STSv1; id=fromprovider",)
    assert (found.name, found.canonical_name) == (f"_mta-sts.{DOMAIN}", f"policies.{PROVIDER}")


def test_a_cname_to_a_missing_name_is_nxdomain(
    either: DnsLookup | Blocking, state: CloudflareState, zone: Zone
):
    add(state, zone, "CNAME", f"_mta-sts.{DOMAIN}", f"gone.{DOMAIN}")

    dangling = either.txt(f"_mta-sts.{DOMAIN}")

    assert dangling.outcome is Outcome.NXDOMAIN
    assert dangling.canonical_name == f"gone.{DOMAIN}"


def test_a_cname_out_of_the_servers_data_is_asked_for_and_fails_there(
    either: DnsLookup | Blocking, state: CloudflareState, zone: Zone
):
    # The authoritative server returns the CNAME alone; its target is asked next, and a
    # server that refuses it leaves nothing known (FAILURE, not "missing").
    add(state, zone, "CNAME", f"_mta-sts.{DOMAIN}", "policies.elsewhere.invalid")

    found = either.txt(f"_mta-sts.{DOMAIN}")

    assert found.outcome is Outcome.FAILURE
    assert found.canonical_name == "policies.elsewhere.invalid"


# --- MX -------------------------------------------------------------------------------------------


def test_mx_records_are_ordered_by_preference_then_name_lowercase_without_dots(
    lookup: DnsLookup, state: CloudflareState, zone: Zone
):
    add(state, zone, "MX", DOMAIN, f"mx3.{DOMAIN}", priority=20)
    add(state, zone, "MX", DOMAIN, f"MX2.{DOMAIN.upper()}.", priority=10)
    add(state, zone, "MX", DOMAIN, f"mx1.{DOMAIN}", priority=10)

    found = lookup.mx(DOMAIN)

    assert found.records == (
        MxRecord(10, f"mx1.{DOMAIN}"),
        MxRecord(10, f"mx2.{DOMAIN}"),
        MxRecord(20, f"mx3.{DOMAIN}"),
    )
    assert DnsMxResolver(lookup).mx_hosts(DOMAIN) == [
        f"mx1.{DOMAIN}",
        f"mx2.{DOMAIN}",
        f"mx3.{DOMAIN}",
    ]


def test_a_null_mx_is_a_record_but_no_host(lookup: DnsLookup, state: CloudflareState, zone: Zone):
    add(state, zone, "MX", DOMAIN, ".", priority=0)

    found = lookup.mx(DOMAIN)

    assert found.records == (MxRecord(0, ""),) and found.records[0].is_null
    assert DnsMxResolver(lookup).mx_hosts(DOMAIN) == []


# --- missing is not broken ------------------------------------------------------------------------


def test_a_missing_name_is_nxdomain_and_a_missing_type_is_nodata(
    lookup: DnsLookup, state: CloudflareState, zone: Zone
):
    add(state, zone, "TXT", f"_smtp._tls.{DOMAIN}", "v=TLSRPTv1; rua=mailto:r@example.net")

    nxdomain = lookup.txt(f"_mta-sts.{DOMAIN}")
    nodata = lookup.mx(f"_smtp._tls.{DOMAIN}")
    empty_non_terminal = lookup.txt(f"_tls.{DOMAIN}")

    assert (nxdomain.outcome, nxdomain.records, nxdomain.error) == (Outcome.NXDOMAIN, (), None)
    assert (nodata.outcome, nodata.records) == (Outcome.NODATA, ())
    assert empty_non_terminal.outcome is Outcome.NODATA
    assert nxdomain.missing and nodata.missing
    assert DnsMxResolver(lookup).mx_hosts(f"nothing.{DOMAIN}") == []


def test_a_refused_query_is_a_failure(either: DnsLookup | Blocking):
    refused = either.txt("_mta-sts.not-served.example")

    assert refused.outcome is Outcome.FAILURE and not refused.missing
    assert refused.error is not None and "REFUSED" in refused.error


def test_a_dead_name_server_fails_quickly_and_the_mx_port_raises():
    dead = DnsLookup("127.0.0.1", closed_udp_port(), timeout=0.5)

    started = time.monotonic()
    found = dead.mx(DOMAIN)
    elapsed = time.monotonic() - started

    assert found.outcome is Outcome.FAILURE and found.error
    assert elapsed < 2.0
    with pytest.raises(DnsLookupError, match="MX lookup of selfhosted.example failed"):
        DnsMxResolver(dead).mx_hosts(DOMAIN)


# --- addresses ------------------------------------------------------------------------------------


def test_a_and_aaaa_of_a_proxied_policy_host(
    either: DnsLookup | Blocking, state: CloudflareState, zone: Zone
):
    record = DnsRecord(
        new_id(), zone.id, zone.name, "CNAME", f"mta-sts.{DOMAIN}", "x.pages.dev", proxied=True
    )
    state.put_record(record)

    assert either.a(f"mta-sts.{DOMAIN}").records == (EDGE,)
    assert either.aaaa(f"mta-sts.{DOMAIN}").outcome is Outcome.NODATA


# --- async ----------------------------------------------------------------------------------------


def test_the_async_lookup_gives_the_same_outcomes_concurrently(
    async_lookup: AsyncDnsLookup, state: CloudflareState, zone: Zone
):
    add(state, zone, "TXT", f"_mta-sts.{DOMAIN}", '"v=STSv1; " "id=1"')
    add(state, zone, "CNAME", f"_smtp._tls.{DOMAIN}", f"policies.{PROVIDER}")
    add(state, zone, "MX", DOMAIN, f"mx2.{DOMAIN}", priority=20)
    add(state, zone, "MX", DOMAIN, f"mx1.{DOMAIN}", priority=10)

    async def ask_all() -> list[Lookup[str] | Lookup[MxRecord]]:
        return list(
            await asyncio.gather(
                async_lookup.txt(f"_mta-sts.{DOMAIN}"),
                async_lookup.txt(f"_smtp._tls.{DOMAIN}"),
                async_lookup.mx(DOMAIN),
                async_lookup.txt(f"missing.{DOMAIN}"),
                async_lookup.mx(f"_mta-sts.{DOMAIN}"),
                async_lookup.a(f"aspmx.{PROVIDER}"),
                async_lookup.txt("not-served.example"),
            )
        )

    results = asyncio.run(ask_all())

    assert [r.outcome for r in results] == [
        Outcome.FOUND,
        Outcome.FOUND,
        Outcome.FOUND,
        Outcome.NXDOMAIN,
        Outcome.NODATA,
        Outcome.FOUND,
        Outcome.FAILURE,
    ]
    assert results[0].records == ("v=STSv1; id=1",)
    assert results[1].canonical_name == f"policies.{PROVIDER}"
    assert [m.host for m in results[2].records if isinstance(m, MxRecord)] == [
        f"mx1.{DOMAIN}",
        f"mx2.{DOMAIN}",
    ]
    assert results[5].records == ("127.0.0.2",)


def test_the_async_lookup_of_a_dead_name_server_fails_quickly():
    dead = AsyncDnsLookup("127.0.0.1", closed_udp_port(), timeout=0.5)

    started = time.monotonic()
    found = asyncio.run(dead.txt(f"_mta-sts.{DOMAIN}"))

    assert found.outcome is Outcome.FAILURE
    assert time.monotonic() - started < 2.0


def test_a_lost_udp_answer_is_retried_within_the_lookup_timeout(
    server: LocalDnsServer, state: CloudflareState, zone: Zone
) -> None:
    """A relay that drops the first query: the lookup still succeeds, on its second try."""
    add(state, zone, "TXT", f"_smtp._tls.{zone.name}", '"v=TLSRPTv1; rua=mailto:r@example.net"')
    relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    relay.bind(("127.0.0.1", 0))
    relay.settimeout(5)
    seen: list[bytes] = []

    def forward() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
            upstream.settimeout(5)
            while len(seen) < 2:
                query, client = relay.recvfrom(4096)
                seen.append(query)
                if len(seen) == 1:
                    continue  # lost on the way
                upstream.sendto(query, ("127.0.0.1", server.port))
                relay.sendto(upstream.recvfrom(4096)[0], client)

    thread = threading.Thread(target=forward, daemon=True)
    thread.start()
    try:
        found = DnsLookup("127.0.0.1", relay.getsockname()[1], timeout=3.0).txt(
            f"_smtp._tls.{zone.name}"
        )
    finally:
        thread.join(5)
        relay.close()
    assert found.records == ("v=TLSRPTv1; rua=mailto:r@example.net",)
    assert len(seen) == 2


def test_an_answer_too_big_for_udp_is_asked_again_over_tcp(
    either: DnsLookup | Blocking, state: CloudflareState, zone: Zone
):
    # Over 1232 bytes (the EDNS size both lookups offer): the server truncates, the lookup
    # asks again over TCP and gets every record.
    texts = [f"v=spf1 include:_spf{n}.{PROVIDER} " + "x" * 180 for n in range(8)]
    for text in texts:
        add(state, zone, "TXT", DOMAIN, text)

    found = either.txt(DOMAIN)

    assert found.outcome is Outcome.FOUND
    assert sorted(found.records) == sorted(texts)


# --- the async lookup's shared sockets ------------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_many_concurrent_async_lookups_share_sockets_and_each_gets_its_own_answer(
    async_lookup: AsyncDnsLookup, state: CloudflareState, zone: Zone
):
    names = [f"host{n}.{DOMAIN}" for n in range(300)]
    for number, name in enumerate(names):
        add(state, zone, "A", name, f"10.0.{number // 256}.{number % 256}")

    async def ask_all() -> list[Lookup[str]]:
        return list(await asyncio.gather(*(async_lookup.a(name) for name in names)))

    before = open_fds()
    results = asyncio.run(ask_all())

    assert [r.records for r in results] == [
        (f"10.0.{n // 256}.{n % 256}",) for n in range(len(names))
    ]
    assert open_fds() <= before  # every socket closed once nothing waited on it


class Relay:
    """A UDP relay in front of the world's server that can lose or forge datagrams."""

    def __init__(self, server_port: int, script: Callable[[Relay, bytes, Any], bool]) -> None:
        self.server_port = server_port
        self.script = script  # (relay, query, client) -> True to forward the query
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.seen: list[bytes] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
            upstream.settimeout(5)
            while not self.stopping.is_set():
                try:
                    query, client = self.sock.recvfrom(4096)
                except TimeoutError:
                    continue
                self.seen.append(query)
                if self.script(self, query, client):
                    upstream.sendto(query, ("127.0.0.1", self.server_port))
                    self.sock.sendto(upstream.recvfrom(4096)[0], client)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(10)
        self.sock.close()


def test_a_lost_udp_answer_is_retried_by_the_async_lookup_too(
    server: LocalDnsServer, state: CloudflareState, zone: Zone
) -> None:
    add(state, zone, "TXT", f"_smtp._tls.{zone.name}", '"v=TLSRPTv1; rua=mailto:r@example.net"')
    relay = Relay(server.port, lambda relay, query, client: len(relay.seen) > 1)
    try:
        lookup = AsyncDnsLookup("127.0.0.1", relay.port, timeout=3.0)
        found = asyncio.run(lookup.txt(f"_smtp._tls.{zone.name}"))
    finally:
        relay.close()

    assert found.records == ("v=TLSRPTv1; rua=mailto:r@example.net",)
    assert len(relay.seen) == 2


def test_a_reply_that_does_not_answer_the_question_is_ignored(
    server: LocalDnsServer, state: CloudflareState, zone: Zone
) -> None:
    """A forged reply first (the query's id, another question, a record that would be wrong),
    then the real one: the lookup takes only the real one, on its first try."""
    add(state, zone, "TXT", f"_mta-sts.{DOMAIN}", '"v=STSv1; id=real"')

    def forge_then_forward(relay: Relay, query: bytes, client: Any) -> bool:
        forged = dns.message.make_response(dns.message.from_wire(query))
        other = dns.name.from_text(f"other.{DOMAIN}")
        forged.question = [dns.rrset.RRset(other, dns.rdataclass.IN, dns.rdatatype.TXT)]
        forged.answer = [
            dns.rrset.from_text(f"_mta-sts.{DOMAIN}.", 300, "IN", "TXT", '"v=STSv1; id=forged"')
        ]
        relay.sock.sendto(forged.to_wire(), client)
        return True

    relay = Relay(server.port, forge_then_forward)
    try:
        found = asyncio.run(
            AsyncDnsLookup("127.0.0.1", relay.port, timeout=3.0).txt(f"_mta-sts.{DOMAIN}")
        )
    finally:
        relay.close()

    assert found.records == ("v=STSv1; id=real",)
    assert len(relay.seen) == 1
