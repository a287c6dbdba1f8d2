"""The scheduled validator on the local world: the product's schedule rule fires the real
`functions/validate` handler, which checks every managed domain over DNS, HTTPS and SMTP, stores
the verdicts with their history and publishes green/red changes to EventBridge."""

from __future__ import annotations

import json
from typing import Any

from mtasts.dynamo_store import DynamoValidationStore
from mtasts_local.aws.template import DeployedStack
from mtasts_local.drivers.schedule import ScheduleDriver
from mtasts_local.drivers.stack import StackView
from mtasts_local.world import LocalWorld
from tests.integration.product import invoke


def capture_state_changes(world: LocalWorld) -> str:
    """An SQS queue that receives every event the product puts on the default bus."""
    sqs, events = world.aws.client("sqs"), world.aws.client("events")
    queue_url = sqs.create_queue(QueueName="state-changes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(Name="to-queue", EventPattern=json.dumps({"source": ["mtasts-autopilot"]}))
    events.put_targets(Rule="to-queue", Targets=[{"Id": "queue", "Arn": queue_arn}])
    return str(queue_url)


def received(world: LocalWorld, queue_url: str) -> list[Any]:
    messages = world.aws.client("sqs").receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
    )
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_a_scheduled_run_stores_verdicts_and_publishes_only_changes(
    world: LocalWorld, product: DeployedStack
) -> None:
    for domain in ("selfhosted.example", "expired.example"):
        invoke(world, product, "DeployPolicyFunction", {"domain": domain, "mode": "testing"})
    queue_url = capture_state_changes(world)
    schedule = ScheduleDriver(StackView(product), world.aws.client)

    (first,) = schedule.fire("ValidateFunction")
    (second,) = schedule.fire("ValidateFunction")

    assert first.function_error is None, first.payload
    assert first.event["detail-type"] == "Scheduled Event"
    assert first.payload == {
        "checked": 2,
        "failing": ["expired.example"],
        "changed": ["expired.example"],
    }
    assert second.payload["changed"] == [] and second.payload["failing"] == ["expired.example"]

    store = DynamoValidationStore(world.aws.client("dynamodb"), product.ref("DomainsTable"))
    healthy, expired = store.latest("selfhosted.example"), store.latest("expired.example")
    assert healthy is not None and healthy.ok and healthy.findings == ()
    assert healthy.mode == "testing" and healthy.days_to_expiry() is not None
    assert expired is not None and not expired.ok
    assert [f.code.value for f in expired.findings] == ["mx-certificate-expired"]
    assert len(store.history("expired.example")) == 2

    (event,) = received(world, queue_url)
    assert event["detail-type"] == "MTA-STS domain validation changed"
    assert event["detail"]["domain"] == "expired.example"
    assert event["detail"]["ok"] is False and event["detail"]["previous_ok"] is None
    assert event["detail"]["findings"][0]["subject"] == "mail.expired.example"


def test_a_domain_that_heals_publishes_green_again(
    world: LocalWorld, product: DeployedStack
) -> None:
    invoke(
        world, product, "DeployPolicyFunction", {"domain": "selfhosted.example", "mode": "testing"}
    )
    queue_url = capture_state_changes(world)
    schedule = ScheduleDriver(StackView(product), world.aws.client)
    state = world.cloudflare
    sts = next(r for r in state.records_named("_mta-sts.selfhosted.example") if r.type == "TXT")

    state.delete_record(sts.zone_id, sts.id)  # someone deletes the record by hand
    (broken,) = schedule.fire("ValidateFunction")
    invoke(
        world, product, "DeployPolicyFunction", {"domain": "selfhosted.example", "mode": "testing"}
    )
    (healed,) = schedule.fire("ValidateFunction")

    assert broken.payload["failing"] == ["selfhosted.example"]
    assert healed.payload == {"checked": 1, "failing": [], "changed": ["selfhosted.example"]}
    assert [e["detail"]["ok"] for e in received(world, queue_url)] == [False, True]
