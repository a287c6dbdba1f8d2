"""Live DNS as a sending MTA sees it (dnspython): TXT, MX, A and AAAA, from the system's
resolver or from one name server at a chosen address and port (the local world's).

The validator must tell "the record is missing" (a finding about the domain) from "DNS is
broken" (a finding about the lookup, retried later), so every lookup ends in one of four
outcomes rather than an exception: FOUND, NXDOMAIN (the name does not exist), NODATA (it exists
without records of that type) or FAILURE (timeout, SERVFAIL, refused, unreachable).

The async lookup is for the validator's many domains; the sync one (and `DnsMxResolver`, the
`MxResolver` port) is for the deploy gate. Both use dnspython's own resolver of their kind and
share everything but the I/O call, so neither runs an event loop inside the other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.TXT
import dns.resolver
import dns.rrset

from mtasts.errors import DnsLookupError
from mtasts.ports import MxResolver

DEFAULT_TIMEOUT = 5.0  # seconds for the whole lookup, retries and CNAME hops included
MAX_CNAME_HOPS = 8
EDNS_PAYLOAD = 1232  # the DNS Flag Day 2020 UDP size: big TXT sets without fragmentation

type Parse[T] = Callable[[dns.rrset.RRset], tuple[T, ...]]


class Outcome(StrEnum):
    FOUND = "found"
    NXDOMAIN = "nxdomain"  # the name does not exist
    NODATA = "nodata"  # the name exists, without records of the type asked for
    FAILURE = "failure"  # no usable answer: nothing is known


@dataclass(frozen=True, slots=True)
class MxRecord:
    preference: int
    host: str  # lowercase, no trailing dot; "" for the null MX `.` (RFC 7505)

    @property
    def is_null(self) -> bool:
        return self.host == ""


@dataclass(frozen=True, slots=True)
class Lookup[T]:
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


def _txt(rrset: dns.rrset.RRset) -> tuple[str, ...]:
    return tuple(join_txt(r.strings) for r in rrset if isinstance(r, dns.rdtypes.ANY.TXT.TXT))


def _mx(rrset: dns.rrset.RRset) -> tuple[MxRecord, ...]:
    pairs = [
        (r.preference, r.exchange.to_text()) for r in rrset if isinstance(r, dns.rdtypes.ANY.MX.MX)
    ]
    return mx_records(pairs)


def _addresses(rrset: dns.rrset.RRset) -> tuple[str, ...]:
    return tuple(sorted(str(r.address) for r in rrset))


def _text(name: dns.name.Name) -> str:
    return host_name(name.to_text())


# --- one lookup, CNAMEs and all ----------------------------------------------------------------


@dataclass(slots=True)
class _Chain[T]:
    """The state of one lookup across its queries. A recursive resolver follows CNAMEs
    itself; an authoritative server (the local world's, or a stub pointed at one) returns a
    CNAME to a name outside its data alone, so the target is asked for next."""

    name: str
    rdtype: str
    parse: Parse[T]
    budget: float  # seconds for every query of the lookup together
    query: dns.name.Name = field(init=False)
    deadline: float = field(init=False)
    seen: list[dns.name.Name] = field(default_factory=list)
    result: Lookup[T] | None = None

    def __post_init__(self) -> None:
        try:
            self.query = dns.name.from_text(self.name)
        except dns.exception.DNSException as error:
            raise ValueError(f"not a domain name: {self.name!r} ({error})") from error
        self.deadline = time.monotonic() + self.budget

    def lifetime(self) -> float:
        """What is left of the budget for the next query; at 0 dnspython times out at once."""
        return max(0.0, self.deadline - time.monotonic())

    def answered(self, answer: dns.resolver.Answer) -> None:
        canonical = answer.canonical_name
        if answer.rrset is not None:
            self._end(Outcome.FOUND, canonical, records=self.parse(answer.rrset))
        elif canonical == answer.qname:
            self._end(Outcome.NODATA, canonical)
        elif canonical in self.seen or len(self.seen) >= MAX_CNAME_HOPS:
            self._end(
                Outcome.FAILURE, canonical, error=f"CNAME loop or chain over {MAX_CNAME_HOPS}"
            )
        else:
            self.seen.append(self.query)
            self.query = canonical

    def failed(self, error: dns.exception.DNSException) -> None:
        if isinstance(error, dns.resolver.NXDOMAIN):
            self._end(Outcome.NXDOMAIN, _dangling_target(error, self.query))
        elif isinstance(error, dns.resolver.NoAnswer):  # only if raise_on_no_answer is set
            self._end(Outcome.NODATA, self.query)
        elif isinstance(error, dns.exception.Timeout):
            self._end(Outcome.FAILURE, self.query, error=f"timed out: {error}")
        else:  # NoNameservers (SERVFAIL, REFUSED, unreachable), YXDOMAIN, malformed answers
            self._end(Outcome.FAILURE, self.query, error=f"{type(error).__name__}: {error}")

    def _end(
        self,
        outcome: Outcome,
        canonical: dns.name.Name,
        records: tuple[T, ...] = (),
        error: str | None = None,
    ) -> None:
        name, where = host_name(self.name), _text(canonical)
        self.result = Lookup(name, self.rdtype, outcome, records, where, error)


def _dangling_target(error: dns.resolver.NXDOMAIN, query: dns.name.Name) -> dns.name.Name:
    """The name that does not exist: the end of the CNAME chain, if the answer had one."""
    try:
        name = error.canonical_name
    except (TypeError, KeyError):  # an NXDOMAIN built without the answers it came from
        return query
    return name if isinstance(name, dns.name.Name) else query


TRIES_PER_LOOKUP = 3


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


class AsyncDnsLookup:
    """Lookups for asyncio. `nameserver` (an IP address) and `port` choose one server;
    without them, the system's resolver configuration is read when this is created. A
    `resolver` given is used as it is (its own servers and timeouts)."""

    def __init__(
        self,
        nameserver: str | None = None,
        port: int = 53,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        resolver: dns.asyncresolver.Resolver | None = None,
    ) -> None:
        if resolver is None:
            resolver = dns.asyncresolver.Resolver(configure=nameserver is None)
            _configure(resolver, nameserver, port, timeout)
        self._resolver = resolver

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
        chain = _Chain(name, rdtype, parse, self._resolver.lifetime)
        while chain.result is None:
            try:
                # No answer is an outcome, not an exception; names are absolute, never searched.
                answer = await self._resolver.resolve(
                    chain.query,
                    rdtype,
                    raise_on_no_answer=False,
                    search=False,
                    lifetime=chain.lifetime(),
                )
            except dns.exception.DNSException as error:
                chain.failed(error)
            else:
                chain.answered(answer)
        return chain.result


class DnsLookup:
    """The same lookups, blocking (dnspython's sync resolver)."""

    def __init__(
        self,
        nameserver: str | None = None,
        port: int = 53,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        resolver: dns.resolver.Resolver | None = None,
    ) -> None:
        if resolver is None:
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
                answer = self._resolver.resolve(
                    chain.query,
                    rdtype,
                    raise_on_no_answer=False,
                    search=False,
                    lifetime=chain.lifetime(),
                )
            except dns.exception.DNSException as error:
                chain.failed(error)
            else:
                chain.answered(answer)
        return chain.result


class DnsMxResolver(MxResolver):
    """The `MxResolver` port over live DNS, for the deploy safety gate: a missing MX set is
    an empty list, a DNS failure is DnsLookupError (never mistaken for "no MX")."""

    def __init__(self, lookup: DnsLookup | None = None) -> None:
        self._lookup = lookup or DnsLookup()

    def mx_hosts(self, domain: str) -> list[str]:
        return mx_hosts(self._lookup.mx(domain).records_or_raise())
