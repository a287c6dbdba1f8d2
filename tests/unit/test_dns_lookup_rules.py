"""The DNS lookup's pure parts: TXT joining, MX order and the null MX, and how answers and
errors become outcomes (CNAMEs followed across queries), with a resolver that answers from
hand-built messages instead of the network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset
import pytest

from mtasts.dns_lookup import (
    EDNS_PAYLOAD,
    MAX_CNAME_HOPS,
    DnsLookup,
    DnsMxResolver,
    Lookup,
    MxRecord,
    Outcome,
    _answers,
    _query,
    _question,
    _rdatas,
    _Reply,
    _reply,
    _Unusable,
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


# --- the async lookup's wire format ---------------------------------------------------------------


def test_the_async_query_is_what_dnspythons_resolver_sends():
    question = _question(dns.name.from_text("_mta-sts.Example.COM"), dns.rdatatype.TXT)

    query = dns.message.from_wire(_query(0x1234, question))

    assert query.id == 0x1234
    assert query.flags & dns.flags.RD and not query.flags & dns.flags.QR
    assert [(q.name.to_text(), q.rdtype, q.rdclass) for q in query.question] == [
        ("_mta-sts.Example.COM.", dns.rdatatype.TXT, dns.rdataclass.IN)
    ]
    assert (query.edns, query.payload) == (0, EDNS_PAYLOAD)


def reply_to(name: str, rdtype: str, query_id: int) -> bytes:
    query = dns.message.make_query(name, rdtype)
    query.id = query_id
    return dns.message.make_response(query).to_wire()


def test_a_reply_matches_its_query_by_id_and_question_whatever_the_case_of_the_name():
    question = _question(dns.name.from_text("a.example"), dns.rdatatype.MX)

    assert _answers(reply_to("A.Example", "MX", 7), 7, question)
    assert not _answers(reply_to("a.example", "MX", 8), 7, question)  # another id
    assert not _answers(reply_to("b.example", "MX", 7), 7, question)  # another name
    assert not _answers(reply_to("a.example", "TXT", 7), 7, question)  # another type
    assert not _answers(_query(7, question), 7, question)  # a query, not a reply
    assert not _answers(b"\x00\x07\x80", 7, question)  # too short to hold the question


# --- the async lookup's reply reader, against dnspython's parser ----------------------------------


def built(
    qname: str, rdtype: str, *records: tuple[str, str, str], rcode: int = dns.rcode.NOERROR
) -> bytes:
    """A reply as a server would send it (dnspython writes it, compressing names)."""
    query = dns.message.make_query(qname, rdtype, use_edns=0)
    reply = dns.message.make_response(query)
    reply.set_rcode(dns.rcode.Rcode(rcode))
    for name, kind, data in records:
        reply.answer.append(dns.rrset.from_text(name, 300, "IN", kind, data))
    return reply.to_wire()


def by_dnspython(wire: bytes) -> tuple[bool, str, tuple[object, ...] | None]:
    response = dns.message.from_wire(wire)
    assert isinstance(response, dns.message.QueryMessage)
    chained = response.resolve_chaining()
    answer = None if chained.answer is None else _rdatas(chained.answer)
    return response.rcode() == dns.rcode.NXDOMAIN, chained.canonical_name.to_text(), answer


A_EXAMPLE = "a.example."
REPLIES = [
    built("_mta-sts.a.example.", "TXT", ("_mta-sts.a.example.", "TXT", '"v=STSv1; " "id=1"')),
    built(A_EXAMPLE, "TXT", (A_EXAMPLE, "TXT", '"one"'), (A_EXAMPLE, "TXT", '"two"')),
    built(A_EXAMPLE, "TXT", (A_EXAMPLE, "TXT", '"same"'), ("A.EXAMPLE.", "TXT", '"same"')),
    built(A_EXAMPLE, "TXT", (A_EXAMPLE, "TXT", '"\\255\\000 bytes" ""')),
    built(A_EXAMPLE, "MX", (A_EXAMPLE, "MX", "10 mx1.a.example."), (A_EXAMPLE, "MX", "20 .")),
    built(
        A_EXAMPLE,
        "MX",
        (A_EXAMPLE, "MX", "10 MX.A.example."),
        (A_EXAMPLE, "MX", "10 mx.a.example."),
    ),
    built(A_EXAMPLE, "MX", (A_EXAMPLE, "MX", "10 odd\\.label\\032x.example.")),
    built("A.Example.", "MX", (A_EXAMPLE, "CNAME", "b.example."), ("B.example.", "MX", "5 mx.b.")),
    built(A_EXAMPLE, "TXT", (A_EXAMPLE, "CNAME", "elsewhere.example.")),
    built(A_EXAMPLE, "TXT", (A_EXAMPLE, "CNAME", "gone.example."), rcode=dns.rcode.NXDOMAIN),
    built(A_EXAMPLE, "TXT", rcode=dns.rcode.NXDOMAIN),
    built(A_EXAMPLE, "TXT"),
    built(A_EXAMPLE, "TXT", (A_EXAMPLE, "MX", "10 mx.a.example.")),
    built("h.example.", "A", ("h.example.", "A", "192.0.2.7"), ("h.example.", "A", "192.0.2.1")),
    built("h.", "AAAA", ("h.", "AAAA", "2001:db8::1"), ("h.", "AAAA", "::ffff:192.0.2.1")),
]


@pytest.mark.parametrize("wire", REPLIES)
def test_the_reply_reader_concludes_what_dnspython_concludes(wire: bytes):
    reply = _reply(wire)

    assert isinstance(reply, _Reply)
    assert (reply.nxdomain, reply.canonical.to_text(), reply.rdatas) == by_dnspython(wire)


def test_a_failing_rcode_is_named_and_an_extended_one_read_from_edns():
    servfail = built("a.example.", "TXT", rcode=dns.rcode.SERVFAIL)
    badvers = built("a.example.", "TXT", rcode=dns.rcode.BADVERS)

    assert _reply(servfail) == "answered SERVFAIL"
    assert _reply(badvers) == "answered BADVERS"


def chain_of(length: int) -> bytes:
    links = [(f"n{i}.example.", "CNAME", f"n{i + 1}.example.") for i in range(length)]
    return built("n0.example.", "TXT", *links, (f"n{length}.example.", "TXT", '"end"'))


def test_a_chain_of_cnames_in_one_reply_is_followed_up_to_dnspythons_limit():
    ok = _reply(chain_of(15))

    assert isinstance(ok, _Reply) and ok.rdatas is not None
    with pytest.raises(dns.message.ChainTooLong):
        dns.message.from_wire(chain_of(16)).resolve_chaining()  # type: ignore[attr-defined]
    with pytest.raises(_Unusable, match="CNAME chain"):
        _reply(chain_of(16))


HEADER = b"\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00"  # 1 question, 1 answer
QUESTION = b"\x01a\x07example\x00\x00\x10\x00\x01"  # a.example TXT IN, at offset 12


def txt_answer(data: bytes, length: int | None = None, owner: bytes = b"\xc0\x0c") -> bytes:
    """One TXT answer record (TTL 300) whose data is `data`, said to be `length` long."""
    size = len(data) if length is None else length
    return owner + b"\x00\x10\x00\x01\x00\x00\x01\x2c" + size.to_bytes(2, "big") + data


TWO_QUESTIONS = b"\x12\x34\x81\x80\x00\x02\x00\x00\x00\x00\x00\x00" + QUESTION * 2
TWO_OPT = (
    b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x02"
    + QUESTION
    + (b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00" * 2)
)


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(HEADER[:10], id="a header cut short"),
        pytest.param(HEADER + QUESTION, id="an answer promised and missing"),
        pytest.param(HEADER + QUESTION + txt_answer(b"\x04abc", 5), id="data cut short"),
        pytest.param(HEADER + QUESTION + txt_answer(b""), id="a TXT record with no string"),
        pytest.param(HEADER + QUESTION + txt_answer(b"\x05abc\x00"), id="a string past its record"),
        pytest.param(HEADER + QUESTION + txt_answer(b"\x01a", owner=b"\xc0\x1f"), id="forwards"),
        pytest.param(HEADER + QUESTION + txt_answer(b"\x01a", owner=b"\xc0\x1b"), id="to itself"),
        pytest.param(HEADER + QUESTION + txt_answer(b"\x01a") + b"\x00", id="a trailing byte"),
        pytest.param(TWO_QUESTIONS, id="two questions"),
        pytest.param(TWO_OPT, id="two EDNS records"),
    ],
)
def test_a_malformed_reply_is_unusable_as_it_is_for_dnspython(wire: bytes):
    with pytest.raises(dns.exception.DNSException):
        dns.message.from_wire(wire).resolve_chaining()  # type: ignore[attr-defined]
    with pytest.raises(_Unusable):
        _reply(wire)
