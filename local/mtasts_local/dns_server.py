"""The local world's authoritative DNS server: what the Cloudflare account's zones hold, read
live on every query, plus static records for hosts outside the account (a mail provider's MX
hosts), over UDP and TCP on one port.

    with LocalDnsServer(state, edge_address="127.0.0.1", extra_records=[
        StaticRecord("aspmx.mailhost.test", "A", "127.0.0.1"),
    ]) as dns_server:
        resolver.nameservers, resolver.port = ["127.0.0.1"], dns_server.port

Answers follow Cloudflare's: a proxied A/AAAA/CNAME name answers with the edge address (the local
HTTPS server's) and hides what it points at; TXT content, quoted or not, becomes the matching
character-strings; TTL 1 ("automatic") is 300 s. And RFC 1034/2308 for the rest: unproxied CNAMEs
are followed through the served data, a name with records of other types (or an empty non-terminal)
is NODATA with the zone's SOA, a name without is NXDOMAIN with the SOA, a name outside every zone is
REFUSED. Answers are authoritative (AA), recursion is not offered. Over UDP an answer too big for
the client (512 bytes, or its EDNS size) is truncated (TC) so the client retries over TCP.

Static records belong to a zone of their own: the parent of the record's name (so
`aspmx.mailhost.test` is in `mailhost.test`), unless a Cloudflare zone holds them.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import socketserver
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Self

from dnslib import (  # type: ignore[import-untyped]
    AAAA,
    CLASS,
    CNAME,
    EDNS0,
    MX,
    NS,
    OPCODE,
    QTYPE,
    RCODE,
    RR,
    SOA,
    TXT,
    A,
    DNSError,
    DNSHeader,
    DNSRecord,
)

from mtasts_local.cloudflare.state import NAME_SERVERS, CloudflareState, DnsRecord, canonical
from mtasts_local.service import LiveConnections, Service

_log = logging.getLogger(__name__)

SUPPORTED_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT")
PROXIABLE_TYPES = ("A", "AAAA", "CNAME")
AUTOMATIC_TTL = 300  # what Cloudflare serves for ttl=1 ("automatic") and for proxied records
# The apex records Cloudflare serves (the same name servers the API stand-in reports).
SOA_RNAME = "dns.cloudflare.com"
SOA_TIMERS = (10000, 2400, 604800, 1800)  # refresh, retry, expire, minimum (negative TTL)
SOA_TTL = 1800
NS_TTL = 86400
MAX_CNAME_CHAIN = 8
CLASSIC_UDP_SIZE = 512  # RFC 1035, for clients without EDNS
EDNS_UDP_SIZE = 1232  # what this server accepts and advertises (the DNS Flag Day 2020 figure)
TCP_IDLE_TIMEOUT = 10.0  # RFC 7766 §6.2.3: close idle connections after seconds, not minutes
TXT_STRING_MAX = 255
UDP_RECEIVE_BUFFER = 4 * 1024 * 1024

_QUOTED_STRINGS = re.compile(r'\s*"((?:[^"\\]|\\.)*)"\s*', re.DOTALL)
_ESCAPE = re.compile(rb"\\(\d{3}|.)", re.DOTALL)

DnsMessage = Any  # a dnslib.DNSRecord (dnslib ships no type information)


class DnsServerError(Exception):
    """The DNS server cannot start, listen where asked, or was used while stopped."""


@dataclass(frozen=True, slots=True)
class StaticRecord:
    """A record served beside the Cloudflare account's: `value` as Cloudflare's `content`
    (an address, a host name, TXT text); MX takes its preference from `priority`."""

    name: str
    type: str
    value: str
    priority: int | None = None
    ttl: int = AUTOMATIC_TTL

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", canonical(self.name))
        object.__setattr__(self, "type", self.type.upper())
        if self.type not in SUPPORTED_TYPES:
            raise ValueError(f"unsupported record type {self.type!r} for {self.name}")


@dataclass(frozen=True, slots=True)
class _Served:
    """A record as the server sees it, whichever source it came from."""

    name: str
    type: str
    value: str
    priority: int | None
    ttl: int
    proxied: bool = False

    @classmethod
    def of(cls, record: DnsRecord | StaticRecord) -> _Served:
        if isinstance(record, StaticRecord):
            return cls(record.name, record.type, record.value, record.priority, record.ttl)
        ttl = AUTOMATIC_TTL if record.ttl <= 1 or record.proxied else record.ttl
        return cls(record.name, record.type, record.content, record.priority, ttl, record.proxied)


# --- TXT content ---------------------------------------------------------------------------------


def txt_strings(content: str) -> list[bytes]:
    """The DNS character-strings for a TXT record's API content: `"a" "b"` is two strings
    (with `\\"`, `\\\\` and `\\DDD` escapes), anything else one text; each is cut into 255-byte
    strings, as Cloudflare does with long unquoted content."""
    quoted = _quoted_strings(content)
    texts = quoted if quoted is not None else [content.encode()]
    return [chunk for text in texts for chunk in _split(text)]


def _quoted_strings(content: str) -> list[bytes] | None:
    """The strings of content made only of quoted strings, or None when it is not."""
    strings, position = [], 0
    while position < len(content):
        found = _QUOTED_STRINGS.match(content, position)
        if found is None:
            return None
        strings.append(_unescape(found[1].encode()))
        position = found.end()
    return strings or None


def _unescape(text: bytes) -> bytes:
    def one(escape: re.Match[bytes]) -> bytes:
        code = escape[1]
        return bytes([int(code) % 256]) if code.isdigit() else code

    return _ESCAPE.sub(one, text)


def _split(text: bytes) -> list[bytes]:
    return [text[i : i + TXT_STRING_MAX] for i in range(0, len(text), TXT_STRING_MAX)] or [b""]


# --- answering -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Zone:
    apex: str
    cloudflare: bool


class Authority:
    """Answers DNS queries from the account's zones and the static records; no sockets.

    Thread-safe: it only reads `CloudflareState` (which locks) and its own frozen data."""

    def __init__(
        self, state: CloudflareState, edge_address: str, extra_records: Iterable[StaticRecord] = ()
    ) -> None:
        self.state = state
        self.edge = ipaddress.ip_address(edge_address)
        self.static = tuple(extra_records)
        self.static_zones = _static_zones(self.static)

    def answer_wire(self, data: bytes, udp: bool) -> bytes | None:
        """The reply to one DNS message in wire format; None when nothing should be sent."""
        try:
            request = DNSRecord.parse(data)
        except DNSError:
            return _format_error(data)
        if request.header.qr:
            return None  # a response, not a query: answering could start a loop
        reply = self.answer(request)
        wire = bytes(reply.pack())
        if udp and len(wire) > _udp_limit(request):
            wire = bytes(_truncated(reply).pack())
        return wire

    def answer(self, request: DnsMessage) -> DnsMessage:
        reply = request.reply(ra=0, aa=0)
        reply.header.ad = 0  # copied from the query by reply(); nothing here is DNSSEC-validated
        if request.header.opcode != OPCODE.QUERY:
            reply.header.rcode = RCODE.NOTIMP
        elif len(request.questions) != 1:
            reply.questions = list(request.questions)  # not reply()'s stand-in "." question
            reply.header.rcode = RCODE.FORMERR
        else:
            self._answer_question(reply, request.q)
        if _edns(request) is not None:
            reply.add_ar(EDNS0(udp_len=EDNS_UDP_SIZE))
        return reply

    def _answer_question(self, reply: DnsMessage, question: Any) -> None:
        name = canonical(str(question.qname))
        zone = self.zone_for(name)
        if zone is None or question.qclass != CLASS.IN:
            reply.header.rcode = RCODE.REFUSED
            return
        reply.header.aa = 1
        self._resolve(reply, name, question.qtype, zone)

    def _resolve(self, reply: DnsMessage, name: str, qtype: int, zone: _Zone) -> None:
        """Fill the answer for `name`/`qtype`, following CNAMEs within the served zones."""
        seen: set[str] = set()
        while True:
            rrsets = self.rrsets(name, zone)
            if qtype == QTYPE.ANY:
                wanted = [rr for rrs in rrsets.values() for rr in rrs]
            else:
                wanted = rrsets.get(qtype, [])
            if wanted:
                reply.add_answer(*wanted)
                return
            aliases = rrsets.get(QTYPE.CNAME, [])
            if not aliases or qtype == QTYPE.CNAME:
                break
            reply.add_answer(*aliases)
            seen.add(name)
            name = canonical(str(aliases[0].rdata.label))
            next_zone = self.zone_for(name)
            if next_zone is None or name in seen or len(seen) >= MAX_CNAME_CHAIN:
                return  # outside the served data (or a loop): the client resolves on from here
            zone = next_zone
        reply.header.rcode = RCODE.NOERROR if self.exists(name, zone) else RCODE.NXDOMAIN
        reply.add_auth(self._soa(zone))

    # --- the served data -----------------------------------------------------------------------

    def zone_for(self, name: str) -> _Zone | None:
        """The zone with the longest apex that `name` is in (a Cloudflare one on a tie)."""
        found = self.state.zone_for(name)
        best = _Zone(found.name, cloudflare=True) if found is not None else None
        for apex in self.static_zones:
            inside = _is_under(name, apex)
            if inside and (best is None or len(apex) > len(best.apex)):
                best = _Zone(apex, cloudflare=False)
        return best

    def records(self, name: str) -> list[_Served]:
        served = [_Served.of(r) for r in self.state.records_named(name)]
        return served + [_Served.of(r) for r in self.static if r.name == name]

    def exists(self, name: str, zone: _Zone) -> bool:
        """True when `name` owns records or is an empty non-terminal (NODATA, not NXDOMAIN)."""
        if name == zone.apex or self.state.name_exists(name):
            return True
        return any(_is_under(record.name, name) for record in self.static)

    def rrsets(self, name: str, zone: _Zone) -> dict[int, list[Any]]:
        """The resource records at `name`, by type, as clients see them."""
        rrsets: dict[int, list[Any]] = defaultdict(list)
        proxied = False
        for record in self.records(name):
            if record.proxied and record.type in PROXIABLE_TYPES:
                proxied = True  # Cloudflare's proxy answers instead, with its own address
                continue
            rr = _resource_record(record)
            if rr is not None:
                rrsets[rr.rtype].append(rr)
        if proxied:
            edge_type = QTYPE.A if self.edge.version == 4 else QTYPE.AAAA
            edge_data = A(str(self.edge)) if self.edge.version == 4 else AAAA(str(self.edge))
            rrsets[edge_type] = [RR(name, edge_type, rdata=edge_data, ttl=AUTOMATIC_TTL)]
        if name == zone.apex:
            rrsets[QTYPE.SOA].append(self._soa(zone))
            rrsets[QTYPE.NS].extend(
                RR(name, QTYPE.NS, rdata=NS(ns), ttl=NS_TTL) for ns in NAME_SERVERS
            )
        return rrsets

    def _soa(self, zone: _Zone) -> Any:
        serial = self._serial(zone)
        data = SOA(NAME_SERVERS[0], SOA_RNAME, (serial, *SOA_TIMERS))
        return RR(zone.apex, QTYPE.SOA, rdata=data, ttl=SOA_TTL)

    def _serial(self, zone: _Zone) -> int:
        """Seconds since the epoch of the zone's last change, so the serial moves with it."""
        if not zone.cloudflare:
            return 1
        with self.state.lock:
            found = self.state.zone_for(zone.apex)
            if found is None:
                return 1
            changes = [found.created_on] + [r.modified_on for r in found.records.values()]
        return int(max(changes).timestamp()) % 2**32


def _resource_record(record: _Served) -> Any | None:
    """The dnslib record for one served record; None (and a warning) when its content does
    not fit its type (the API stand-in should not have accepted it)."""
    try:
        if record.type == "A":
            data = A(record.value)
        elif record.type == "AAAA":
            data = AAAA(record.value)
        elif record.type == "CNAME":
            data = CNAME(record.value)
        elif record.type == "MX":
            data = MX(record.value, preference=record.priority or 0)
        elif record.type == "TXT":
            data = TXT(txt_strings(record.value))
        else:
            return None
    except (DNSError, ValueError, TypeError) as error:
        _log.warning("not serving %s %s %r: %s", record.name, record.type, record.value, error)
        return None
    return RR(record.name, getattr(QTYPE, record.type), rdata=data, ttl=record.ttl)


def _static_zones(records: Sequence[StaticRecord]) -> tuple[str, ...]:
    """The apexes static records live under: each name's parent, nested ones merged."""
    parents = {_parent(record.name) for record in records}
    return tuple(sorted(p for p in parents if not any(p != q and _is_under(p, q) for q in parents)))


def _parent(name: str) -> str:
    labels = name.split(".")
    return name if len(labels) <= 2 else ".".join(labels[1:])


def _is_under(name: str, apex: str) -> bool:
    return name == apex or name.endswith("." + apex)


def _edns(request: DnsMessage) -> Any | None:
    return next((rr for rr in request.ar if rr.rtype == QTYPE.OPT), None)


def _udp_limit(request: DnsMessage) -> int:
    opt = _edns(request)
    if opt is None:
        return CLASSIC_UDP_SIZE
    return max(CLASSIC_UDP_SIZE, min(int(opt.rclass), EDNS_UDP_SIZE))


def _truncated(reply: DnsMessage) -> DnsMessage:
    """Header and question only, with TC set. dnslib's own truncate() drops the question too,
    and clients (dnspython among them) then refuse the reply as not matching their query."""
    header = DNSHeader(id=reply.header.id, bitmap=reply.header.bitmap, tc=1)
    truncated = DNSRecord(header, questions=list(reply.questions))
    for opt in (rr for rr in reply.ar if rr.rtype == QTYPE.OPT):
        truncated.add_ar(opt)
    return truncated


def _format_error(data: bytes) -> bytes | None:
    """FORMERR for a message that does not parse, if it has at least a header to answer."""
    if len(data) < 12 or data[2] & 0x80:
        return None
    header = DNSHeader(id=int.from_bytes(data[:2], "big"), qr=1, rcode=RCODE.FORMERR)
    return bytes(DNSRecord(header).pack())


# --- sockets -------------------------------------------------------------------------------------


class _UdpHandler(socketserver.BaseRequestHandler):
    server: _UdpServer

    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.authority.answer_wire(data, udp=True)
        if reply is None:
            return
        if self.server.delayed is not None:
            self.server.delayed.send(sock, reply, self.client_address)
        else:
            sock.sendto(reply, self.client_address)


class _DelayedReplies:
    """Sends each UDP reply `latency` seconds after its query came, from one thread: every
    reply waits as long, so the first queued is always the first due."""

    def __init__(self, latency: float) -> None:
        self._latency = latency
        self._queue: deque[tuple[float, socket.socket, bytes, Any]] = deque()
        self._ready = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="dns-delayed-replies")
        self._thread.start()

    def send(self, sock: socket.socket, reply: bytes, address: Any) -> None:
        with self._ready:
            self._queue.append((time.monotonic() + self._latency, sock, reply, address))
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._stopped:
                    self._ready.wait()
                if self._stopped:
                    return
                due, sock, reply, address = self._queue.popleft()
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                sock.sendto(reply, address)
            except OSError:  # the server closed its socket: it is stopping
                return

    def stop(self) -> None:
        with self._ready:
            self._stopped = True
            self._ready.notify()
        self._thread.join()


class _TcpHandler(socketserver.BaseRequestHandler):
    """RFC 7766: length-prefixed messages, several per connection, until idle or closed."""

    server: _TcpServer

    def handle(self) -> None:
        self.request.settimeout(self.server.idle_timeout)
        while (query := _receive_framed(self.request)) is not None:
            reply = self.server.authority.answer_wire(query, udp=False)
            if reply is None:
                return
            if self.server.latency > 0:
                time.sleep(self.server.latency)
            self.request.sendall(len(reply).to_bytes(2, "big") + reply)


def _receive_framed(sock: socket.socket) -> bytes | None:
    length = _receive_exactly(sock, 2)
    return None if length is None else _receive_exactly(sock, int.from_bytes(length, "big"))


def _receive_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    try:
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
    except OSError:  # idle timeout, reset, or the server closing it on stop
        return None
    return data


class _UdpServer(socketserver.UDPServer):
    # Queries are answered from memory, so one thread does them all, in order.
    def __init__(
        self, address: tuple[str, int], authority: Authority, latency: float = 0.0
    ) -> None:
        self.address_family = _family(address[0])
        self.authority = authority
        self.delayed = _DelayedReplies(latency) if latency > 0 else None
        try:
            super().__init__(address, _UdpHandler)
        except BaseException:
            self.stop_delayed()
            raise

    def server_bind(self) -> None:
        # A burst of a few hundred queries (the validator's) overflows Linux's default 208 KiB
        # receive buffer, and each dropped query costs its client a retry; a name server sizes
        # its buffer for bursts (the kernel caps this at net.core.rmem_max).
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        super().server_bind()

    def stop_delayed(self) -> None:
        if self.delayed is not None:
            self.delayed.stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.warning("DNS query from %s failed", client_address, exc_info=True)


class _TcpServer(LiveConnections, socketserver.ThreadingTCPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins every connection's thread
    allow_reuse_address = True  # a restarted world can listen again despite TIME_WAIT
    request_queue_size = 1024  # not socketserver's 5: a burst of truncated answers retries here

    def __init__(
        self,
        address: tuple[str, int],
        authority: Authority,
        idle_timeout: float,
        latency: float = 0.0,
    ) -> None:
        self.address_family = _family(address[0])
        self.authority = authority
        self.idle_timeout = idle_timeout
        self.latency = latency
        self._track_connections()
        super().__init__(address, _TcpHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.warning("DNS connection from %s failed", client_address, exc_info=True)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class LocalDnsServer(Service):
    """The authoritative server on one port, UDP and TCP, each served by a background thread."""

    BIND_ATTEMPTS = 20  # port 0: tries to find a port free for both UDP and TCP

    def __init__(
        self,
        state: CloudflareState,
        edge_address: str,
        extra_records: Iterable[StaticRecord] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tcp_idle_timeout: float = TCP_IDLE_TIMEOUT,
        latency: float = 0.0,
    ) -> None:
        """`latency`: send each answer this many seconds late, as a client far away sees a
        name server (the validator benchmark)."""
        if latency < 0:
            raise ValueError("latency must not be negative")
        self.latency = latency
        self.authority = Authority(state, edge_address, extra_records)
        self.host = host
        self.tcp_idle_timeout = tcp_idle_timeout
        self._requested_port = port
        self._servers: tuple[_UdpServer, _TcpServer] | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> Self:
        if self._servers is not None:
            raise DnsServerError("the DNS server is already running")
        udp, tcp = self._bind()
        self._servers = (udp, tcp)
        port = udp.server_address[1]
        for server, kind in ((udp, "udp"), (tcp, "tcp")):
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},  # how soon stop() is noticed
                name=f"dns-{kind}-{self.host}:{port}",
            )
            thread.start()
            self._threads.append(thread)
        return self

    def _bind(self) -> tuple[_UdpServer, _TcpServer]:
        attempts = self.BIND_ATTEMPTS if self._requested_port == 0 else 1
        last_error: OSError | None = None
        for _ in range(attempts):
            udp = self._listen(_UdpServer, self._requested_port)
            try:
                address = (self.host, udp.server_address[1])
                tcp = _TcpServer(address, self.authority, self.tcp_idle_timeout, self.latency)
                return udp, tcp
            except OSError as error:
                udp.server_close()
                udp.stop_delayed()
                last_error = error  # the UDP port's TCP twin is taken: try another port
        raise DnsServerError(
            f"cannot listen on TCP {self.host}:{self._requested_port}: {last_error}"
        )

    def _listen(self, kind: type[_UdpServer], port: int) -> _UdpServer:
        try:
            return kind((self.host, port), self.authority, self.latency)
        except OSError as error:
            raise DnsServerError(f"cannot listen on UDP {self.host}:{port}: {error}") from error

    def stop(self) -> None:
        """Stop both listeners, close open TCP connections and join every thread."""
        servers, self._servers = self._servers, None
        if servers is None:
            return
        for server in servers:
            server.shutdown()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        udp, tcp = servers
        tcp.close_live_connections()
        tcp.server_close()
        udp.stop_delayed()
        udp.server_close()

    @property
    def port(self) -> int:
        if self._servers is None:
            raise DnsServerError("the DNS server is not running")
        return int(self._servers[0].server_address[1])
