"""The world's authoritative DNS server over real UDP and TCP, asked by dnspython the way the
validator and a sending MTA ask: records straight from the Cloudflare state, proxied names
answered with the edge, CNAMEs followed, NXDOMAIN vs NODATA, truncation and the TCP retry."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest

from mtasts_local.cloudflare.state import CloudflareState, DnsRecord, Zone, new_id
from mtasts_local.dns_server import DnsServerError, LocalDnsServer, StaticRecord, txt_strings

EDGE = "127.0.0.1"
DOMAIN = "selfhosted.example"
PROVIDER_HOSTS = ("aspmx.mailhost.test", "alt1.aspmx.mailhost.test")


@pytest.fixture(scope="module")
def state() -> CloudflareState:
    return CloudflareState("10ca1f00d10ca1f00d10ca1f00d10ca1", "token")


@pytest.fixture(scope="module")
def server(state: CloudflareState) -> Iterator[LocalDnsServer]:
    extra = [StaticRecord(host, "A", "127.0.0.2") for host in PROVIDER_HOSTS]
    with LocalDnsServer(state, EDGE, extra_records=extra) as running:
        yield running


@pytest.fixture
def zone(state: CloudflareState) -> Iterator[Zone]:
    state.reset()
    yield state.add_zone(DOMAIN)
    state.reset()


@pytest.fixture
def resolver(server: LocalDnsServer) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = server.port
    resolver.lifetime = 5.0
    return resolver


def add(
    state: CloudflareState,
    zone: Zone,
    type: str,
    name: str,
    content: str,
    *,
    ttl: int = 1,
    proxied: bool = False,
    priority: int | None = None,
) -> DnsRecord:
    """A record written straight into the account, as the API stand-in would store it."""
    record = DnsRecord(new_id(), zone.id, zone.name, type, name, content, ttl, proxied, priority)
    return state.put_record(record)


def ask(
    server: LocalDnsServer, name: str, rdtype: str, tcp: bool = False, edns: bool = True
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, use_edns=0 if edns else False)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, "127.0.0.1", port=server.port, timeout=5.0)


def soa_owner(response: dns.message.Message) -> str:
    [rrset] = response.authority
    assert rrset.rdtype == dns.rdatatype.SOA
    return rrset.name.to_text(omit_final_dot=True)


# --- answers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_multi_string_txt_record_is_served_as_its_strings(
    server: LocalDnsServer, state: CloudflareState, zone: Zone, tcp: bool
):
    add(state, zone, "TXT", f"_mta-sts.{DOMAIN}", '"v=STSv1; " "id=20240101T000000"')

    response = ask(server, f"_mta-sts.{DOMAIN}", "TXT", tcp=tcp)

    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    [rrset] = response.answer
    [txt] = list(rrset)
    assert txt.strings == (b"v=STSv1; ", b"id=20240101T000000")
    assert b"".join(txt.strings) == b"v=STSv1; id=20240101T000000"


def test_quoted_and_unquoted_txt_content_give_the_same_record(
    resolver: dns.resolver.Resolver, state: CloudflareState, zone: Zone
):
    add(state, zone, "TXT", f"_smtp._tls.{DOMAIN}", '"v=TLSRPTv1; rua=mailto:r@example.net"')
    add(state, zone, "TXT", f"plain.{DOMAIN}", "v=TLSRPTv1; rua=mailto:r@example.net")

    quoted = resolver.resolve(f"_smtp._tls.{DOMAIN}", "TXT")
    plain = resolver.resolve(f"plain.{DOMAIN}", "TXT")

    assert [r.strings for r in quoted] == [r.strings for r in plain]
    assert [r.strings for r in plain] == [(b"v=TLSRPTv1; rua=mailto:r@example.net",)]


def test_unquoted_txt_content_over_255_bytes_is_split_into_255_byte_strings(
    resolver: dns.resolver.Resolver, state: CloudflareState, zone: Zone
):
    content = "k=" + "a" * 300
    add(state, zone, "TXT", f"long.{DOMAIN}", content)

    [txt] = list(resolver.resolve(f"long.{DOMAIN}", "TXT"))

    assert [len(s) for s in txt.strings] == [255, 47]
    assert b"".join(txt.strings) == content.encode()


def test_txt_escapes_inside_quotes_are_decoded():
    assert txt_strings(r'"say \"hi\"" "back\\slash" "\065"') == [b'say "hi"', b"back\\slash", b"A"]
    assert txt_strings('"unterminated') == [b'"unterminated']
    assert txt_strings("") == [b""]


def test_mx_records_are_served_with_their_priorities(
    resolver: dns.resolver.Resolver, state: CloudflareState, zone: Zone
):
    add(state, zone, "MX", DOMAIN, f"mx1.{DOMAIN}", priority=10)
    add(state, zone, "MX", DOMAIN, f"mx2.{DOMAIN}", priority=20)

    answer = resolver.resolve(DOMAIN, "MX")

    assert sorted((r.preference, r.exchange.to_text()) for r in answer) == [
        (10, f"mx1.{DOMAIN}."),
        (20, f"mx2.{DOMAIN}."),
    ]


def test_ttl_1_is_cloudflares_automatic_300_seconds_and_others_are_kept(
    server: LocalDnsServer, state: CloudflareState, zone: Zone
):
    add(state, zone, "A", f"auto.{DOMAIN}", "192.0.2.1", ttl=1)
    add(state, zone, "A", f"fixed.{DOMAIN}", "192.0.2.2", ttl=120)

    assert ask(server, f"auto.{DOMAIN}", "A").answer[0].ttl == 300
    assert ask(server, f"fixed.{DOMAIN}", "A").answer[0].ttl == 120


def test_a_proxied_cname_is_answered_as_the_edge_address_and_hides_its_target(
    server: LocalDnsServer, state: CloudflareState, zone: Zone
):
    add(state, zone, "CNAME", f"mta-sts.{DOMAIN}", "mta-sts-selfhosted.pages.dev", proxied=True)

    a = ask(server, f"mta-sts.{DOMAIN}", "A")
    cname = ask(server, f"mta-sts.{DOMAIN}", "CNAME")

    [rrset] = a.answer
    assert rrset.rdtype == dns.rdatatype.A
    assert [r.address for r in rrset] == [EDGE]
    assert cname.rcode() == dns.rcode.NOERROR and cname.answer == []
    assert "pages.dev" not in a.to_text() + cname.to_text()


def test_a_proxied_a_record_is_answered_with_the_edge_not_its_origin(
    resolver: dns.resolver.Resolver, state: CloudflareState, zone: Zone
):
    add(state, zone, "A", f"www.{DOMAIN}", "203.0.113.9", proxied=True)

    assert [r.address for r in resolver.resolve(f"www.{DOMAIN}", "A")] == [EDGE]


def test_an_unproxied_cname_is_returned_and_followed_to_the_target_records(
    server: LocalDnsServer, state: CloudflareState, zone: Zone
):
    add(state, zone, "CNAME", f"_mta-sts.{DOMAIN}", f"_mta-sts.policies.{DOMAIN}")
    add(state, zone, "TXT", f"_mta-sts.policies.{DOMAIN}", '"v=STSv1; id=1"')

    response = ask(server, f"_mta-sts.{DOMAIN}", "TXT")

    assert [rrset.rdtype for rrset in response.answer] == [dns.rdatatype.CNAME, dns.rdatatype.TXT]
    assert response.answer[1].name.to_text() == f"_mta-sts.policies.{DOMAIN}."


def test_a_cname_into_another_served_zone_is_followed_there(
    resolver: dns.resolver.Resolver, state: CloudflareState, zone: Zone
):
    add(state, zone, "CNAME", f"mail.{DOMAIN}", PROVIDER_HOSTS[0])

    answer = resolver.resolve(f"mail.{DOMAIN}", "A")

    assert answer.canonical_name.to_text() == f"{PROVIDER_HOSTS[0]}."
    assert [r.address for r in answer] == ["127.0.0.2"]


def test_a_cname_out_of_the_served_data_is_returned_alone(
    server: LocalDnsServer, state: CloudflareState, zone: Zone
):
    add(state, zone, "CNAME", f"away.{DOMAIN}", "somewhere.else.invalid")

    response = ask(server, f"away.{DOMAIN}", "A")

    assert response.rcode() == dns.rcode.NOERROR
    assert [rrset.rdtype for rrset in response.answer] == [dns.rdatatype.CNAME]


def test_a_cname_to_a_missing_name_ends_in_nxdomain_with_the_chain(
    server: LocalDnsServer, state: CloudflareState, zone: Zone
):
    add(state, zone, "CNAME", f"dangling.{DOMAIN}", f"missing.{DOMAIN}")

    response = ask(server, f"dangling.{DOMAIN}", "A")

    assert response.rcode() == dns.rcode.NXDOMAIN
    assert [rrset.rdtype for rrset in response.answer] == [dns.rdatatype.CNAME]
    assert soa_owner(response) == DOMAIN


def test_a_cname_loop_ends_instead_of_spinning(
    server: LocalDnsServer, state: CloudflareState, zone: Zone
):
    add(state, zone, "CNAME", f"ping.{DOMAIN}", f"pong.{DOMAIN}")
    add(state, zone, "CNAME", f"pong.{DOMAIN}", f"ping.{DOMAIN}")

    response = ask(server, f"ping.{DOMAIN}", "A")

    assert len(response.answer) == 2


def test_the_zone_apex_has_an_soa_and_ns_records(server: LocalDnsServer, zone: Zone):
    soa = ask(server, DOMAIN, "SOA")
    ns = ask(server, DOMAIN, "NS")

    assert soa.answer[0].rdtype == dns.rdatatype.SOA
    assert sorted(r.target.to_text() for r in ns.answer[0]) == [
        "ada.ns.cloudflare.com.",
        "bob.ns.cloudflare.com.",
    ]


# --- NXDOMAIN, NODATA, REFUSED -------------------------------------------------------------------


def test_a_missing_name_is_nxdomain_with_the_soa(
    server: LocalDnsServer, resolver: dns.resolver.Resolver, zone: Zone
):
    response = ask(server, f"_mta-sts.{DOMAIN}", "TXT")

    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.flags & dns.flags.AA
    assert soa_owner(response) == DOMAIN
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve(f"_mta-sts.{DOMAIN}", "TXT")


def test_a_name_with_only_other_types_is_nodata_with_the_soa(
    server: LocalDnsServer,
    resolver: dns.resolver.Resolver,
    state: CloudflareState,
    zone: Zone,
):
    add(state, zone, "TXT", f"_mta-sts.{DOMAIN}", '"v=STSv1; id=1"')

    response = ask(server, f"_mta-sts.{DOMAIN}", "A")

    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []
    assert soa_owner(response) == DOMAIN
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.resolve(f"_mta-sts.{DOMAIN}", "A")


def test_an_empty_non_terminal_is_nodata_not_nxdomain(
    server: LocalDnsServer, state: CloudflareState, zone: Zone
):
    add(state, zone, "TXT", f"_smtp._tls.{DOMAIN}", '"v=TLSRPTv1; rua=mailto:r@example.net"')

    response = ask(server, f"_tls.{DOMAIN}", "TXT")

    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []
    assert soa_owner(response) == DOMAIN


def test_a_name_outside_every_zone_is_refused_without_authority(server: LocalDnsServer):
    response = ask(server, "www.not-served.example", "A")

    assert response.rcode() == dns.rcode.REFUSED
    assert not response.flags & dns.flags.AA


def test_static_records_outside_the_account_are_served_with_their_own_zone(
    server: LocalDnsServer, resolver: dns.resolver.Resolver
):
    aaaa = ask(server, PROVIDER_HOSTS[0], "AAAA")
    missing = ask(server, f"nope.{PROVIDER_HOSTS[0]}", "A")

    assert [r.address for r in resolver.resolve(PROVIDER_HOSTS[1], "A")] == ["127.0.0.2"]
    assert aaaa.rcode() == dns.rcode.NOERROR and aaaa.answer == []
    assert soa_owner(aaaa) == "mailhost.test"
    assert missing.rcode() == dns.rcode.NXDOMAIN


# --- live data, transports -----------------------------------------------------------------------


def test_a_record_added_to_the_state_is_visible_on_the_next_query(
    resolver: dns.resolver.Resolver, state: CloudflareState, zone: Zone
):
    name = f"_mta-sts.{DOMAIN}"
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve(name, "TXT")

    record = add(state, zone, "TXT", name, '"v=STSv1; id=1"')
    first = resolver.resolve(name, "TXT")
    state.replace_record(record, content='"v=STSv1; id=2"')
    second = resolver.resolve(name, "TXT")

    assert [r.strings for r in first] == [(b"v=STSv1; id=1",)]
    assert [r.strings for r in second] == [(b"v=STSv1; id=2",)]


def test_an_answer_too_big_for_udp_is_truncated_and_complete_over_tcp(
    server: LocalDnsServer,
    resolver: dns.resolver.Resolver,
    state: CloudflareState,
    zone: Zone,
):
    for index in range(4):
        add(state, zone, "TXT", f"big.{DOMAIN}", f"record-{index}-" + "x" * 200)

    udp = ask(server, f"big.{DOMAIN}", "TXT", edns=False)
    tcp = ask(server, f"big.{DOMAIN}", "TXT", tcp=True, edns=False)

    assert udp.flags & dns.flags.TC and udp.answer == []
    assert udp.question == tcp.question
    assert len(tcp.answer[0]) == 4
    assert len(resolver.resolve(f"big.{DOMAIN}", "TXT")) == 4  # the resolver retries over TCP


def test_edns_clients_get_bigger_udp_answers_and_an_opt_record(
    server: LocalDnsServer, state: CloudflareState, zone: Zone
):
    for index in range(4):
        add(state, zone, "TXT", f"big.{DOMAIN}", f"record-{index}-" + "x" * 200)

    response = ask(server, f"big.{DOMAIN}", "TXT", edns=True)

    assert not response.flags & dns.flags.TC
    assert len(response.answer[0]) == 4
    assert response.edns == 0


def test_several_queries_share_one_tcp_connection(server: LocalDnsServer, zone: Zone):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5.0) as sock:
        for _ in range(2):
            query = dns.message.make_query(DOMAIN, "SOA")
            dns.query.send_tcp(sock, query)
            response, _ = dns.query.receive_tcp(sock)
            assert response.id == query.id and response.answer


def test_garbage_gets_formerr_or_silence_and_the_server_keeps_answering(
    server: LocalDnsServer, zone: Zone
):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5.0)
        sock.sendto(b"\x12\x34" + b"\x00" * 9 + b"\x01" + b"\xff" * 5, ("127.0.0.1", server.port))
        reply = dns.message.from_wire(sock.recv(512), question_only=True)

    assert reply.id == 0x1234 and reply.rcode() == dns.rcode.FORMERR
    assert ask(server, DOMAIN, "SOA").answer


# --- lifecycle -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_latency_delays_every_answer(state: CloudflareState, tcp: bool):
    state.reset()
    zone = state.add_zone("far.example")
    add(state, zone, "TXT", "_mta-sts.far.example", "v=STSv1; id=far")
    before = set(threading.enumerate())
    with LocalDnsServer(state, EDGE, latency=0.3) as far:
        started = time.monotonic()
        response = ask(far, "_mta-sts.far.example", "TXT", tcp=tcp)
        elapsed = time.monotonic() - started
    state.reset()

    assert [r.to_text() for r in response.answer[0]] == ['"v=STSv1; id=far"']
    assert 0.3 <= elapsed < 3.0
    assert set(threading.enumerate()) <= before  # the delayed sender is gone too


def test_stop_closes_both_sockets_and_leaves_no_thread(state: CloudflareState):
    before = set(threading.enumerate())
    # An idle timeout far beyond the join below: stop() must end the idle connection itself.
    server = LocalDnsServer(state, EDGE, tcp_idle_timeout=600.0).start()
    port = server.port
    idle = socket.create_connection(("127.0.0.1", port), timeout=5.0)  # an idle TCP client
    ask(server, DOMAIN, "SOA", tcp=True)  # the server is up and its threads are running

    # A daemon thread: a stop() that hangs fails this test without hanging the run.
    stopper = threading.Thread(target=server.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=60.0)  # a hang guard, not a speed target

    assert not stopper.is_alive(), "stop() waited for the idle connection to time out"
    assert set(threading.enumerate()) <= before
    assert idle.recv(1) == b""  # the server ended the idle connection
    idle.close()
    with pytest.raises(DnsServerError):
        _ = server.port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5.0)  # nobody listens any more
    server.stop()  # stopping twice is harmless


def test_a_port_in_use_is_reported(state: CloudflareState, server: LocalDnsServer):
    with pytest.raises(DnsServerError, match="cannot listen"):
        LocalDnsServer(state, EDGE, port=server.port).start()


def test_static_records_reject_types_the_world_does_not_serve():
    with pytest.raises(ValueError, match="unsupported"):
        StaticRecord("x.mailhost.test", "SRV", "0 0 25 mx.mailhost.test")
