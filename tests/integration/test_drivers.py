"""The event drivers, against the world running `aws_fixture/world_template.yaml`: SES mail lands
in S3 and reaches the function the receipt rule names, schedules send EventBridge's event, and
the local API Gateway turns HTTP into proxy events and enforces the API key. Every event is
checked against Powertools' models of AWS's shapes, as are the samples in events/."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventModel,
    EventBridgeModel,
    SesModel,
)
from pydantic import BaseModel

from mtasts_local.drivers.errors import NoRouteError
from mtasts_local.drivers.schedule import ScheduleTicker
from mtasts_local.drivers.ses_inbound import MailRoute, SesInbound
from mtasts_local.drivers.stack import StackView
from mtasts_local.world import LocalWorld

EVENTS = Path(__file__).parents[2] / "events"
RECIPIENT = "tlsrpt@reports.world.example"
RAW_MAIL = (
    b"Return-Path: <tlsrpt-noreply@giantmail.test>\r\n"
    b"From: Giant Mail <tlsrpt-noreply@giantmail.test>\r\n"
    b"To: tlsrpt@reports.world.example\r\n"
    b"Date: Tue, 03 Nov 2026 00:07:12 +0000\r\n"
    b"Subject: Report Domain: selfhosted.example\r\n"
    b"Message-ID: <r1@giantmail.test>\r\n"
    b"TLS-Report-Domain: selfhosted.example\r\n\r\n"
    b"\x1f\x8b not really gzip\r\n"
)


def seen(world: LocalWorld, pk: str) -> dict[str, Any] | None:
    table = world.stack.ref("SeenTable")
    item = world.aws.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": pk}})
    found: dict[str, Any] | None = item.get("Item")
    return found


# Objects whose keys are data (header names, query parameters), not part of the shape.
DATA_MAPS = {
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
}


def shape(value: Any) -> Any:
    """The keys of every object, recursively: what a sample and a driver's event must share."""
    if isinstance(value, dict):
        return {key: "map" if key in DATA_MAPS else shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__ if value is not None else None


# --- SES -----------------------------------------------------------------------------------------


def test_a_mail_lands_in_the_rules_bucket_and_its_function_reads_it(world: LocalWorld) -> None:
    delivery = world.ses.deliver(RAW_MAIL, [RECIPIENT, "someone@else.example"])

    assert (delivery.bucket, delivery.key) == (
        "world-reports-test",
        f"inbound/{delivery.message_id}",
    )
    stored = world.aws.client("s3").get_object(Bucket=delivery.bucket, Key=delivery.key)
    assert stored["Body"].read() == RAW_MAIL
    assert delivery.function_error is None
    assert delivery.function_name == world.stack.ref("IngestFunction")
    assert delivery.payload == {
        "seen": [
            {
                "key": delivery.key,
                "size": len(RAW_MAIL),
                "subject": "Report Domain: selfhosted.example",
            }
        ]
    }
    assert seen(world, f"mail#{delivery.message_id}") is not None


def test_the_ses_event_has_the_shape_aws_sends(world: LocalWorld) -> None:
    event = world.ses.deliver(RAW_MAIL, [RECIPIENT, "cc@reports.world.example"]).event

    parsed = SesModel.model_validate(event).Records[0]
    assert parsed.eventSource == "aws:ses"
    mail, receipt = parsed.ses.mail, parsed.ses.receipt
    assert mail.destination == [RECIPIENT, "cc@reports.world.example"]
    assert receipt.recipients == [RECIPIENT]  # only those the rule matched
    assert mail.source == "tlsrpt-noreply@giantmail.test"
    assert mail.commonHeaders.header_from == ["Giant Mail <tlsrpt-noreply@giantmail.test>"]
    assert mail.commonHeaders.subject == "Report Domain: selfhosted.example"
    assert mail.commonHeaders.messageId == "<r1@giantmail.test>"
    assert {"name": "TLS-Report-Domain", "value": "selfhosted.example"} in event["Records"][0][
        "ses"
    ]["mail"]["headers"]
    assert receipt.action.functionArn == world.stack.get_att("IngestFunction", "Arn")
    assert receipt.action.type == "Lambda" and receipt.action.invocationType == "Event"
    raw_receipt = event["Records"][0]["ses"]["receipt"]
    assert {raw_receipt[v]["status"] for v in ("spfVerdict", "dkimVerdict", "dmarcVerdict")} == {
        "PASS"
    }


def test_mail_no_rule_takes_is_refused_and_a_fallback_route_can_take_it(world: LocalWorld) -> None:
    with pytest.raises(NoRouteError, match="nobody@elsewhere.example"):
        world.ses.deliver(RAW_MAIL, ["nobody@elsewhere.example"])

    fallback = MailRoute(
        "configured",
        ("elsewhere.example",),
        "world-reports-test",
        "other/",
        world.stack.get_att("IngestFunction", "Arn"),
    )
    inbound = SesInbound(StackView(world.stack), world.aws.client, fallback)
    delivery = inbound.deliver(RAW_MAIL, ["nobody@elsewhere.example"])
    assert delivery.key == f"other/{delivery.message_id}"
    # The function reads REPORT_PREFIX (inbound/), not this route's prefix: it fails as it would.
    assert delivery.function_error == "Unhandled"


# --- schedules -----------------------------------------------------------------------------------


def test_firing_a_schedule_sends_eventbridges_scheduled_event(world: LocalWorld) -> None:
    [invocation] = world.schedules.fire("TickFunction")

    event = EventBridgeModel.model_validate(invocation.event)
    assert event.detail_type == "Scheduled Event" and event.source == "aws.events"
    [schedule] = world.schedules.schedules
    assert event.resources == [schedule.rule_arn]
    assert schedule.rule_arn.startswith(f"arn:aws:events:{world.aws.region}:123456789012:rule/")
    assert schedule.expression == "rate(5 minutes)"
    assert invocation.payload == {"detail-type": "Scheduled Event", "rule": schedule.rule_arn}
    assert seen(world, f"tick#{event.id}") is not None
    # The rule's own name and the function's name find the same schedule.
    assert world.schedules.find(schedule.rule_name) == world.schedules.find(
        world.stack.ref("TickFunction")
    )
    with pytest.raises(NoRouteError, match="EchoFunction"):
        world.schedules.fire("EchoFunction")


def test_the_ticker_fires_every_schedule_at_its_interval(world: LocalWorld) -> None:
    with ScheduleTicker(world.schedules, interval=0.05) as ticker:
        table = world.stack.ref("SeenTable")
        scan = world.aws.client("dynamodb").scan
        for _ in range(200):
            if scan(TableName=table)["Count"] >= 2:
                break
            ticker._stop.wait(0.05)
    assert ticker.ticks >= 2
    assert scan(TableName=table)["Count"] >= 2


# --- API Gateway ---------------------------------------------------------------------------------


@pytest.fixture
def api(world: LocalWorld) -> httpx.Client:
    return httpx.Client(base_url=world.api.url, timeout=10)


def key(world: LocalWorld) -> dict[str, str]:
    return {"x-api-key": world.endpoints().api_key}


def test_a_key_required_method_needs_the_worlds_api_key(world: LocalWorld, api: httpx.Client):
    missing = api.get("/domains/a.example")
    wrong = api.get("/domains/a.example", headers={"x-api-key": "not-the-key"})
    right = api.get("/domains/a.example", headers=key(world))

    assert (missing.status_code, missing.json()) == (403, {"message": "Forbidden"})
    assert (wrong.status_code, wrong.json()) == (403, {"message": "Forbidden"})
    assert right.status_code == 200
    assert right.json()["requestContext"]["identity"]["apiKey"] == world.endpoints().api_key
    open_route = api.get("/health")  # Auth.ApiKeyRequired: false on this event
    assert open_route.status_code == 200
    assert open_route.json()["requestContext"]["identity"]["apiKey"] is None


def test_what_the_api_does_not_have_is_a_missing_authentication_token(
    world: LocalWorld, api: httpx.Client
) -> None:
    for response in (api.get("/nowhere", headers=key(world)), api.delete("/health")):
        assert response.status_code == 403
        assert response.json() == {"message": "Missing Authentication Token"}


def test_the_proxy_event_carries_path_query_and_headers(world: LocalWorld, api: httpx.Client):
    response = api.get(
        "/domains/selfhosted.example?include=history&include=findings&empty=",
        headers={**key(world), "X-Ticket": "T-1"},
    )

    event = response.json()
    APIGatewayProxyEventModel.model_validate(event)
    assert event["resource"] == "/domains/{domain}"
    assert event["path"] == "/domains/selfhosted.example"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"domain": "selfhosted.example"}
    assert event["queryStringParameters"] == {"include": "findings", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {
        "include": ["history", "findings"],
        "empty": [""],
    }
    assert event["headers"]["X-Ticket"] == "T-1"
    assert event["multiValueHeaders"]["X-Ticket"] == ["T-1"]
    assert event["body"] is None and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "v1" and context["path"] == "/v1/domains/selfhosted.example"
    assert context["resourcePath"] == "/domains/{domain}" and context["requestId"]
    assert response.headers.get_list("x-echo") == ["one", "two"]


def test_a_greedy_path_takes_the_rest_and_any_method_takes_every_method(
    world: LocalWorld, api: httpx.Client
) -> None:
    response = api.put("/files/a/b/c.json", headers=key(world), content=b'{"x": 1}')

    event = response.json()
    assert event["resource"] == "/files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b/c.json"}
    assert (event["httpMethod"], event["body"], event["isBase64Encoded"]) == (
        "PUT",
        '{"x": 1}',
        False,
    )


def test_a_binary_body_is_base64_encoded_both_ways(world: LocalWorld, api: httpx.Client) -> None:
    gzip_bytes = b"\x1f\x8b\x08\x00\xff\xfe"
    as_event = api.post(
        "/domains/a.example/reports",
        headers={**key(world), "Content-Type": "application/gzip"},
        content=gzip_bytes,
    ).json()
    assert as_event["isBase64Encoded"] is True
    assert base64.b64decode(as_event["body"]) == gzip_bytes

    echoed = api.post(
        "/domains/a.example/reports?echo=raw",
        headers={**key(world), "Content-Type": "application/octet-stream"},
        content=gzip_bytes,  # not a binary media type, but not text either
    )
    assert (echoed.status_code, echoed.content) == (201, gzip_bytes)
    assert echoed.headers["content-type"] == "application/octet-stream"


def test_a_function_answer_that_is_not_a_proxy_response_is_a_502(world: LocalWorld, api):
    response = api.get("/health?echo=broken")

    assert (response.status_code, response.json()) == (502, {"message": "Internal server error"})


# --- the sample events ---------------------------------------------------------------------------

SAMPLES: dict[str, type[BaseModel]] = {
    "ses_receipt.json": SesModel,
    "schedule.json": EventBridgeModel,
    "api_gateway_proxy.json": APIGatewayProxyEventModel,
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_sample_event_is_in_aws_shape(name: str) -> None:
    SAMPLES[name].model_validate(json.loads((EVENTS / name).read_text()))


def test_the_samples_have_the_shape_the_drivers_send(world: LocalWorld, api: httpx.Client) -> None:
    sent = {
        "ses_receipt.json": world.ses.deliver(RAW_MAIL, [RECIPIENT]).event,
        "schedule.json": world.schedules.fire("TickFunction")[0].event,
        "api_gateway_proxy.json": api.get("/domains/a.example?x=1", headers=key(world)).json(),
    }
    for name, event in sent.items():
        assert shape(json.loads((EVENTS / name).read_text())) == shape(event), name
