"""Live DNS as a sending MTA sees it: TXT, MX, A and AAAA, from the system's resolver or from
one name server at a chosen address and port (the local world's).

The validator must tell "the record is missing" (a finding about the domain) from "DNS is
broken" (a finding about the lookup, retried later), so every lookup ends in one of four
outcomes rather than an exception: FOUND, NXDOMAIN (the name does not exist), NODATA (it exists
without records of that type) or FAILURE (timeout, SERVFAIL, refused, unreachable).

The async lookup is for the validator's thousands of questions per run. It asks over a few
shared, connected UDP sockets (see `_UdpChannel`) and reads the replies with a small RFC 1035
reader (`_reply`) that takes what dnspython's parser takes: dnspython's async resolver opens a
socket, builds a resolution and parses every record of every reply per question, which cost the
validator more CPU than anything else it does per domain but the TLS handshakes. It keeps that
resolver's behaviour: tries, TCP after truncation, servers that fail or refuse. The sync lookup
(and `DnsMxResolver`, the `MxResolver` port) is for the deploy gate and uses dnspython's resolver.
Both end in the same outcomes through the same `_Chain`.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

import dns.exception
import dns.ipv4
import dns.ipv6
import dns.name
import dns.rcode
import msgspec

from mtasts.errors import DnsLookupError
from mtasts.ports import MxResolver

if TYPE_CHECKING:  # the sync lookup imports dnspython's resolver when it is first built
    import dns.resolver
    import dns.rrset

DEFAULT_TIMEOUT = 5.0  # seconds for the whole lookup, retries and CNAME hops included
MAX_CNAME_HOPS = 8
EDNS_PAYLOAD = 1232  # the DNS Flag Day 2020 UDP size: big TXT sets without fragmentation
DNS_PORT = 53

A, CNAME, MX, TXT, AAAA, OPT = 1, 5, 15, 16, 28, 41  # record types (RFC 1035, 3596, 6891)
RDATATYPES = {"A": A, "MX": MX, "TXT": TXT, "AAAA": AAAA}


class Outcome(StrEnum):
    FOUND = "found"
    NXDOMAIN = "nxdomain"  # the name does not exist
    NODATA = "nodata"  # the name exists, without records of the type asked for
    FAILURE = "failure"  # no usable answer: nothing is known


class MxRecord(msgspec.Struct, frozen=True):
    preference: int
    host: str  # lowercase, no trailing dot; "" for the null MX `.` (RFC 7505)

    @property
    def is_null(self) -> bool:
        return self.host == ""


class Lookup[T](msgspec.Struct, frozen=True):
    """What one lookup of `name`/`rdtype` concluded. `canonical_name` is where CNAMEs led."""

    name: str
    rdtype: str
    outcome: Outcome
    records: tuple[T, ...] = ()
    canonical_name: str | None = None
    error: str | None = None

    @property
    def missing(self) -> bool:
        """True when DNS answered that there is nothing (NXDOMAIN or NODATA)."""
        return self.outcome in (Outcome.NXDOMAIN, Outcome.NODATA)

    def records_or_raise(self) -> tuple[T, ...]:
        """The records (empty when missing), or DnsLookupError when DNS failed."""
        if self.outcome is Outcome.FAILURE:
            raise DnsLookupError(f"{self.rdtype} lookup of {self.name} failed: {self.error}")
        return self.records


# --- pure helpers --------------------------------------------------------------------------------


def host_name(text: str) -> str:
    """A host name as the rest of the library compares them: lowercase, no trailing dot."""
    return text.rstrip(".").lower()


def join_txt(strings: Sequence[bytes]) -> str:
    """One TXT record's character-strings as one text: joined without spaces (RFC 8461 §3.1,
    RFC 7208 §3.3); bytes that are not UTF-8 become U+FFFD, since such a record is never an
    STS or TLS-RPT record anyway."""
    return b"".join(strings).decode("utf-8", errors="replace")


def mx_records(pairs: Iterable[tuple[int, str]]) -> tuple[MxRecord, ...]:
    """(preference, exchange) pairs as records, by preference, then name (a stable order
    for equal preferences, which senders pick among at random)."""
    records = {MxRecord(preference, host_name(exchange)) for preference, exchange in pairs}
    return tuple(sorted(records, key=lambda r: (r.preference, r.host)))


def mx_hosts(records: Iterable[MxRecord]) -> list[str]:
    """The host names mail goes to: the null MX (`.`, "no mail here") is not a host."""
    return [r.host for r in records if not r.is_null]


class _Txt(msgspec.Struct, frozen=True):
    strings: tuple[bytes, ...]


class _Mx(msgspec.Struct, frozen=True):
    preference: int
    exchange: str  # as dnspython writes a name: absolute, odd bytes escaped


class _Address(msgspec.Struct, frozen=True):
    text: str


type _Rdata = _Txt | _Mx | _Address
type Parse[T] = Callable[[Sequence[_Rdata]], tuple[T, ...]]


def _txt(rdatas: Sequence[_Rdata]) -> tuple[str, ...]:
    return tuple(join_txt(r.strings) for r in rdatas if isinstance(r, _Txt))


def _mx(rdatas: Sequence[_Rdata]) -> tuple[MxRecord, ...]:
    return mx_records((r.preference, r.exchange) for r in rdatas if isinstance(r, _Mx))


def _addresses(rdatas: Sequence[_Rdata]) -> tuple[str, ...]:
    return tuple(sorted(r.text for r in rdatas if isinstance(r, _Address)))


def _text(name: dns.name.Name) -> str:
    return host_name(name.to_text())


# --- one lookup, CNAMEs and all ----------------------------------------------------------------


class _Chain[T]:
    """The state of one lookup across its queries. A recursive resolver follows CNAMEs
    itself; an authoritative server (the local world's, or a stub pointed at one) returns a
    CNAME to a name outside its data alone, so the target is asked for next."""

    __slots__ = ("deadline", "name", "parse", "query", "rdtype", "result", "seen")

    def __init__(self, name: str, rdtype: str, parse: Parse[T], budget: float) -> None:
        """`budget`: seconds for every query of the lookup together."""
        try:
            self.query = dns.name.from_text(name)
        except dns.exception.DNSException as error:
            raise ValueError(f"not a domain name: {name!r} ({error})") from error
        self.name, self.rdtype, self.parse = name, rdtype, parse
        self.deadline = time.monotonic() + budget
        self.seen: list[dns.name.Name] = []
        self.result: Lookup[T] | None = None

    def lifetime(self) -> float:
        """What is left of the budget for the next query; at 0 dnspython times out at once."""
        return max(0.0, self.deadline - time.monotonic())

    def answered(self, canonical: dns.name.Name, rdatas: Sequence[_Rdata] | None) -> None:
        """A NOERROR answer to `query`, with the CNAMEs it held already followed: the records
        of the type asked for at `canonical`, or None when it has none."""
        if rdatas is not None:
            self._end(Outcome.FOUND, canonical, records=self.parse(rdatas))
        elif canonical == self.query:
            self._end(Outcome.NODATA, canonical)
        elif canonical in self.seen or len(self.seen) >= MAX_CNAME_HOPS:
            self._end(
                Outcome.FAILURE, canonical, error=f"CNAME loop or chain over {MAX_CNAME_HOPS}"
            )
        else:
            self.seen.append(self.query)
            self.query = canonical

    def nxdomain(self, canonical: dns.name.Name) -> None:
        self._end(Outcome.NXDOMAIN, canonical)

    def nodata(self) -> None:
        self._end(Outcome.NODATA, self.query)

    def failed(self, error: str) -> None:
        self._end(Outcome.FAILURE, self.query, error=error)

    def _end(
        self,
        outcome: Outcome,
        canonical: dns.name.Name,
        records: tuple[T, ...] = (),
        error: str | None = None,
    ) -> None:
        name, where = host_name(self.name), _text(canonical)
        self.result = Lookup(name, self.rdtype, outcome, records, where, error)


TRIES_PER_LOOKUP = 3


# --- async: many questions over a few shared sockets ---------------------------------------------

# A socket carries at most this many questions, then the next ones get a new socket and so a new
# random source port: with the random ids, what an off-path attacker must guess (RFC 5452 §9.2).
QUERIES_PER_SOCKET = 1024
# At most this many questions wait on one socket at a time: replies that arrive while the event
# loop is busy (a TLS handshake) queue in the socket's receive buffer, and Linux's default
# (208 KiB, about a hundred small datagrams) drops the rest, each drop costing a retry.
WAITING_PER_SOCKET = 48
_HEADER = struct.Struct("!HHHHHH")  # id, flags, and the four section counts
_TYPE_CLASS = struct.Struct("!HH")
_RECORD = struct.Struct("!HHIH")  # type, class, TTL, data length
_IN = 1
_RD = 0x0100  # recursion desired
# The OPT record of EDNS(0) with the UDP size we accept: root owner, type, size, flags, no data.
_EDNS_OPT = b"\x00" + _RECORD.pack(OPT, EDNS_PAYLOAD, 0, 0)
_QR_BYTE, _TC_BYTE, _OPCODE_BITS = 0x80, 0x02, 0x78  # in the first flags byte
_MAX_MESSAGE = 65535
_MAX_CHAIN = 16  # CNAMEs followed within one reply, as dnspython's `resolve_chaining`
_NOERROR, _NXDOMAIN = 0, 3

type Server = tuple[str, int]


class _Unusable(Exception):
    """What a name server sent cannot be used (malformed, truncated over TCP, a broken chain):
    the server is no good for this question, as dnspython's resolver treats it."""


def _question(name: dns.name.Name, rdtype: int) -> bytes:
    """The question section's bytes: the name in wire form, the type and class IN."""
    wire = name.to_wire()
    if wire is None:  # only when writing to a file
        raise ValueError(f"cannot encode {name}")
    return wire + _TYPE_CLASS.pack(rdtype, _IN)


def _query(query_id: int, question: bytes) -> bytes:
    """A recursive query (RD) with EDNS(0), as dnspython's resolver sends it."""
    return _HEADER.pack(query_id, _RD, 1, 0, 0, 1) + question + _EDNS_OPT


def _answers(wire: bytes, query_id: int, question: bytes) -> bool:
    """True when `wire` is a response to the query with this id and question (the name compared
    without regard to case; type and class exactly), as dnspython's `is_response` checks."""
    if len(wire) < 12 + len(question) or not wire[2] & _QR_BYTE or wire[2] & _OPCODE_BITS:
        return False
    if wire[4:6] != b"\x00\x01":  # one question
        return False
    if int.from_bytes(wire[:2], "big") != query_id:
        return False
    name_end = 12 + len(question) - _TYPE_CLASS.size
    same_name = wire[12:name_end].lower() == question[: -_TYPE_CLASS.size].lower()
    return (
        same_name and wire[name_end : name_end + _TYPE_CLASS.size] == question[-_TYPE_CLASS.size :]
    )


class _UdpChannel:
    """One connected UDP socket to one name server, carrying many questions at once. A reply
    goes to the question with its id and question section (a connected socket receives only
    from that server); anything else is dropped, as a late or forged reply. The socket closes
    as soon as no question waits on it, and takes no more after QUERIES_PER_SOCKET questions,
    nor while WAITING_PER_SOCKET wait on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: Server) -> None:
        family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
        self.loop = loop
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.setblocking(False)
            self._sock.connect(server)
            loop.add_reader(self._sock.fileno(), self._readable)
        except BaseException:
            self._sock.close()
            raise
        self._waiting: dict[int, tuple[bytes, asyncio.Future[bytes]]] = {}
        self._asked = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def takes_more(self, loop: asyncio.AbstractEventLoop) -> bool:
        return (
            not self._closed
            and self._asked < QUERIES_PER_SOCKET
            and len(self._waiting) < WAITING_PER_SOCKET
            and self.loop is loop
        )

    async def ask(self, question: bytes, timeout: float) -> bytes:
        """The reply's bytes; TimeoutError when none comes within `timeout`; OSError when
        the server cannot be reached (e.g. nothing listens at its port)."""
        query_id = secrets.randbits(16)
        while query_id in self._waiting:
            query_id = secrets.randbits(16)
        waiter: asyncio.Future[bytes] = self.loop.create_future()
        self._waiting[query_id] = (question, waiter)
        self._asked += 1
        try:
            try:
                self._sock.send(_query(query_id, question))
            except BlockingIOError:
                pass  # the send buffer is full: as good as lost on the way, so the try times out
            async with asyncio.timeout(timeout):
                return await waiter
        finally:
            del self._waiting[query_id]
            if not self._waiting:
                self.close()

    def _readable(self) -> None:
        while True:
            try:
                wire = self._sock.recv(_MAX_MESSAGE)
            except BlockingIOError:
                return
            except OSError as error:  # an ICMP error came back: e.g. ECONNREFUSED
                self._fail(error)
                return
            if len(wire) < 12:
                continue
            waiting = self._waiting.get(int.from_bytes(wire[:2], "big"))
            if waiting is None:
                continue
            question, waiter = waiting
            if not waiter.done() and _answers(wire, int.from_bytes(wire[:2], "big"), question):
                waiter.set_result(wire)

    def _fail(self, error: OSError) -> None:
        for _, waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(error)
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.loop.remove_reader(self._sock.fileno())
            self._sock.close()


async def _over_tcp(server: Server, question: bytes) -> bytes:
    """The same question over TCP (RFC 7766), for a reply that came back truncated."""
    query_id = secrets.randbits(16)
    query = _query(query_id, question)
    reader, writer = await asyncio.open_connection(*server)
    try:
        writer.write(len(query).to_bytes(2, "big") + query)
        size = int.from_bytes(await reader.readexactly(2), "big")
        wire = await reader.readexactly(size)
    except asyncio.IncompleteReadError as error:
        raise _Unusable("the TCP connection closed mid-reply") from error
    finally:
        writer.close()
    if not _answers(wire, query_id, question):
        raise _Unusable("the TCP reply does not answer the question")
    if wire[2] & _TC_BYTE:
        raise _Unusable("the reply is truncated even over TCP")
    return wire


class _Reply(msgspec.Struct, frozen=True):
    nxdomain: bool
    canonical: dns.name.Name
    rdatas: tuple[_Rdata, ...] | None  # None: no records of the type asked for


def _reply(wire: bytes) -> _Reply | str:
    """A NOERROR or NXDOMAIN reply with its CNAME chain followed; the rcode otherwise (SERVFAIL,
    REFUSED, ...: this server cannot answer). _Unusable if it is not a well-formed message.

    The reader takes what dnspython's parser takes, as strictly (RFC 1035 §4; compression
    pointers only backwards; no bytes after the last record; one EDNS record at most), and
    decodes the records of the type asked for as dnspython does; unlike it, other records'
    data is only bounds-checked. It costs a tenth of dnspython's `from_wire` per reply."""
    try:
        return _read_reply(wire)
    except (IndexError, struct.error, ValueError, dns.exception.DNSException) as error:
        raise _Unusable(f"unusable reply: {type(error).__name__}: {error}") from error


class _Record(msgspec.Struct, frozen=True):
    owner: tuple[bytes, ...]  # labels, without the root
    rdtype: int
    rdclass: int
    ttl: int
    start: int  # the record's data: wire[start:end]
    end: int


def _read_reply(wire: bytes) -> _Reply | str:
    _, flags, questions, answers, authorities, additionals = _HEADER.unpack_from(wire)
    if questions != 1:
        raise _Unusable("the reply does not repeat exactly one question")
    qname, offset = _name(wire, 12)
    qtype, qclass = _TYPE_CLASS.unpack_from(wire, offset)
    offset += _TYPE_CLASS.size
    answer: list[_Record] = []
    for _ in range(answers):
        record, offset = _record(wire, offset)
        answer.append(record)
    for _ in range(authorities):
        _, offset = _record(wire, offset)
    extended_rcode = None
    for _ in range(additionals):
        record, offset = _record(wire, offset)
        if record.rdtype == OPT:
            if extended_rcode is not None or record.owner:
                raise _Unusable("a second EDNS record, or one not owned by the root")
            extended_rcode = record.ttl >> 24
    if offset != len(wire):
        raise _Unusable("bytes after the last record")
    rcode = ((extended_rcode or 0) << 4) | (flags & 0x000F)
    if rcode not in (_NOERROR, _NXDOMAIN):
        return f"answered {dns.rcode.to_text(rcode)}"
    canonical, found = _chained(wire, qname, qtype, [r for r in answer if r.rdclass == qclass])
    if rcode == _NXDOMAIN and found:
        raise _Unusable("an answer in a reply that says the name does not exist")
    rdatas = tuple(_unique(_rdata(wire, r) for r in found)) if found else None
    return _Reply(rcode == _NXDOMAIN, dns.name.Name((*canonical, b"")), rdatas)


def _chained(
    wire: bytes, qname: tuple[bytes, ...], qtype: int, answer: Sequence[_Record]
) -> tuple[tuple[bytes, ...], list[_Record]]:
    """Where the CNAMEs in the answer lead from `qname`, and the records of `qtype` there."""
    by_owner: dict[tuple[tuple[bytes, ...], int], list[_Record]] = {}
    for record in answer:
        by_owner.setdefault((_folded(record.owner), record.rdtype), []).append(record)
    name = qname
    for _ in range(_MAX_CHAIN):
        found = by_owner.get((_folded(name), qtype))
        if found:
            return name, found
        aliases = by_owner.get((_folded(name), CNAME)) if qtype != CNAME else None
        if not aliases:
            return name, []
        target, after = _name(wire, aliases[0].start)
        if after != aliases[0].end:
            raise _Unusable("a CNAME record with bytes after its target")
        name = target
    raise _Unusable(f"a CNAME chain over {_MAX_CHAIN} in one reply")


def _folded(labels: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """Labels compared as DNS compares names: ASCII letters without case."""
    return tuple(label.lower() for label in labels)


def _name(wire: bytes, offset: int) -> tuple[tuple[bytes, ...], int]:
    """The labels of the name at `offset`, and the offset just after it. A compression pointer
    must point before the last one followed (so there are no loops), as dnspython checks."""
    labels: list[bytes] = []
    after = -1
    limit = offset
    size = 1  # the root label's length byte
    while True:
        length = wire[offset]
        if length >= 0xC0:
            target = ((length & 0x3F) << 8) | wire[offset + 1]
            if target >= limit:
                raise _Unusable("a compression pointer that does not point back")
            if after < 0:
                after = offset + 2
            limit = offset = target
            continue
        if length >= 0x40:
            raise _Unusable("a label of an unknown type")
        offset += 1
        if length == 0:
            return tuple(labels), (after if after >= 0 else offset)
        label = wire[offset : offset + length]
        size += length + 1
        if len(label) != length or size > 255:
            raise _Unusable("a label past the end of the reply, or a name over 255 bytes")
        labels.append(label)
        offset += length


def _record(wire: bytes, offset: int) -> tuple[_Record, int]:
    owner, offset = _name(wire, offset)
    rdtype, rdclass, ttl, length = _RECORD.unpack_from(wire, offset)
    start = offset + _RECORD.size
    end = start + length
    if end > len(wire):
        raise _Unusable("a record's data past the end of the reply")
    return _Record(owner, rdtype, rdclass, ttl, start, end), end


def _rdata(wire: bytes, record: _Record) -> _Rdata:
    """The data of a TXT, MX, A or AAAA record, which must fill the record exactly."""
    start, end = record.start, record.end
    if record.rdtype == TXT:
        strings: list[bytes] = []
        while start < end:
            length = wire[start]
            strings.append(wire[start + 1 : start + 1 + length])
            start += 1 + length
        if start != end or not strings:
            raise _Unusable("a TXT record whose strings do not fill it")
        return _Txt(tuple(strings))
    if record.rdtype == MX:
        if end - start < 3:
            raise _Unusable("an MX record too short for a preference and a name")
        exchange, after = _name(wire, start + 2)
        if after != end:
            raise _Unusable("an MX record with bytes after its name")
        preference = int.from_bytes(wire[start : start + 2], "big")
        return _Mx(preference, dns.name.Name((*exchange, b"")).to_text())
    if record.rdtype == A and end - start == 4:
        return _Address(dns.ipv4.inet_ntoa(wire[start:end]))
    if record.rdtype == AAAA and end - start == 16:
        return _Address(dns.ipv6.inet_ntoa(wire[start:end]))
    raise _Unusable(f"a record of type {record.rdtype} that cannot be read")


def _unique(rdatas: Iterable[_Rdata]) -> list[_Rdata]:
    """Each record once, in order: a set of records holds no duplicates (names without case)."""
    seen: set[object] = set()
    unique: list[_Rdata] = []
    for rdata in rdatas:
        key = (rdata.preference, rdata.exchange.lower()) if isinstance(rdata, _Mx) else rdata
        if key not in seen:
            seen.add(key)
            unique.append(rdata)
    return unique


class AsyncDnsLookup:
    """Lookups for asyncio. `nameserver` (an IP address) and `port` choose one server;
    without them, the system's resolver configuration is read when this is created.

    Each question gets `timeout / TRIES_PER_LOOKUP` per try, tries go round the servers until
    the lookup's `timeout` is spent, and a server that refuses, fails (SERVFAIL) or sends
    nonsense is not asked again for that question: what dnspython's resolver does, with one
    budget for the whole lookup, CNAME hops included."""

    def __init__(
        self,
        nameserver: str | None = None,
        port: int = DNS_PORT,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._servers = ((nameserver, port),) if nameserver is not None else _system_servers()
        self._timeout = timeout
        self._channels: dict[Server, list[_UdpChannel]] = {}

    async def txt(self, name: str) -> Lookup[str]:
        """Each TXT record at `name` as one text (its strings joined)."""
        return await self._lookup(name, "TXT", _txt)

    async def mx(self, name: str) -> Lookup[MxRecord]:
        return await self._lookup(name, "MX", _mx)

    async def a(self, name: str) -> Lookup[str]:
        return await self._lookup(name, "A", _addresses)

    async def aaaa(self, name: str) -> Lookup[str]:
        return await self._lookup(name, "AAAA", _addresses)

    async def _lookup[T](self, name: str, rdtype: str, parse: Parse[T]) -> Lookup[T]:
        chain = _Chain(name, rdtype, parse, self._timeout)
        code = RDATATYPES[rdtype]
        while chain.result is None:
            reply = await self._ask(chain.lifetime, _question(chain.query, code))
            if isinstance(reply, str):
                chain.failed(reply)
            elif reply.nxdomain:
                chain.nxdomain(reply.canonical)
            else:
                chain.answered(reply.canonical, reply.rdatas)
        return chain.result

    async def _ask(self, lifetime: Callable[[], float], question: bytes) -> _Reply | str:
        """The reply to one question, or why there is none."""
        servers, problems, tries = list(self._servers), [], 0
        while servers and (left := lifetime()) > 0:
            server = servers[tries % len(servers)]
            tries += 1
            wait = min(self._timeout / TRIES_PER_LOOKUP, left)
            try:
                wire = await self._udp(server, question, wait)
                if wire[2] & _TC_BYTE:
                    async with asyncio.timeout(lifetime()):
                        wire = await _over_tcp(server, question)
                reply = _reply(wire)
            except TimeoutError:
                problems.append(f"{_where(server)}: no answer within {wait:.3g} s")
                continue
            except OSError as error:
                reply = f"{type(error).__name__}: {error}"
            except _Unusable as error:
                reply = str(error)
            if isinstance(reply, _Reply):
                return reply
            servers.remove(server)
            problems.append(f"{_where(server)}: {reply}")
        if servers:
            return "timed out: " + "; ".join(problems or ["no time left"])
        return "no name server could answer: " + "; ".join(problems)

    async def _udp(self, server: Server, question: bytes, timeout: float) -> bytes:
        loop = asyncio.get_running_loop()
        channels = self._channels.setdefault(server, [])
        channel = next((c for c in channels if c.takes_more(loop)), None)
        if channel is None:
            channels[:] = [c for c in channels if not c.closed]
            channel = _UdpChannel(loop, server)
            channels.append(channel)
        return await channel.ask(question, timeout)


def _where(server: Server) -> str:
    address, port = server
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _system_servers() -> tuple[Server, ...]:
    """The name servers of the system's resolver configuration (`/etc/resolv.conf`), read by
    dnspython (NoResolverConfiguration when there is none)."""
    import dns.nameserver
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=True)
    servers: list[Server] = []
    for server in resolver.nameservers:
        if isinstance(server, str):
            servers.append((server, resolver.nameserver_ports.get(server, resolver.port)))
        elif isinstance(server, dns.nameserver.Do53Nameserver):
            servers.append((server.address, server.port))
    if not servers:
        raise dns.resolver.NoResolverConfiguration("no plain DNS name server")  # type: ignore[no-untyped-call]
    return tuple(servers)


# --- sync: dnspython's resolver ------------------------------------------------------------------


def _configure(
    resolver: dns.resolver.BaseResolver, nameserver: str | None, port: int, timeout: float
) -> None:
    if nameserver is not None:
        resolver.nameservers = [nameserver]
        resolver.port = port
    # `timeout` bounds the whole lookup; each try gets a third of it, so a single lost UDP
    # packet costs one retry instead of the whole lookup (a false "DNS broken" finding).
    resolver.timeout = timeout / TRIES_PER_LOOKUP
    resolver.lifetime = timeout
    resolver.use_edns(0, 0, EDNS_PAYLOAD)


def _resolver_failed[T](chain: _Chain[T], error: dns.exception.DNSException) -> None:
    import dns.resolver

    if isinstance(error, dns.resolver.NXDOMAIN):
        chain.nxdomain(_dangling_target(error, chain.query))
    elif isinstance(error, dns.resolver.NoAnswer):  # only if raise_on_no_answer is set
        chain.nodata()
    elif isinstance(error, dns.exception.Timeout):
        chain.failed(f"timed out: {error}")
    else:  # NoNameservers (SERVFAIL, REFUSED, unreachable), YXDOMAIN, malformed answers
        chain.failed(f"{type(error).__name__}: {error}")


def _rdatas(rrset: dns.rrset.RRset) -> tuple[_Rdata, ...]:
    """dnspython's records as the lookups' own: TXT strings, MX pairs, addresses."""
    import dns.rdtypes.ANY.MX
    import dns.rdtypes.ANY.TXT
    import dns.rdtypes.IN.A
    import dns.rdtypes.IN.AAAA

    rdatas: list[_Rdata] = []
    for rdata in rrset:
        if isinstance(rdata, dns.rdtypes.ANY.TXT.TXT):
            rdatas.append(_Txt(tuple(rdata.strings)))
        elif isinstance(rdata, dns.rdtypes.ANY.MX.MX):
            rdatas.append(_Mx(rdata.preference, rdata.exchange.to_text()))
        elif isinstance(rdata, dns.rdtypes.IN.A.A | dns.rdtypes.IN.AAAA.AAAA):
            rdatas.append(_Address(str(rdata.address)))
    return tuple(rdatas)


def _dangling_target(error: dns.resolver.NXDOMAIN, query: dns.name.Name) -> dns.name.Name:
    """The name that does not exist: the end of the CNAME chain, if the answer had one."""
    try:
        name = error.canonical_name
    except (TypeError, KeyError):  # an NXDOMAIN built without the answers it came from
        return query
    return name if isinstance(name, dns.name.Name) else query


class DnsLookup:
    """The same lookups, blocking (dnspython's sync resolver)."""

    def __init__(
        self,
        nameserver: str | None = None,
        port: int = DNS_PORT,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        resolver: dns.resolver.Resolver | None = None,
    ) -> None:
        if resolver is None:
            import dns.resolver

            resolver = dns.resolver.Resolver(configure=nameserver is None)
            _configure(resolver, nameserver, port, timeout)
        self._resolver = resolver

    def txt(self, name: str) -> Lookup[str]:
        """Each TXT record at `name` as one text (its strings joined)."""
        return self._lookup(name, "TXT", _txt)

    def mx(self, name: str) -> Lookup[MxRecord]:
        return self._lookup(name, "MX", _mx)

    def a(self, name: str) -> Lookup[str]:
        return self._lookup(name, "A", _addresses)

    def aaaa(self, name: str) -> Lookup[str]:
        return self._lookup(name, "AAAA", _addresses)

    def _lookup[T](self, name: str, rdtype: str, parse: Parse[T]) -> Lookup[T]:
        chain = _Chain(name, rdtype, parse, self._resolver.lifetime)
        while chain.result is None:
            try:
                # No answer is an outcome, not an exception; names are absolute, never searched.
                answer = self._resolver.resolve(
                    chain.query,
                    rdtype,
                    raise_on_no_answer=False,
                    search=False,
                    lifetime=chain.lifetime(),
                )
            except dns.exception.DNSException as error:
                _resolver_failed(chain, error)
            else:
                rrset = answer.rrset
                chain.answered(answer.canonical_name, None if rrset is None else _rdatas(rrset))
        return chain.result


class DnsMxResolver(MxResolver):
    """The `MxResolver` port over live DNS, for the deploy gate: a missing MX set is
    an empty list, a DNS failure is DnsLookupError (never mistaken for "no MX")."""

    def __init__(self, lookup: DnsLookup | None = None) -> None:
        self._lookup = lookup or DnsLookup()

    def mx_hosts(self, domain: str) -> list[str]:
        return mx_hosts(self._lookup.mx(domain).records_or_raise())
