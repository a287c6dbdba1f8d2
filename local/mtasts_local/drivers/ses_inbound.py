"""Inbound mail through SES: what a receipt rule with an S3 action and a Lambda action does.

    inbound = SesInbound(StackView(stack), world.client)
    delivery = inbound.deliver(raw_mail, ["tlsrpt@reports.example"])

The raw mail is stored under the rule's `ObjectKeyPrefix` + the SES message id (as the S3 action
does), then the rule's function gets the SES receipt event: `Records[0].eventSource ==
"aws:ses"`, `ses.mail` (message id, headers, common headers, source, destination) and
`ses.receipt` (recipients, verdicts, the Lambda `action`). The event carries no mail body; the
function reads it from S3, as in AWS.

Rules come from the template's `AWS::SES::ReceiptRule`s (enabled ones, in template order; the
first whose recipients match wins, which is all a rule set of one rule per address needs). A
template without one can be given a fallback `MailRoute`. The function is always invoked
synchronously, whatever the rule's `InvocationType`: the event says what the rule asked for, and
the caller gets the handler's answer or error instead of losing it as an async invoke would.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import formataddr, getaddresses, parseaddr
from typing import Any

from mtasts_local.drivers.errors import DriverError, NoRouteError
from mtasts_local.drivers.stack import StackView

ClientFactory = Callable[[str], Any]
RECEIPT_RULE = "AWS::SES::ReceiptRule"


@dataclass(frozen=True, slots=True)
class MailRoute:
    """Where mail to `recipients` goes: an S3 object under `prefix`, then `function_arn`."""

    rule_name: str
    recipients: tuple[str, ...]  # addresses, domains, or `.domain` for its subdomains; () = all
    bucket: str | None
    prefix: str = ""
    function_arn: str | None = None
    invocation_type: str = "Event"

    def matches(self, recipient: str) -> bool:
        return not self.recipients or any(_matches(r, recipient) for r in self.recipients)


def _matches(rule_recipient: str, address: str) -> bool:
    rule_recipient, address = rule_recipient.lower(), address.lower()
    domain = address.rpartition("@")[2]
    if "@" in rule_recipient:
        return rule_recipient == address
    if rule_recipient.startswith("."):
        return domain.endswith(rule_recipient)
    return domain == rule_recipient


@dataclass(frozen=True, slots=True)
class Verdicts:
    """What SES's scans concluded; every one PASS unless a test says otherwise."""

    spf: str = "PASS"
    dkim: str = "PASS"
    spam: str = "PASS"
    virus: str = "PASS"
    dmarc: str = "PASS"


@dataclass(frozen=True, slots=True)
class SesDelivery:
    message_id: str
    rule_name: str
    bucket: str | None
    key: str | None
    function_name: str | None
    function_error: str | None = None
    payload: Any = None  # what the function returned (or Lambda's error payload)
    event: dict[str, Any] = field(default_factory=dict, repr=False)


def mail_routes(view: StackView) -> tuple[MailRoute, ...]:
    """The enabled receipt rules of the template, as routes (a disabled rule receives nothing;
    CloudFormation's default for `Enabled` is false)."""
    routes = []
    for logical_id, properties in view.resources_of_type(RECEIPT_RULE):
        rule = properties.get("Rule", {})
        if rule.get("Enabled") not in (True, "true", "True"):
            continue
        routes.append(_route(rule.get("Name") or view.physical_name(logical_id), rule))
    return tuple(routes)


def _route(name: str, rule: dict[str, Any]) -> MailRoute:
    s3: dict[str, Any] = {}
    function: dict[str, Any] = {}
    for action in rule.get("Actions", []):
        s3 = action.get("S3Action", s3)
        function = action.get("LambdaAction", function)
    return MailRoute(
        rule_name=name,
        recipients=tuple(rule.get("Recipients", [])),
        bucket=s3.get("BucketName"),
        prefix=s3.get("ObjectKeyPrefix", ""),
        function_arn=function.get("FunctionArn"),
        invocation_type=function.get("InvocationType", "Event"),
    )


class SesInbound:
    """Delivers raw mail the way the template's receipt rules would."""

    def __init__(
        self,
        view: StackView,
        client: ClientFactory,
        fallback: MailRoute | None = None,
    ) -> None:
        self._view = view
        self._client = client
        self.routes = mail_routes(view) + ((fallback,) if fallback else ())

    def route_for(self, recipients: Sequence[str]) -> tuple[MailRoute, tuple[str, ...]]:
        """The first rule matching a recipient, and the recipients it matches."""
        for route in self.routes:
            matched = tuple(r for r in recipients if route.matches(r))
            if matched:
                return route, matched
        raise NoRouteError(f"no receipt rule takes mail for {', '.join(recipients)}")

    def deliver(
        self,
        raw_mail: bytes,
        recipients: Sequence[str],
        *,
        source: str | None = None,
        verdicts: Verdicts = Verdicts(),
    ) -> SesDelivery:
        if not recipients:
            raise DriverError("a mail needs at least one recipient")
        started = time.monotonic()
        route, matched = self.route_for(recipients)
        message_id = new_message_id()
        key = None
        if route.bucket is not None:
            key = route.prefix + message_id
            self._client("s3").put_object(Bucket=route.bucket, Key=key, Body=raw_mail)
        delivery = SesDelivery(message_id, route.rule_name, route.bucket, key, None)
        if route.function_arn is None:
            return delivery
        elapsed = max(1, round((time.monotonic() - started) * 1000))
        event = ses_receipt_event(
            raw_mail,
            ReceiptDetails(recipients, matched, message_id, route, verdicts, source, elapsed),
        )
        return self._invoke(delivery, route.function_arn, event)

    def _invoke(self, delivery: SesDelivery, function_arn: str, event: Any) -> SesDelivery:
        response = self._client("lambda").invoke(
            FunctionName=function_arn, Payload=json.dumps(event).encode()
        )
        payload = response["Payload"].read()
        return SesDelivery(
            delivery.message_id,
            delivery.rule_name,
            delivery.bucket,
            delivery.key,
            self._view.function_name(function_arn),
            response.get("FunctionError"),
            json.loads(payload) if payload else None,
            event,
        )


def new_message_id() -> str:
    # SES message ids are 40 lowercase letters and digits; S3 keys use them as they are.
    return secrets.token_hex(20)


# --- the event -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiptDetails:
    destination: Sequence[str]  # every envelope recipient
    recipients: Sequence[str]  # those the rule matched
    message_id: str
    route: MailRoute
    verdicts: Verdicts = Verdicts()
    source: str | None = None  # the envelope sender; default: the From address
    processing_millis: int = 1


def ses_receipt_event(
    raw_mail: bytes, details: ReceiptDetails, moment: datetime | None = None
) -> dict[str, Any]:
    """The event SES sends a receipt rule's Lambda action, for this mail."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw_mail)
    stamp = _timestamp(moment or datetime.now(UTC))
    common = _common_headers(headers, details.source)
    mail = {
        "timestamp": stamp,
        "source": details.source or common["returnPath"],
        "messageId": details.message_id,
        "destination": list(details.destination),
        "headersTruncated": False,
        "headers": [{"name": name, "value": _unfold(value)} for name, value in headers.items()],
        "commonHeaders": common,
    }
    verdicts = details.verdicts
    receipt = {
        "timestamp": stamp,
        "processingTimeMillis": details.processing_millis,
        "recipients": list(details.recipients),
        "spamVerdict": {"status": verdicts.spam},
        "virusVerdict": {"status": verdicts.virus},
        "spfVerdict": {"status": verdicts.spf},
        "dkimVerdict": {"status": verdicts.dkim},
        "dmarcVerdict": {"status": verdicts.dmarc},
        "action": {
            "type": "Lambda",
            "invocationType": details.route.invocation_type,
            "functionArn": details.route.function_arn,
        },
    }
    record = {
        "eventSource": "aws:ses",
        "eventVersion": "1.0",
        "ses": {"mail": mail, "receipt": receipt},
    }
    return {"Records": [record]}


def _common_headers(headers: Message, source: str | None) -> dict[str, Any]:
    from_ = _addresses(headers.get_all("From", []))
    common: dict[str, Any] = {
        "returnPath": parseaddr(_unfold(headers.get("Return-Path", "")))[1]
        or source
        or (parseaddr(from_[0])[1] if from_ else ""),
        "from": from_,
        "date": _unfold(headers.get("Date", "")),
        "to": _addresses(headers.get_all("To", [])),
        "messageId": _unfold(headers.get("Message-ID", "")),
        "subject": _unfold(headers.get("Subject", "")),
    }
    for name, key in (("Cc", "cc"), ("Reply-To", "replyTo")):
        if headers.get(name) is not None:
            common[key] = _addresses(headers.get_all(name, []))
    return common


def _addresses(values: Iterable[str]) -> list[str]:
    return [formataddr(pair) for pair in getaddresses([_unfold(v) for v in values]) if pair[1]]


def _unfold(value: object) -> str:
    return " ".join(str(value).split())


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
