"""Builds the promotion workflow's tasks from settings: DynamoDB for the stores, live DNS for the
MX hosts, SNS and EventBridge for notifications, httpx and Secrets Manager for signed callbacks,
the Deployer for drift healing.

Kept apart from `wiring` so that the evaluate and notify Lambdas do not import the Cloudflare
SDK on a cold start; only drift healing, which may redeploy, pays for it.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
from botocore.exceptions import BotoCoreError, ClientError

from mtasts.aws_clients import aws_client
from mtasts.callbacks import (
    CallbackResponse,
    CallbackSender,
    RetryPolicy,
    retry_after_seconds,
)
from mtasts.config_store import DynamoDomainConfigStore
from mtasts.dns_lookup import DnsLookup, DnsMxResolver
from mtasts.drift_healing import heal_drift
from mtasts.dynamo_store import DynamoMxSeenStore, DynamoPolicyStore, DynamoValidationStore
from mtasts.errors import CallbackError, NotificationError
from mtasts.notifications import (
    EVENT_SOURCE,
    Notification,
    NotificationSink,
    call_back,
    notify,
)
from mtasts.promotion import EvidenceSources, evaluate_domain
from mtasts.promotion_rules import PromotionRules
from mtasts.report_store import DynamoReportStore
from mtasts.settings import Settings


def fleet_rules(settings: Settings) -> PromotionRules:
    """The fleet's default rules, from the template's parameters."""
    return PromotionRules(
        window_days=settings.window_days,
        min_reporters=settings.min_reporters,
        min_sessions=settings.min_sessions,
        max_failure_ratio=settings.max_failure_ratio,
        allow_without_reports=settings.allow_without_reports,
    )


def _resolver(settings: Settings) -> DnsMxResolver:
    nameserver, port = settings.nameserver()
    return DnsMxResolver(DnsLookup(nameserver, port))


def run_evaluate_task(event: dict[str, Any], settings: Settings) -> Any:
    settings.require("domains_table")
    table = str(settings.domains_table)
    dynamodb = aws_client("dynamodb", settings.aws_endpoint_url)
    sources = EvidenceSources(
        policies=DynamoPolicyStore(dynamodb, table),
        reports=DynamoReportStore(dynamodb, table),
        validations=DynamoValidationStore(dynamodb, table),
        resolver=_resolver(settings),
        configs=DynamoDomainConfigStore(dynamodb, table),
        now=settings.clock().now,
    )
    return evaluate_domain(event, sources, fleet_rules(settings)).model_dump(mode="json")


def run_heal_task(event: dict[str, Any], settings: Settings) -> Any:
    from mtasts.wiring import deployer_for  # the Cloudflare SDK: only this task needs it

    settings.require("domains_table")
    table = str(settings.domains_table)
    dynamodb = aws_client("dynamodb", settings.aws_endpoint_url)
    deployer = deployer_for(settings)
    result = heal_drift(
        event,
        policies=DynamoPolicyStore(dynamodb, table),
        seen=DynamoMxSeenStore(dynamodb, table),
        resolver=deployer.resolver,
        deployer=deployer,
        now=settings.clock().now,
    )
    return result.model_dump(mode="json")


def run_notify_task(event: dict[str, Any], settings: Settings) -> Any:
    settings.require("domains_table", "notify_topic_arn")
    table = str(settings.domains_table)
    dynamodb = aws_client("dynamodb", settings.aws_endpoint_url)
    sinks: list[NotificationSink] = [
        SnsSink(aws_client("sns", settings.aws_endpoint_url), str(settings.notify_topic_arn)),
        EventBridgeSink(aws_client("events", settings.aws_endpoint_url), settings.event_bus_name),
    ]
    audit, configs = DynamoPolicyStore(dynamodb, table), DynamoDomainConfigStore(dynamodb, table)
    now = settings.clock().now
    notification = notify(event, sinks, audit=audit, configs=configs, now=now)
    outcome = call_back(notification, configs, audit, callback_sender(settings), now)
    return {
        **notification.model_dump(mode="json"),
        "callback": msgspec.structs.asdict(outcome) if outcome is not None else None,
    }


def callback_sender(settings: Settings) -> CallbackSender:
    policy = RetryPolicy(
        attempts=settings.callback_attempts,
        attempt_timeout=settings.callback_timeout_seconds,
        budget=settings.callback_budget_seconds,
    )
    return CallbackSender(
        transport=HttpxCallbackTransport(settings.ca_bundle),
        secret=lambda: callback_secret(settings),
        policy=policy,
        monotonic=time.monotonic,
        sleep=time.sleep,
        # The receiver checks t against its own clock: the wall clock, never a demo's calendar.
        unix_now=lambda: int(time.time()),
    )


def callback_secret(settings: Settings) -> bytes:
    """The HMAC key, read when a callback is due (most notifications have none to send)."""
    if not settings.callback_secret_arn:
        raise CallbackError("CALLBACK_SECRET_ARN is not set, so callbacks cannot be signed")
    secrets = aws_client("secretsmanager", settings.aws_endpoint_url)
    try:
        value = secrets.get_secret_value(SecretId=settings.callback_secret_arn)["SecretString"]
    except (ClientError, BotoCoreError, KeyError) as error:
        raise CallbackError(f"the callback signing secret cannot be read: {error}") from error
    if not str(value).strip():
        raise CallbackError(f"the secret {settings.callback_secret_arn} is empty")
    return str(value).encode()


class HttpxCallbackTransport:
    """POSTs over httpx with certificates checked against the system's trust store (or
    CA_BUNDLE, the local world's CA); no proxy from the environment and no redirect followed,
    so a signed body goes only where the domain's configuration says."""

    def __init__(self, ca_bundle: str | None = None) -> None:
        self._ca_bundle = ca_bundle
        self._context: ssl.SSLContext | None = None

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> CallbackResponse:
        import httpx  # only a notification with a callback pays for the import

        from mtasts.policy_fetch import trust_context

        try:
            self._context = self._context or trust_context(self._ca_bundle)
        except OSError as error:  # ssl.SSLError too: a broken CA_BUNDLE must not fail the task
            return CallbackResponse(None, error=f"cannot load the CA bundle: {error}")
        try:
            with (
                httpx.Client(verify=self._context, trust_env=False, timeout=timeout) as client,
                client.stream("POST", url, content=body, headers=dict(headers)) as response,
            ):
                # The answer's body is not read: only its status counts.
                retry_after = retry_after_seconds(
                    response.headers.get("retry-after"), datetime.now(UTC)
                )
                return CallbackResponse(response.status_code, retry_after)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            return CallbackResponse(None, error=f"{type(error).__name__}: {error}")


class SnsSink:
    """For people: e-mail or chat subscriptions to the topic read the subject and summary."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self._topic = topic_arn

    def publish(self, notification: Notification) -> None:
        subject = f"MTA-STS {notification.kind.value}: {notification.domain}"
        message = f"{notification.summary}\n\n{notification.model_dump_json(indent=2)}"
        try:
            self._client.publish(
                TopicArn=self._topic,
                Subject=subject[:100],  # SNS refuses longer subjects
                Message=message,
                MessageAttributes={
                    "kind": {"DataType": "String", "StringValue": notification.kind.value},
                    "domain": {"DataType": "String", "StringValue": notification.domain},
                },
            )
        except self._client.exceptions.ClientError as error:
            raise NotificationError(f"SNS refused the notification: {error}") from error


class EventBridgeSink:
    """For systems: ticketing and chat rules match `source` and `detail.kind`."""

    DETAIL_TYPE = "MTA-STS promotion workflow"

    def __init__(self, client: Any, bus_name: str = "default") -> None:
        self._client = client
        self._bus = bus_name

    def publish(self, notification: Notification) -> None:
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": self.DETAIL_TYPE,
            "Detail": json.dumps(notification.model_dump(mode="json")),
            "EventBusName": self._bus,
            "Resources": [],
        }
        try:
            reply = self._client.put_events(Entries=[entry])
        except self._client.exceptions.ClientError as error:
            raise NotificationError(f"EventBridge refused the event: {error}") from error
        if reply.get("FailedEntryCount"):
            raise NotificationError(f"EventBridge refused the event: {reply['Entries']}")
