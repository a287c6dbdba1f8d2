"""The callback signature scheme (a public interface: receivers implement it), the delivery id,
and the rules that decide whether an answer is worth another attempt. Pure."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from mtasts.callbacks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    CallbackResponse,
    RetryPolicy,
    delivery_id,
    retry_after_seconds,
    signature_header,
    signed_headers,
    verify_signature,
)
from mtasts.errors import CallbackSignatureError

SECRET = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01"
BODY = b'{"kind":"promoted","domain":"example.com"}'
T = 1_796_040_000


def test_the_signature_is_the_hmac_sha256_of_the_timestamp_a_dot_and_the_body() -> None:
    # Written out as a receiver in any language would compute it.
    expected = hmac.new(SECRET, b"1796040000." + BODY, hashlib.sha256).hexdigest()

    assert signature_header(SECRET, BODY, T) == f"t=1796040000,v1={expected}"


def test_the_headers_name_the_event_the_delivery_and_the_signature() -> None:
    headers = signed_headers(SECRET, BODY, "promoted", "d-1", T)

    assert headers[EVENT_HEADER] == "promoted" and headers[DELIVERY_HEADER] == "d-1"
    assert headers["Content-Type"] == "application/json"
    assert verify_signature(SECRET, BODY, headers[SIGNATURE_HEADER], now=T) == T


def test_a_signature_holds_within_the_tolerance_either_way() -> None:
    header = signature_header(SECRET, BODY, T)

    assert verify_signature(SECRET, BODY, header, now=T + 300) == T
    assert verify_signature(SECRET, BODY, header, now=T - 300) == T


@pytest.mark.parametrize("now", [T + 301, T - 301])
def test_a_signature_too_far_from_now_is_refused_so_it_cannot_be_replayed(now: int) -> None:
    with pytest.raises(CallbackSignatureError, match="more than 300 s from now"):
        verify_signature(SECRET, BODY, signature_header(SECRET, BODY, T), now=now)


def test_a_changed_body_another_secret_or_a_moved_timestamp_is_refused() -> None:
    header = signature_header(SECRET, BODY, T)
    v1 = header.split("v1=")[1]

    for secret, body, received in (
        (SECRET, BODY + b" ", header),
        (b"another secret", BODY, header),
        (SECRET, BODY, f"t={T + 1},v1={v1}"),  # the old signature under a fresh timestamp
    ):
        with pytest.raises(CallbackSignatureError, match="no v1 signature matches"):
            verify_signature(secret, body, received, now=T)


def test_one_matching_v1_among_several_is_enough() -> None:
    good = signature_header(SECRET, BODY, T).split("v1=")[1]

    header = f"t={T},v1={'0' * 64},v1={good}"

    assert verify_signature(SECRET, BODY, header, now=T) == T


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no X-MtaSts-Signature header"),
        ("", "no X-MtaSts-Signature header"),
        ("v1=abc", "exactly one t="),
        (f"t={T},t={T},v1=abc", "exactly one t="),
        ("t=yesterday,v1=abc", "exactly one t="),
        (f"t={T}", "no v1= signature"),
        (f"t={T},v0=abc", "no v1= signature"),
    ],
)
def test_a_missing_or_malformed_header_is_refused_with_the_reason(
    header: str | None, reason: str
) -> None:
    with pytest.raises(CallbackSignatureError, match=reason):
        verify_signature(SECRET, BODY, header, now=T)


def test_the_delivery_id_is_stable_for_one_notification_and_differs_for_another() -> None:
    evidence = {"evaluation": {"verdict": "clean"}, "rounds": None}
    first = delivery_id("example.com", "promoted", "example-com-g1", evidence)

    assert first == delivery_id("example.com", "promoted", "example-com-g1", dict(evidence))
    assert first != delivery_id("example.com", "blocked", "example-com-g1", evidence)
    assert first != delivery_id("example.com", "promoted", "example-com-g2", evidence)
    assert first != delivery_id("example.com", "promoted", "example-com-g1", {"rounds": 3})


@pytest.mark.parametrize(
    ("status", "delivered", "retryable"),
    [
        (200, True, False),
        (204, True, False),
        (301, False, False),  # a signed POST is not redirected elsewhere
        (400, False, False),
        (401, False, False),
        (404, False, False),
        (410, False, False),
        (429, False, True),
        (500, False, True),
        (503, False, True),
        (None, False, True),  # the network failed
    ],
)
def test_network_errors_5xx_and_429_are_retried_other_answers_are_final(
    status: int | None, delivered: bool, retryable: bool
) -> None:
    response = CallbackResponse(status, error="ConnectError: refused" if status is None else None)

    assert (response.delivered, response.retryable) == (delivered, retryable)


def test_backoff_doubles_up_to_its_cap_and_waits_at_least_what_retry_after_asks() -> None:
    policy = RetryPolicy(first_backoff=1.0, max_backoff=8.0)

    assert [policy.backoff(attempt, None) for attempt in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]
    assert policy.backoff(1, 6.0) == 6.0
    assert policy.backoff(3, 0.5) == 4.0


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)

    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Sun, 29 Nov 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Sun, 29 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None
