"""Signed status callbacks on in-memory ports: the notify task's last step POSTs the notification
to the domain's callback_url through a fake transport, on a fake clock (no sleeps), and records
how it went; it never raises, whatever the receiver does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import HttpUrl

from mtasts.callbacks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    CallbackOutcome,
    CallbackResponse,
    CallbackSender,
    RetryPolicy,
    verify_signature,
)
from mtasts.domain_config import DomainConfig, Lifecycle
from mtasts.errors import CallbackError
from mtasts.notifications import Notification, call_back, notify
from tests.functional.fakes import FakeAudit

DOMAIN = "example.com"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
URL = "https://tickets.example.net/hooks/mtasts?ticket=CHG-42"
SECRET = b"s3cret-from-secrets-manager"
EVENT = {
    "kind": "promoted",
    "domain": DOMAIN,
    "evaluation": {"verdict": "clean", "reasons": ["clean for 15 day(s)"]},
    "deployed": {"policy_id": "20261129120000", "mx": ["mx1.example.com"]},
    "request_id": "example-com-g1",
}


@dataclass
class Post:
    url: str
    body: bytes
    headers: dict[str, str]
    timeout: float
    at: float  # on the fake monotonic clock


@dataclass
class FakeClock:
    """Monotonic seconds that only move when the code under test sleeps (or a POST takes time)."""

    monotonic: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.monotonic

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.monotonic += seconds


@dataclass
class ScriptedReceiver:
    """Answers each POST with the next scripted response (the last one repeats)."""

    clock: FakeClock
    script: list[CallbackResponse]
    post_seconds: float = 0.0
    posts: list[Post] = field(default_factory=list)

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> CallbackResponse:
        self.posts.append(Post(url, body, dict(headers), timeout, self.clock.monotonic))
        self.clock.monotonic += self.post_seconds
        return self.script[min(len(self.posts), len(self.script)) - 1]


@dataclass
class Configs:
    config: DomainConfig | None

    def get(self, domain: str) -> DomainConfig | None:
        return self.config

    def save(self, config: DomainConfig) -> DomainConfig:
        self.config = config.model_copy(update={"version": config.version + 1})
        return self.config


def configs(callback_url: str | None = URL) -> Configs:
    return Configs(
        DomainConfig(
            domain=DOMAIN,
            state=Lifecycle.TESTING,
            callback_url=HttpUrl(callback_url) if callback_url else None,
            created_at=NOW,
            updated_at=NOW,
        )
    )


def sender(
    receiver: ScriptedReceiver, policy: RetryPolicy | None = None, secret: Any = None
) -> CallbackSender:
    return CallbackSender(
        transport=receiver,
        secret=secret or (lambda: SECRET),
        policy=policy or RetryPolicy(attempts=4, attempt_timeout=5, budget=15),
        monotonic=receiver.clock.now,
        sleep=receiver.clock.sleep,
        unix_now=lambda: 1_796_040_000 + int(receiver.clock.monotonic),
    )


def run(
    receiver: ScriptedReceiver, store: Configs | None = None, **given: Any
) -> tuple[Notification, CallbackOutcome | None, FakeAudit]:
    audit, store = FakeAudit(), store or configs()
    notification = notify(EVENT, [], audit, store, lambda: NOW)
    outcome = call_back(notification, store, audit, sender(receiver, **given), lambda: NOW)
    return notification, outcome, audit


def ok() -> CallbackResponse:
    return CallbackResponse(204)


def test_the_notification_is_posted_signed_and_the_delivery_recorded() -> None:
    receiver = ScriptedReceiver(FakeClock(), [ok()])

    notification, outcome, audit = run(receiver)

    (post,) = receiver.posts
    assert post.url == URL and post.body == notification.model_dump_json().encode()
    assert post.headers[EVENT_HEADER] == "promoted"
    signed_at = verify_signature(
        SECRET, post.body, post.headers[SIGNATURE_HEADER], now=1_796_041_000
    )
    assert signed_at == 1_796_041_000
    assert outcome is not None and outcome.delivered and outcome.attempts == 1
    assert outcome.delivery_id == post.headers[DELIVERY_HEADER]
    assert [e.action for e in audit.entries] == ["promoted", "callback-delivered"]
    recorded = audit.entries[-1].after
    assert recorded is not None and recorded["detail"] == "callback delivered in 1 attempt"
    assert recorded["delivery_id"] == outcome.delivery_id and recorded["status"] == 204


def test_5xx_and_network_errors_are_retried_with_backoff_each_attempt_signed_afresh() -> None:
    clock = FakeClock()
    down = CallbackResponse(None, error="ConnectError: connection refused")
    receiver = ScriptedReceiver(clock, [CallbackResponse(503), down, ok()])

    _, outcome, audit = run(receiver)

    assert outcome is not None and outcome.delivered and outcome.attempts == 3
    assert clock.slept == [1.0, 2.0]
    ids = {post.headers[DELIVERY_HEADER] for post in receiver.posts}
    stamps = [post.headers[SIGNATURE_HEADER].split(",")[0] for post in receiver.posts]
    assert len(ids) == 1 and len(set(stamps)) == 3  # one delivery, three fresh signatures
    assert audit.entries[-1].after is not None
    assert audit.entries[-1].after["detail"] == "callback delivered in 3 attempts"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_a_4xx_other_than_429_is_final(status: int) -> None:
    clock = FakeClock()
    receiver = ScriptedReceiver(clock, [CallbackResponse(status), ok()])

    _, outcome, audit = run(receiver)

    assert len(receiver.posts) == 1 and clock.slept == []
    assert outcome is not None and not outcome.delivered and outcome.status == status
    assert audit.entries[-1].action == "callback-failed"
    after = audit.entries[-1].after
    assert after is not None
    assert after["detail"] == f"callback failed after 1 attempt: HTTP {status}"


def test_a_429_waits_as_long_as_retry_after_asks() -> None:
    clock = FakeClock()
    receiver = ScriptedReceiver(clock, [CallbackResponse(429, retry_after=6.0), ok()])

    _, outcome, _ = run(receiver)

    assert outcome is not None and outcome.delivered and clock.slept == [6.0]


def test_attempts_stop_at_the_policy_and_the_failure_is_recorded_not_raised() -> None:
    clock = FakeClock()
    receiver = ScriptedReceiver(clock, [CallbackResponse(500)])

    _, outcome, audit = run(receiver, policy=RetryPolicy(attempts=3, budget=60))

    assert len(receiver.posts) == 3 and clock.slept == [1.0, 2.0]
    assert outcome is not None and not outcome.delivered and outcome.error == "HTTP 500"
    after = audit.entries[-1].after
    assert after is not None and after["detail"] == "callback failed after 3 attempts: HTTP 500"


def test_the_time_budget_bounds_attempts_waits_and_each_attempts_timeout() -> None:
    clock = FakeClock()
    receiver = ScriptedReceiver(clock, [CallbackResponse(502)], post_seconds=4.0)
    policy = RetryPolicy(attempts=10, attempt_timeout=5, budget=15, max_backoff=8)

    _, outcome, _ = run(receiver, policy=policy)

    # 0: post (4 s), wait 1; 5: post, wait 2; 11: 4 s left, a 4 s wait would leave none.
    assert [p.at - 1000 for p in receiver.posts] == [0, 5, 11]
    assert [p.timeout for p in receiver.posts] == [5, 5, 4]
    assert clock.monotonic - 1000 <= 15
    assert outcome is not None and outcome.attempts == 3 and not outcome.delivered


def test_an_unreadable_secret_sends_nothing_and_is_recorded() -> None:
    receiver = ScriptedReceiver(FakeClock(), [ok()])

    def unreadable() -> bytes:
        raise CallbackError("the callback signing secret cannot be read: AccessDenied")

    _, outcome, audit = run(receiver, secret=unreadable)

    assert receiver.posts == []
    assert outcome is not None and outcome.attempts == 0 and not outcome.delivered
    after = audit.entries[-1].after
    assert after is not None and "AccessDenied" in after["detail"]


def test_a_callback_url_that_is_not_https_is_never_called() -> None:
    receiver = ScriptedReceiver(FakeClock(), [ok()])

    _, outcome, audit = run(receiver, configs("http://tickets.example.net/hook"))

    assert receiver.posts == [] and audit.entries[-1].action == "callback-failed"
    assert outcome is not None and outcome.error == "callback_url must be https, not http"


def test_a_domain_without_a_callback_url_or_configuration_is_not_called_back() -> None:
    for store in (configs(None), Configs(None)):
        receiver = ScriptedReceiver(FakeClock(), [ok()])

        _, outcome, audit = run(receiver, store)

        assert outcome is None and receiver.posts == []
        assert [e.action for e in audit.entries] == ["promoted"]
