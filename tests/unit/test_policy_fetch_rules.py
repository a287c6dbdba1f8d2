"""The policy fetcher's rules without a network: the URL, media types, connect targets, backoff,
and how responses and errors become findings (through httpx's MockTransport), including a body
cut while it streams, and the deploy gate's bounded wait."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest

from mtasts.errors import MtaStsError, PolicyNotServedError
from mtasts.findings import Code
from mtasts.policy_fetch import (
    CERTIFICATE_INVALID,
    FETCH_FAILED,
    HTTP_STATUS,
    REDIRECT,
    TOO_LARGE,
    HttpsPolicyFetcher,
    backoff_delays,
    connect_target,
    describe,
    is_text_plain,
    media_type,
    policy_host,
    policy_url,
    trust_context,
    wait_until_served,
)
from mtasts.ports import FetchedPolicy

URL = "https://mta-sts.example.com/.well-known/mta-sts.txt"
POLICY = b"version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 604800\n"
CAP = 64 * 1024

# --- codes and pure rules ------------------------------------------------------------------------


def test_finding_codes_are_distinct_lowercase_policy_codes():
    codes = [FETCH_FAILED, CERTIFICATE_INVALID, REDIRECT, HTTP_STATUS, TOO_LARGE]

    assert all(c.startswith("policy-") and c == c.lower() for c in codes)
    assert len(set(codes)) == len(codes)
    assert TOO_LARGE == Code.POLICY_TOO_LARGE.value  # the parser's code for the same limit


def test_the_policy_host_and_url_are_built_from_a_normalised_domain():
    assert policy_host("Example.COM.") == "mta-sts.example.com"
    assert policy_url(" example.com ") == URL


@pytest.mark.parametrize(
    "domain", ["", ".", "a/b", "x@y.example", "a.example:8443", "a b.example", "a..b", ".a"]
)
def test_a_domain_that_would_change_the_url_is_refused(domain: str):
    with pytest.raises(ValueError, match="not a domain name"):
        policy_host(domain)


@pytest.mark.parametrize(
    ("content_type", "plain"),
    [
        ("text/plain", True),
        ("text/plain; charset=utf-8", True),
        ("TEXT/Plain ; format=flowed", True),
        ("text/html; charset=utf-8", False),
        ("application/octet-stream", False),
        ("", False),
        (None, False),
    ],
)
def test_only_the_media_type_decides_text_plain(content_type: str | None, plain: bool):
    assert is_text_plain(content_type) is plain


def test_media_type_drops_parameters_and_case():
    assert media_type("Text/Plain; Charset=UTF-8") == "text/plain"
    assert media_type(None) is None


def test_connect_targets_match_a_host_exactly_else_the_wildcard_else_nothing():
    targets = {"mta-sts.a.example": ("127.0.0.1", 8443), "*": ("127.0.0.2", 9443)}

    assert connect_target(targets, "MTA-STS.A.example.", 443) == ("127.0.0.1", 8443)
    assert connect_target(targets, "mta-sts.b.example", 443) == ("127.0.0.2", 9443)
    assert connect_target({}, "mta-sts.b.example", 443) == ("mta-sts.b.example", 443)


def test_backoff_doubles_up_to_its_cap_between_attempts():
    assert backoff_delays(5, 1.0, 3.0) == [1.0, 2.0, 3.0, 3.0]
    assert backoff_delays(1, 1.0, 3.0) == []
    with pytest.raises(ValueError):
        backoff_delays(0, 1.0, 3.0)


# --- responses and errors, through a mock transport ----------------------------------------------


def mock_fetcher(handler: httpx.MockTransport, max_bytes: int = CAP) -> HttpsPolicyFetcher:
    return HttpsPolicyFetcher(transport=handler, max_bytes=max_bytes)


def answer(response: httpx.Response) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: response)


def test_the_request_asks_for_the_policy_uncached_and_uncompressed():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=POLICY, headers={"content-type": "text/plain"})

    fetched = mock_fetcher(httpx.MockTransport(handler)).fetch("example.com")

    [request] = seen
    assert str(request.url) == URL
    assert request.headers["host"] == "mta-sts.example.com"
    assert request.headers["accept-encoding"] == "identity"
    assert request.headers["cache-control"] == "no-cache"
    assert fetched == FetchedPolicy(URL, 200, POLICY, "text/plain", None, None, None)


@pytest.mark.parametrize(
    ("status", "headers", "code"),
    [
        (301, {"location": "https://www.example.com/"}, REDIRECT),
        (308, {"location": "/elsewhere"}, REDIRECT),
        (304, {}, HTTP_STATUS),  # not a redirect: nothing to follow
        (204, {}, HTTP_STATUS),
        (403, {}, HTTP_STATUS),
        (503, {}, HTTP_STATUS),
    ],
)
def test_statuses_other_than_200_fail_with_their_code(
    status: int, headers: dict[str, str], code: str
):
    response = httpx.Response(status, headers={**headers, "cache-control": "max-age=60"})

    fetched = mock_fetcher(answer(response)).fetch("example.com")

    assert (fetched.status, fetched.error_code, fetched.body) == (status, code, None)
    assert fetched.cache_control == "max-age=60"
    assert fetched.error is not None and str(status) in fetched.error


def test_a_body_without_a_length_is_cut_while_streaming_and_not_read_to_the_end():
    produced: list[int] = []

    def endless() -> Iterator[bytes]:
        while True:
            produced.append(1)
            yield b"x" * 4096

    response = httpx.Response(200, content=endless())
    assert "content-length" not in response.headers

    fetched = mock_fetcher(answer(response)).fetch("example.com")

    assert (fetched.status, fetched.error_code, fetched.body) == (200, TOO_LARGE, None)
    assert len(produced) == CAP // 4096 + 1  # one chunk past the cap, then it stopped


def test_a_body_of_exactly_the_cap_is_accepted_while_streaming():
    def chunks() -> Iterator[bytes]:
        yield from (b"y" * 1024 for _ in range(CAP // 1024))

    fetched = mock_fetcher(answer(httpx.Response(200, content=chunks()))).fetch("example.com")

    assert fetched.error is None and fetched.body == b"y" * CAP


def test_a_declared_length_over_the_cap_is_refused_before_the_body():
    response = httpx.Response(200, content=b"z" * 200, headers={"content-type": "text/plain"})

    fetched = mock_fetcher(answer(response), max_bytes=100).fetch("example.com")

    assert (fetched.error_code, fetched.content_type) == (TOO_LARGE, "text/plain")
    assert fetched.error is not None and "Content-Length 200" in fetched.error


def failing(error: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    return httpx.MockTransport(handler)


def verification_failure(reason: str) -> httpx.ConnectError:
    cause = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {reason}")
    cause.verify_message = reason
    error = httpx.ConnectError("handshake failed")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "code", "says"),
    [
        (verification_failure("certificate has expired"), CERTIFICATE_INVALID, "expired"),
        (httpx.ConnectError("[Errno -2] Name or service not known"), FETCH_FAILED, "Name"),
        (httpx.ConnectTimeout("timed out"), FETCH_FAILED, "within 60 s"),
        (httpx.ReadTimeout("timed out"), FETCH_FAILED, "ReadTimeout"),
        (httpx.RemoteProtocolError("peer closed connection"), FETCH_FAILED, "peer closed"),
    ],
)
def test_errors_become_failed_fetches(error: Exception, code: str, says: str):
    fetched = mock_fetcher(failing(error)).fetch("example.com")

    assert (fetched.url, fetched.status, fetched.body, fetched.error_code) == (
        URL,
        None,
        None,
        code,
    )
    assert fetched.error is not None and says in fetched.error


def test_a_tls_failure_that_is_not_about_the_certificate_is_a_fetch_failure():
    error = httpx.ConnectError("handshake failed")
    error.__cause__ = ssl.SSLError(1, "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert")

    fetched = mock_fetcher(failing(error)).fetch("example.com")

    assert fetched.error_code == FETCH_FAILED
    assert fetched.error is not None and fetched.error.startswith("TLS handshake failed")


def test_a_domain_that_cannot_be_in_a_url_fails_without_a_request():
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request should be made")

    fetched = mock_fetcher(httpx.MockTransport(handler)).fetch("example.com/evil")

    assert fetched.error_code == FETCH_FAILED and fetched.status is None


def test_an_ssl_context_that_does_not_check_certificates_is_refused():
    careless = ssl.create_default_context()
    careless.check_hostname = False
    careless.verify_mode = ssl.CERT_NONE

    with pytest.raises(ValueError, match="require certificates"):
        HttpsPolicyFetcher(ssl_context=careless)


def test_the_default_context_requires_tls_1_2_and_checks_names():
    context = trust_context()  # the system trust store; building it opens no socket

    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED


# --- the deploy gate ------------------------------------------------------------------------------


def fetched(body: bytes | None, error_code: str | None = None) -> FetchedPolicy:
    error = None if error_code is None else "it failed"
    status = None if error_code else 200
    return FetchedPolicy(URL, status, body, "text/plain", None, error, error_code)


class Scripted:
    """A PolicyFetcher that gives its outcomes in turn, then repeats the last."""

    def __init__(self, *outcomes: FetchedPolicy) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def fetch(self, domain: str) -> FetchedPolicy:
        self.calls += 1
        return self.outcomes[min(self.calls, len(self.outcomes)) - 1]


def test_wait_until_served_retries_with_backoff_until_the_bytes_match():
    fetcher = Scripted(fetched(None, FETCH_FAILED), fetched(b"old"), fetched(POLICY))
    sleeps: list[float] = []

    result = wait_until_served(fetcher, "example.com", POLICY, backoff=1.5, sleep=sleeps.append)

    assert result.body == POLICY
    assert (fetcher.calls, sleeps) == (3, [1.5, 3.0])


def test_wait_until_served_returns_at_once_when_already_served():
    sleeps: list[float] = []

    result = wait_until_served(
        Scripted(fetched(POLICY)), "example.com", POLICY, sleep=sleeps.append
    )

    assert result.body == POLICY and sleeps == []


def test_wait_until_served_gives_up_after_its_attempts():
    fetcher = Scripted(fetched(b"old"), fetched(None, REDIRECT))
    sleeps: list[float] = []

    with pytest.raises(PolicyNotServedError) as raised:
        wait_until_served(
            fetcher, "example.com", POLICY, attempts=5, backoff=2, max_delay=5, sleep=sleeps.append
        )

    assert (fetcher.calls, sleeps) == (5, [2, 4, 5, 5])
    assert raised.value.last.error_code == REDIRECT
    assert "mta-sts.example.com" in str(raised.value) and REDIRECT in str(raised.value)
    assert isinstance(raised.value, MtaStsError)


def test_a_200_with_other_bytes_is_described_as_such():
    assert describe(fetched(b"old")) == "HTTP 200, 3 bytes that are not the expected policy"
    assert describe(fetched(None, TOO_LARGE)) == f"{TOO_LARGE}: it failed"
