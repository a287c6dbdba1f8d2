"""Signed status callbacks: the product POSTs a workflow notification to a domain's
`callback_url`, signed so that the receiver can tell it came from this product, unchanged and
recently, and with a delivery id so that it can drop a repeat.

The scheme (a public interface: receivers implement it):

    X-MtaSts-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
    X-MtaSts-Event:     promoted | demoted | blocked | failed | drift-healed
    X-MtaSts-Delivery:  <id, the same for every attempt at the same notification>

A receiver recomputes v1 over the raw body with the shared secret, compares in constant time
(`verify_signature` does all of it) and refuses a `t` more than five minutes from its clock, so
a captured request cannot be replayed later; within those minutes, the delivery id lets it drop
a repeat. Every attempt is signed afresh, so a retry after a backoff is not refused as old.

Delivery retries network errors, 5xx and 429 with exponential backoff (honouring Retry-After)
inside a time budget that fits the notify Lambda's timeout; any other answer is final. It
never raises: the workflow must not fail or loop because a ticketing system is down. Pure: the
HTTP client sits behind `CallbackTransport`, the clocks and the sleep are given.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import msgspec

from mtasts.errors import CallbackError, CallbackSignatureError

SIGNATURE_HEADER: Final = "X-MtaSts-Signature"
EVENT_HEADER: Final = "X-MtaSts-Event"
DELIVERY_HEADER: Final = "X-MtaSts-Delivery"
SCHEME: Final = "v1"
TOLERANCE_SECONDS: Final = 300
USER_AGENT: Final = "mtasts-autopilot-callbacks/1"
# Delivery ids are name-based UUIDs in a namespace of their own.
_DELIVERIES: Final = uuid.uuid5(uuid.NAMESPACE_URL, "https://mtasts-autopilot/callbacks")


# --- signing ----------------------------------------------------------------------------------


def signature(secret: bytes, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>`: binding the time stops a replay under a
    fresh timestamp."""
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: bytes, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},{SCHEME}={signature(secret, body, timestamp)}"


def verify_signature(
    secret: bytes,
    body: bytes,
    header: str | None,
    now: int,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Check a received `X-MtaSts-Signature` against the raw body; the signed timestamp if it
    holds, `CallbackSignatureError` saying why if not. Several v1 values may be given (a
    secret being rotated): one match is enough."""
    timestamp, candidates = _parse_header(header)
    if abs(now - timestamp) > tolerance:
        raise CallbackSignatureError(
            f"the signature's timestamp {timestamp} is more than {tolerance} s from now ({now})"
        )
    expected = signature(secret, body, timestamp)
    # compare_digest on every candidate: how far a guess matched is not leaked by timing.
    matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    if not any(matches):
        raise CallbackSignatureError("no v1 signature matches the body and the secret")
    return timestamp


def _parse_header(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise CallbackSignatureError(f"no {SIGNATURE_HEADER} header")
    pairs = [part.strip().partition("=") for part in header.split(",")]
    stamps = [value for key, _, value in pairs if key == "t"]
    candidates = [value for key, _, value in pairs if key == SCHEME and value]
    if len(stamps) != 1 or not stamps[0].isdigit():
        raise CallbackSignatureError(f"{SIGNATURE_HEADER} needs exactly one t=<unix seconds>")
    if not candidates:
        raise CallbackSignatureError(f"{SIGNATURE_HEADER} has no {SCHEME}= signature")
    return int(stamps[0]), candidates


def delivery_id(domain: str, kind: str, request_id: str, evidence: Mapping[str, Any]) -> str:
    """The same for every attempt and every retry of the task that sends one notification, and
    different for another notification (another kind, execution or evidence)."""
    canonical = json.dumps([domain, kind, request_id, evidence], sort_keys=True, default=str)
    return str(uuid.uuid5(_DELIVERIES, canonical))


def signed_headers(
    secret: bytes, body: bytes, event: str, delivery: str, timestamp: int
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header(secret, body, timestamp),
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery,
    }


# --- delivering ---------------------------------------------------------------------------------


class CallbackResponse(msgspec.Struct, frozen=True):
    """What one POST came to: a status, or the network error that stopped it (status None)."""

    status: int | None
    retry_after: float | None = None  # seconds, from a 429 or 503's Retry-After
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """Worth another attempt: the receiver may answer later. Any other 4xx (or a redirect,
        which a signed POST does not follow) would only be refused again."""
        return self.status is None or self.status == 429 or self.status >= 500

    def describe(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else str(self.error)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A Retry-After header (RFC 9110 §10.2.3: seconds or an HTTP date) as seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


class CallbackTransport(Protocol):
    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> CallbackResponse:
        """One POST; network errors and timeouts come back as a response without a status,
        never raised."""
        ...


class RetryPolicy(msgspec.Struct, frozen=True):
    attempts: int = 4
    attempt_timeout: float = 5.0  # seconds one POST may wait to connect, send or be answered
    budget: float = 15.0  # seconds for every attempt and wait together
    first_backoff: float = 1.0
    max_backoff: float = 8.0
    min_attempt: float = 1.0  # no attempt starts with less time than this left

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        wait = min(self.first_backoff * 2.0 ** (attempt - 1), self.max_backoff)
        return max(wait, retry_after) if retry_after is not None else wait


class CallbackOutcome(msgspec.Struct, frozen=True):
    url: str
    event: str
    delivery_id: str
    delivered: bool
    attempts: int
    status: int | None  # the last answer's, if any
    error: str | None  # why it was not delivered

    def detail(self) -> str:
        plural = "s" if self.attempts != 1 else ""
        if self.delivered:
            return f"callback delivered in {self.attempts} attempt{plural}"
        return f"callback failed after {self.attempts} attempt{plural}: {self.error}"


class CallbackSender(msgspec.Struct):
    """Signs and delivers one notification to one URL, within the policy's budget."""

    transport: CallbackTransport
    secret: Callable[[], bytes]  # read only when a callback is due; may raise CallbackError
    policy: RetryPolicy
    monotonic: Callable[[], float]
    sleep: Callable[[float], None]
    unix_now: Callable[[], int]

    def deliver(self, url: str, event: str, body: bytes, delivery: str) -> CallbackOutcome:
        refused = CallbackOutcome(url, event, delivery, False, 0, None, None)
        scheme = urlsplit(url).scheme.lower()
        if scheme != "https":
            # Never in clear: the body names the domain's state, the headers a signature.
            return msgspec.structs.replace(
                refused, error=f"callback_url must be https, not {scheme or '(none)'}"
            )
        try:
            key = self.secret()
        except CallbackError as error:
            return msgspec.structs.replace(refused, error=str(error))
        attempts, last = self._attempts(url, event, body, delivery, key)
        return msgspec.structs.replace(
            refused,
            delivered=last.delivered,
            attempts=attempts,
            status=last.status,
            error=None if last.delivered else last.describe(),
        )

    def _attempts(
        self, url: str, event: str, body: bytes, delivery: str, key: bytes
    ) -> tuple[int, CallbackResponse]:
        deadline = self.monotonic() + self.policy.budget
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - self.monotonic()
            headers = signed_headers(key, body, event, delivery, self.unix_now())
            timeout = min(self.policy.attempt_timeout, remaining)
            last = self.transport.post(url, body, headers, timeout)
            if last.delivered or not last.retryable or attempt >= self.policy.attempts:
                return attempt, last
            wait = self.policy.backoff(attempt, last.retry_after)
            if self.monotonic() + wait + self.policy.min_attempt > deadline:
                return attempt, last  # no time left for another attempt worth making
            self.sleep(wait)
