"""Signed status callbacks on the local world: a domain with a callback_url goes through the real
promotion workflow (moto runs the state machine, the notify handler runs in its Lambda), and a
tiny HTTPS receiver, with a certificate from the world's CA, gets the POST. The signature is
checked the way a receiver checks it, with the key read from the stack's secret in moto."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import HttpUrl

from mtasts.callbacks import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, verify_signature
from mtasts.config_store import DynamoDomainConfigStore
from mtasts.domain_config import DomainConfig, Lifecycle
from mtasts.promotion_wiring import HttpxCallbackTransport
from mtasts_local.aws.template import DeployedStack
from mtasts_local.world import LocalWorld
from tests.integration.test_promotion_world import (
    FAST,
    SENDERS,
    clean_reports,
    finished,
    in_testing_for_two_weeks,
    mail_report,
    start,
    store,
)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A ticketing system's webhook endpoint: records each POST, answers `status`."""

    status: int = 200
    answer_headers: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def posts(self) -> list[Received]:
        with self.lock:
            return list(self.received)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.lock:
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(receiver.status)
            for name, value in receiver.answer_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver(world: LocalWorld) -> Iterator[tuple[Receiver, str]]:
    """The receiver, and its callback_url (https, certificate for the address from the CA)."""
    found = Receiver()
    server = ThreadingHTTPServer((world.bind, 0), _handler(found))
    server.socket = world.pki.server_context((world.bind,)).wrap_socket(
        server.socket, server_side=True
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield found, f"https://{world.bind}:{server.server_address[1]}/hooks/mtasts?ticket=CHG-7"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def onboarded(world: LocalWorld, product: DeployedStack, domain: str, callback_url: str) -> None:
    """What POST /domains stores for a domain given a callback_url."""
    now = datetime.now(UTC)
    configs = DynamoDomainConfigStore(world.aws.client("dynamodb"), product.ref("DomainsTable"))
    configs.create(
        DomainConfig(
            domain=domain,
            state=Lifecycle.TESTING,
            callback_url=HttpUrl(callback_url),
            created_at=now,
            updated_at=now,
        )
    )


def signing_key(world: LocalWorld, product: DeployedStack) -> bytes:
    secret = world.aws.client("secretsmanager").get_secret_value(
        SecretId=product.ref("CallbackSigningSecret")
    )
    return str(secret["SecretString"]).encode()


def callback_entries(world: LocalWorld, product: DeployedStack, domain: str) -> list[Any]:
    history = reversed(store(world, product).history(domain))
    return [e for e in history if e.action.startswith("callback-")]


def test_a_promotion_is_posted_to_the_callback_url_signed_with_the_stacks_secret(
    world: LocalWorld, product: DeployedStack, receiver: tuple[Receiver, str]
) -> None:
    domain = "selfhosted.example"
    found, url = receiver
    onboarded(world, product, domain, url)
    in_testing_for_two_weeks(world, product, domain)
    clean_reports(world, product, domain)

    outcome = finished(world, start(world, product, domain, timing={**FAST, "watch_rounds": 1}))

    assert outcome["status"] == "SUCCEEDED"
    (post,) = found.posts()
    assert post.path == "/hooks/mtasts?ticket=CHG-7"
    headers = {name.lower(): value for name, value in post.headers.items()}
    assert headers[EVENT_HEADER.lower()] == "promoted"
    assert headers["content-type"] == "application/json"
    key = signing_key(world, product)
    verify_signature(key, post.body, headers[SIGNATURE_HEADER.lower()], now=int(time.time()))
    notification = json.loads(post.body)
    assert notification["kind"] == "promoted" and notification["domain"] == domain
    assert notification["evidence"]["evaluation"]["verdict"] == "clean"
    (entry,) = callback_entries(world, product, domain)
    assert entry.action == "callback-delivered" and entry.after is not None
    assert entry.after["delivery_id"] == headers[DELIVERY_HEADER.lower()]
    assert entry.after["detail"] == "callback delivered in 1 attempt"


def test_a_refused_callback_is_recorded_once_and_the_workflow_goes_on(
    world: LocalWorld, product: DeployedStack, receiver: tuple[Receiver, str]
) -> None:
    domain = "expired.example"
    found, url = receiver
    found.status = 400  # the ticket was closed: no retry would change that
    onboarded(world, product, domain, url)
    in_testing_for_two_weeks(world, product, domain)
    for sender in SENDERS:
        mail_report(world, product, domain, sender, 60, {"certificate-expired": 40})

    arn = start(world, product, domain, timing={**FAST, "max_observe_rounds": 3})
    outcome = finished(world, arn)

    # Stopped by the rule it always stops by, not by the callback.
    assert outcome["status"] == "FAILED" and outcome["error"] == "ObservationRoundsExhausted"
    posts = found.posts()
    assert [p.headers[EVENT_HEADER] for p in posts] == ["blocked", "blocked"]
    assert len({p.headers[DELIVERY_HEADER] for p in posts}) == 2  # two notifications
    entries = callback_entries(world, product, domain)
    assert [e.action for e in entries] == ["callback-failed", "callback-failed"]
    assert all(
        e.after is not None and e.after["detail"] == "callback failed after 1 attempt: HTTP 400"
        for e in entries
    )


def test_the_httpx_adapter_reports_the_status_retry_after_and_network_errors(
    world: LocalWorld, receiver: tuple[Receiver, str]
) -> None:
    found, url = receiver
    transport = HttpxCallbackTransport(str(world.ca_bundle))
    found.status, found.answer_headers = 503, {"Retry-After": "7"}

    busy = transport.post(url, b"{}", {"Content-Type": "application/json"}, timeout=5)
    found.status, found.answer_headers = 302, {"Location": "https://elsewhere.example/"}
    moved = transport.post(url, b"{}", {}, timeout=5)
    untrusted = HttpxCallbackTransport(None).post(url, b"{}", {}, timeout=5)  # not the world's CA
    closed = transport.post("https://127.0.0.1:9/hook", b"{}", {}, timeout=5)

    assert (busy.status, busy.retry_after, busy.retryable) == (503, 7.0, True)
    assert (moved.status, moved.retryable) == (302, False)  # not followed
    assert len(found.posts()) == 2
    assert untrusted.status is None and "CERTIFICATE_VERIFY_FAILED" in str(untrusted.error)
    assert closed.status is None and closed.retryable and closed.error
