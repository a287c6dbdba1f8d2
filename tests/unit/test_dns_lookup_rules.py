"""The DNS lookup's pure parts: TXT joining, MX order and the null MX, and how answers and
errors become outcomes (CNAMEs followed across queries), with a resolver that answers from
hand-built messages instead of the network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import pytest

from mtasts.dns_lookup import (
    MAX_CNAME_HOPS,
    DnsLookup,
    DnsMxResolver,
    Lookup,
    MxRecord,
    Outcome,
    host_name,
    join_txt,
    mx_hosts,
    mx_records,
)
from mtasts.errors import DnsLookupError, MtaStsError

# --- pure helpers --------------------------------------------------------------------------------


def test_txt_strings_are_joined_without_spaces():
    assert join_txt([b"v=STSv1; ", b"id=2024", b"0101"]) == "v=STSv1; id=20240101"
    assert join_txt([b"v=STSv1;", b" id=1"]) == "v=STSv1; id=1"
    assert join_txt([]) == ""


def test_txt_bytes_that_are_not_utf8_do_not_break_the_lookup():
    assert join_txt([b"v=STSv1; id=1\xff"]) == "v=STSv1; id=1\ufffd"


def test_host_names_are_lowercase_without_the_trailing_dot():
    assert host_name("MX1.Example.COM.") == "mx1.example.com"
    assert host_name(".") == ""


def test_mx_records_are_sorted_by_preference_then_name_and_deduplicated():
    records = mx_records(
        [(20, "b.example."), (10, "Z.example."), (10, "a.example"), (20, "B.example")]
    )

    assert records == (
        MxRecord(10, "a.example"),
        MxRecord(10, "z.example"),
        MxRecord(20, "b.example"),
    )


def test_the_null_mx_is_kept_as_a_record_but_is_no_host():
    records = mx_records([(0, ".")])

    assert records == (MxRecord(0, ""),)
    assert records[0].is_null
    assert mx_hosts(records) == []
    assert mx_hosts(mx_records([(0, "."), (10, "mx.example.")])) == ["mx.example"]


def test_a_failed_lookup_raises_only_when_its_records_are_asked_for():
    failed: Lookup[str] = Lookup("example.com", "MX", Outcome.FAILURE, error="timed out")
    missing: Lookup[str] = Lookup("example.com", "MX", Outcome.NXDOMAIN)

    assert not failed.missing and missing.missing
    assert missing.records_or_raise() == ()
    with pytest.raises(DnsLookupError, match="MX lookup of example.com failed: timed out"):
        failed.records_or_raise()
    assert issubclass(DnsLookupError, MtaStsError)


# --- outcomes, with a resolver that answers from messages ----------------------------------------


def response(qname: str, rdtype: str, *records: tuple[str, str, str]) -> dns.message.QueryMessage:
    """A NOERROR response to `qname`/`rdtype` whose answer holds (owner, type, text) records."""
    query = dns.message.make_query(qname, rdtype)
    reply = dns.message.make_response(query)
    assert isinstance(reply, dns.message.QueryMessage)
    for owner, kind, text in records:
        rdtype_of = dns.rdatatype.from_text(kind)
        rrset = reply.find_rrset(
            reply.answer, dns.name.from_text(owner), dns.rdataclass.IN, rdtype_of, create=True
        )
        rrset.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype_of, text), ttl=300)
    return reply


class ScriptedResolver(dns.resolver.Resolver):
    """Answers each query from `script` (query name -> response or exception to raise)."""

    def __init__(self, script: dict[str, Callable[[], dns.message.QueryMessage]]) -> None:
        super().__init__(configure=False)
        self.script = script
        self.asked: list[str] = []
        self.lifetimes: list[float] = []

    def resolve(self, qname: Any, rdtype: Any = "A", *args: Any, **kwargs: Any) -> Any:
        assert kwargs["raise_on_no_answer"] is False and kwargs["search"] is False
        assert 0 < kwargs["lifetime"] <= self.lifetime
        self.lifetimes.append(kwargs["lifetime"])
        name = qname.to_text().lower()  # DNS names compare without case
        self.asked.append(name)
        reply = self.script[name]()
        return dns.resolver.Answer(
            dns.name.from_text(name),
            dns.rdatatype.from_text(rdtype),
            dns.rdataclass.IN,
            reply,
        )


def new(kind: type[Exception], **kwargs: object) -> Exception:
    """An instance of one of dnspython's exceptions (their constructors are untyped)."""
    return kind(**kwargs)


def raising(error: Exception) -> Callable[[], dns.message.QueryMessage]:
    def answer() -> dns.message.QueryMessage:
        raise error

    return answer


def test_a_cname_left_alone_in_an_answer_is_followed_with_a_second_query():
    resolver = ScriptedResolver(
        {
            "_mta-sts.a.example.": lambda: response(
                "_mta-sts.a.example.", "TXT", ("_mta-sts.a.example.", "CNAME", "p.host.example.")
            ),
            "p.host.example.": lambda: response(
                "p.host.example.", "TXT", ("p.host.example.", "TXT", '"v=STSv1; " "id=1"')
            ),
        }
    )

    found = DnsLookup(resolver=resolver).txt("_mta-sts.A.example")

    assert resolver.asked == ["_mta-sts.a.example.", "p.host.example."]
    assert resolver.lifetimes[1] <= resolver.lifetimes[0]  # one budget for both queries
    assert found == Lookup(
        "_mta-sts.a.example", "TXT", Outcome.FOUND, ("v=STSv1; id=1",), "p.host.example"
    )


def test_a_chain_answered_in_one_response_needs_no_second_query():
    resolver = ScriptedResolver(
        {
            "a.example.": lambda: response(
                "a.example.",
                "MX",
                ("a.example.", "CNAME", "b.example."),
                ("b.example.", "MX", "10 MX.B.example."),
            )
        }
    )

    found = DnsLookup(resolver=resolver).mx("a.example")

    assert resolver.asked == ["a.example."]
    assert (found.records, found.canonical_name) == ((MxRecord(10, "mx.b.example"),), "b.example")


def test_a_cname_loop_across_queries_is_a_failure_not_a_hang():
    resolver = ScriptedResolver(
        {
            "a.example.": lambda: response(
                "a.example.", "TXT", ("a.example.", "CNAME", "b.example.")
            ),
            "b.example.": lambda: response(
                "b.example.", "TXT", ("b.example.", "CNAME", "a.example.")
            ),
        }
    )

    found = DnsLookup(resolver=resolver).txt("a.example")

    assert found.outcome is Outcome.FAILURE
    assert found.error is not None and "CNAME" in found.error
    assert len(resolver.asked) <= MAX_CNAME_HOPS + 1


def test_an_empty_answer_for_the_name_itself_is_nodata():
    resolver = ScriptedResolver({"a.example.": lambda: response("a.example.", "MX")})

    found = DnsLookup(resolver=resolver).mx("a.example")

    assert (found.outcome, found.records, found.canonical_name) == (Outcome.NODATA, (), "a.example")
    assert DnsMxResolver(DnsLookup(resolver=resolver)).mx_hosts("a.example") == []


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (new(dns.resolver.NXDOMAIN), Outcome.NXDOMAIN),
        (new(dns.resolver.NoAnswer), Outcome.NODATA),
        (new(dns.resolver.LifetimeTimeout, timeout=0.5, errors=[]), Outcome.FAILURE),
        (new(dns.resolver.NoNameservers), Outcome.FAILURE),
        (new(dns.resolver.YXDOMAIN), Outcome.FAILURE),
        (new(dns.exception.FormError), Outcome.FAILURE),
    ],
)
def test_resolver_errors_become_outcomes(error: Exception, outcome: Outcome):
    resolver = ScriptedResolver({"a.example.": raising(error)})

    found = DnsLookup(resolver=resolver).txt("a.example")

    assert found.outcome is outcome
    assert (found.error is not None) == (outcome is Outcome.FAILURE)


def test_the_mx_port_raises_on_failure_instead_of_answering_no_mx():
    resolver = ScriptedResolver({"a.example.": raising(new(dns.resolver.NoNameservers))})

    with pytest.raises(DnsLookupError):
        DnsMxResolver(DnsLookup(resolver=resolver)).mx_hosts("a.example")


def test_a_name_that_cannot_be_a_domain_is_a_value_error():
    with pytest.raises(ValueError, match="not a domain name"):
        DnsLookup(resolver=ScriptedResolver({})).txt("a..example")
