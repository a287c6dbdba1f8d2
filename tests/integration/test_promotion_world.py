"""The promotion workflow on the local world: moto executes the real
`statemachines/promotion.asl.json` (created from `template.yaml` with its substitutions), whose
Tasks run the real handlers against the world's Cloudflare stand-in, DNS, HTTPS edge and MX hosts;
TLS-RPT evidence arrives as mail through the SES path. Waits are shortened through the execution's
input only.

The one thing no input can shorten is the observation window itself (at least a day): a test
"ages" the domain's testing policy by moving its `served_at` back, as if it had been served for
two weeks.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import dns.resolver
import pytest

from mtasts.deploy import Deployer, DeployRequest
from mtasts.dynamo_store import DynamoMxSeenStore, DynamoPolicyStore
from mtasts.policy import Mode
from mtasts.policy_fetch import HttpsPolicyFetcher
from mtasts.policy_state import PublishedPolicy
from mtasts_local.aws.template import DeployedStack
from mtasts_local.cloudflare.faults import FaultKind, FaultRule
from mtasts_local.cloudflare.state import DnsRecord
from mtasts_local.drivers.ses_inbound import SesInbound
from mtasts_local.drivers.stack import StackView
from mtasts_local.world import LocalWorld
from tests.integration.product import invoke

REPORT_ADDRESS = "tlsrpt@reports.mtasts.test"
SENDERS = ("Giant Mail", "Blue Corp")
FAST = {"observe_seconds": 0, "approval_seconds": 0, "watch_seconds": 0}
WORKFLOW_EVENT = "MTA-STS promotion workflow"


# --- the world's side ---------------------------------------------------------------------------


def store(world: LocalWorld, product: DeployedStack) -> DynamoPolicyStore:
    return DynamoPolicyStore(world.aws.client("dynamodb"), product.ref("DomainsTable"))


def policy(world: LocalWorld, product: DeployedStack, domain: str) -> PublishedPolicy:
    state = store(world, product).load(domain)
    assert state is not None
    return state


def in_testing_for_two_weeks(world: LocalWorld, product: DeployedStack, domain: str) -> str:
    """Deploy `testing` and move its start back 15 days; the id announced for it."""
    invoke(world, product, "DeployPolicyFunction", {"domain": domain, "mode": "testing"})
    state = policy(world, product, domain)
    aged = state.served_at - timedelta(days=15)
    store(world, product).save(state.model_copy(update={"served_at": aged, "announced_at": aged}))
    return state.policy_id


def mail_report(
    world: LocalWorld,
    product: DeployedStack,
    domain: str,
    organization: str,
    successful: int,
    failures: dict[str, int] | None = None,
) -> None:
    """A TLS-RPT report for today, mailed as RFC 8460 §5.3 says, through SES to the product."""
    failures = failures or {}
    today = datetime.now(UTC).date().isoformat()
    report = {
        "organization-name": organization,
        "date-range": {
            "start-datetime": f"{today}T00:00:00Z",
            "end-datetime": f"{today}T23:59:59Z",
        },
        "contact-info": f"tlsrpt@{organization.split()[0].lower()}.test",
        "report-id": f"{domain}-{uuid.uuid4().hex}",
        "policies": [
            {
                "policy": {"policy-type": "sts", "policy-domain": domain},
                "summary": {
                    "total-successful-session-count": successful,
                    "total-failure-session-count": sum(failures.values()),
                },
                "failure-details": [
                    {
                        "result-type": result_type,
                        "sending-mta-ip": "192.0.2.25",
                        "receiving-mx-hostname": f"mx1.{domain}",
                        "failed-session-count": count,
                    }
                    for result_type, count in failures.items()
                ],
            }
        ],
    }
    message = EmailMessage()
    message["From"] = f"{organization} <tlsrpt@sender.test>"
    message["To"] = REPORT_ADDRESS
    message["Subject"] = f"Report Domain: {domain} Report-ID: <{report['report-id']}>"
    message["TLS-Report-Domain"] = domain
    message["TLS-Report-Submitter"] = "sender.test"
    message.set_content("This is an aggregate TLS report.")
    message.add_attachment(
        gzip.compress(json.dumps(report).encode()),
        maintype="application",
        subtype="tlsrpt+gzip",
        filename=f"sender.test!{domain}!{today}!{today}.json.gz",
    )
    delivery = SesInbound(StackView(product), world.aws.client).deliver(
        message.as_bytes(), [REPORT_ADDRESS]
    )
    assert delivery.function_error is None, delivery.payload
    assert delivery.payload[0]["counted"], delivery.payload


def clean_reports(world: LocalWorld, product: DeployedStack, domain: str) -> None:
    for sender in SENDERS:
        mail_report(world, product, domain, sender, successful=80)


def add_mx(world: LocalWorld, domain: str, host: str) -> None:
    zone = world.cloudflare.zone_for(domain)
    assert zone is not None
    world.cloudflare.put_record(
        DnsRecord(
            id=uuid.uuid4().hex,
            zone_id=zone.id,
            zone_name=zone.name,
            type="MX",
            name=domain,
            content=host,
            priority=20,
        )
    )


def served(world: LocalWorld, domain: str) -> bytes | None:
    with HttpsPolicyFetcher(
        ca_bundle=world.ca_bundle, connect_to={"*": (world.bind, world.https.port)}, timeout=5
    ) as fetcher:
        body: bytes | None = fetcher.fetch(domain).body
        return body


def sts_ids(world: LocalWorld, domain: str) -> list[str]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port, resolver.lifetime = [world.bind], world.dns.port, 5.0
    answer = resolver.resolve(f"_mta-sts.{domain}", "TXT")
    return sorted(b"".join(r.strings).decode().removeprefix("v=STSv1; id=") for r in answer)


def workflow_events(world: LocalWorld) -> str:
    """An SQS queue receiving the workflow's EventBridge events."""
    sqs, events = world.aws.client("sqs"), world.aws.client("events")
    url = sqs.create_queue(QueueName="workflow-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(Name="workflow", EventPattern=json.dumps({"detail-type": [WORKFLOW_EVENT]}))
    events.put_targets(Rule="workflow", Targets=[{"Id": "q", "Arn": arn["QueueArn"]}])
    return str(url)


def received(world: LocalWorld, queue_url: str) -> list[dict[str, Any]]:
    sqs, details = world.aws.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        details += [json.loads(m["Body"])["detail"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    return details


def audit_actions(world: LocalWorld, product: DeployedStack, domain: str) -> list[str]:
    return [e.action for e in reversed(store(world, product).history(domain))]


# --- the workflow -------------------------------------------------------------------------------


def start(world: LocalWorld, product: DeployedStack, domain: str, **given: Any) -> str:
    generation = given.pop("generation", 1)
    sfn = world.aws.client("stepfunctions")
    return str(
        sfn.start_execution(
            stateMachineArn=product.ref("PromotionStateMachine"),
            name=f"{domain.replace('.', '-')}-g{generation}",
            input=json.dumps({"domain": domain, **given}),
        )["executionArn"]
    )


def finished(world: LocalWorld, arn: str, seconds: float = 30) -> dict[str, Any]:
    sfn, deadline = world.aws.client("stepfunctions"), time.monotonic() + seconds
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still running: {states_entered(world, arn)}"
        time.sleep(0.1)
    return dict(described)


def states_entered(world: LocalWorld, arn: str) -> list[str]:
    history = world.aws.client("stepfunctions").get_execution_history(
        executionArn=arn, maxResults=1000
    )
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in history["events"]
        if "stateEnteredEventDetails" in e
    ]


def wait_for_state(world: LocalWorld, arn: str, state: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while state not in states_entered(world, arn):
        assert time.monotonic() < deadline, f"never entered {state}: {states_entered(world, arn)}"
        time.sleep(0.05)


# --- the cases ----------------------------------------------------------------------------------


def test_a_clean_domain_is_promoted_to_enforce_watched_and_done(
    world: LocalWorld, product: DeployedStack
) -> None:
    domain = "selfhosted.example"
    testing_id = in_testing_for_two_weeks(world, product, domain)
    clean_reports(world, product, domain)
    queue = workflow_events(world)

    arn = start(world, product, domain, timing={**FAST, "watch_rounds": 1})
    outcome = finished(world, arn)

    assert outcome["status"] == "SUCCEEDED", states_entered(world, arn)
    body = served(world, domain)
    assert body is not None and b"mode: enforce\r\n" in body and b"max_age: 604800\r\n" in body
    state = policy(world, product, domain)
    assert state.mode.value == "enforce" and state.policy_id != testing_id
    assert state.announced_at is not None and state.announced_at >= state.served_at
    assert sts_ids(world, domain) == [state.policy_id]
    assert "promoted" in audit_actions(world, product, domain)
    (promoted,) = [e for e in received(world, queue) if e["kind"] == "promoted"]
    assert promoted["domain"] == domain and "mode enforce" in promoted["summary"]
    assert promoted["evidence"]["evaluation"]["verdict"] == "clean"
    assert promoted["evidence"]["evaluation"]["reporters"] == 2
    assert promoted["evidence"]["deployed"]["policy_id"] == state.policy_id


def test_certificate_expired_failures_keep_the_domain_in_testing_with_the_reason(
    world: LocalWorld, product: DeployedStack
) -> None:
    domain = "expired.example"
    testing_id = in_testing_for_two_weeks(world, product, domain)
    for sender in SENDERS:
        mail_report(world, product, domain, sender, 60, {"certificate-expired": 40})
    queue = workflow_events(world)

    arn = start(world, product, domain, timing={**FAST, "max_observe_rounds": 3})
    outcome = finished(world, arn)

    assert outcome["status"] == "FAILED" and outcome["error"] == "ObservationRoundsExhausted"
    assert "Promote" not in states_entered(world, arn)
    assert policy(world, product, domain).policy_id == testing_id
    body = served(world, domain)
    assert body is not None and b"mode: testing\r\n" in body
    blocked = [e for e in received(world, queue) if e["kind"] == "blocked"]
    # Once for the problem (not once per round), once when the workflow stopped observing.
    assert len(blocked) == 2 and blocked[1]["evidence"]["rounds"] == 3
    assert "80 certificate-expired" in blocked[0]["summary"]
    assert blocked[0]["evidence"]["evaluation"]["verdict"] == "dirty"
    assert audit_actions(world, product, domain).count("blocked") == 2


def test_a_domain_without_reports_stays_in_testing_unless_it_opted_in(
    world: LocalWorld, product: DeployedStack
) -> None:
    domain = "hosted.example"
    in_testing_for_two_weeks(world, product, domain)
    queue = workflow_events(world)

    silent = finished(
        world, start(world, product, domain, timing={**FAST, "max_observe_rounds": 1})
    )
    assert silent["error"] == "ObservationRoundsExhausted"
    (gave_up,) = [e for e in received(world, queue) if e["kind"] == "blocked"]
    assert "silence is not success" in gave_up["summary"]
    assert policy(world, product, domain).mode.value == "testing"

    opted_in = start(
        world,
        product,
        domain,
        generation=2,
        rules={"allow_without_reports": True},
        timing={**FAST, "watch_rounds": 1},
    )
    assert finished(world, opted_in)["status"] == "SUCCEEDED"
    assert policy(world, product, domain).mode.value == "enforce"
    assert [e["kind"] for e in received(world, queue)] == ["promoted"]


def test_failures_reported_after_promotion_demote_the_domain(
    world: LocalWorld, product: DeployedStack
) -> None:
    domain = "selfhosted.example"
    in_testing_for_two_weeks(world, product, domain)
    clean_reports(world, product, domain)
    queue = workflow_events(world)
    timing = {**FAST, "watch_seconds": 2, "watch_rounds": 10, "max_observe_rounds": 1}

    arn = start(world, product, domain, timing=timing)
    wait_for_state(world, arn, "WatchWait")
    enforce_id = policy(world, product, domain).policy_id
    mail_report(world, product, domain, "Giant Mail", 10, {"validation-failure": 5})
    outcome = finished(world, arn)

    assert "Demote" in states_entered(world, arn), outcome
    state = policy(world, product, domain)
    assert state.mode.value == "testing" and state.policy_id != enforce_id
    assert state.longest_max_age == 604800  # senders may still hold the enforce policy
    body = served(world, domain)
    assert body is not None and b"mode: testing\r\n" in body
    assert sts_ids(world, domain) == [state.policy_id]
    kinds = [e["kind"] for e in received(world, queue)]
    assert kinds[:2] == ["promoted", "demoted"]
    assert audit_actions(world, product, domain).count("demoted") == 1


def test_an_mx_added_to_dns_is_healed_into_the_policy_with_a_new_id(
    world: LocalWorld, product: DeployedStack
) -> None:
    domain = "moving.example"
    first = invoke(world, product, "DeployPolicyFunction", {"domain": domain, "mode": "testing"})
    queue = workflow_events(world)
    timing = {**FAST, "observe_seconds": 2, "max_observe_rounds": 1}
    arn = start(world, product, domain, timing=timing)
    wait_for_state(world, arn, "ObserveWait")  # testing is served: the MX changes now

    add_mx(world, domain, "mx2.moving.example")
    finished(world, arn)

    state = policy(world, product, domain)
    assert state.mx == ("mx1.moving.example", "mx2.moving.example")
    assert state.policy_id != first["policy_id"] and sts_ids(world, domain) == [state.policy_id]
    body = served(world, domain)
    assert body is not None and b"mx: mx2.moving.example\r\n" in body
    (healed,) = [e for e in received(world, queue) if e["kind"] == "drift-healed"]
    assert healed["evidence"]["drift"]["added"] == ["mx2.moving.example"]
    assert "mx2.moving.example" in healed["summary"]
    seen = DynamoMxSeenStore(world.aws.client("dynamodb"), product.ref("DomainsTable"))
    assert set(seen.load(domain)) == {"mx1.moving.example", "mx2.moving.example"}


def test_an_mx_added_while_enforce_is_published_is_healed_not_demoted(
    world: LocalWorld, product: DeployedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = "moving.example"
    in_testing_for_two_weeks(world, product, domain)
    clean_reports(world, product, domain)
    queue = workflow_events(world)
    # The admin's change lands right after the enforce policy is published (it covers mx1
    # only), before the workflow validates it: the handlers run in this process.
    publish = Deployer.publish

    def publish_then_the_admin_adds_an_mx(
        self: Deployer, request: DeployRequest
    ) -> tuple[PublishedPolicy, bool]:
        outcome = publish(self, request)
        if request.mode is Mode.ENFORCE and request.domain == domain:
            add_mx(world, domain, "mx2.moving.example")
        return outcome

    monkeypatch.setattr(Deployer, "publish", publish_then_the_admin_adds_an_mx)

    arn = start(world, product, domain, timing={**FAST, "watch_rounds": 1})
    outcome = finished(world, arn)

    entered = states_entered(world, arn)
    assert outcome["status"] == "SUCCEEDED", entered
    assert "PromotedHealDrift" in entered and "Demote" not in entered
    assert entered.count("ValidatePromoted") == 2  # red, healed, then green
    state = policy(world, product, domain)
    assert state.mode.value == "enforce"
    assert state.mx == ("mx1.moving.example", "mx2.moving.example")
    assert sts_ids(world, domain) == [state.policy_id]
    kinds = [e["kind"] for e in received(world, queue)]
    assert "drift-healed" in kinds and "promoted" in kinds and "demoted" not in kinds


def test_a_cloudflare_outage_while_promoting_is_retried_to_a_served_and_announced_enforce(
    world: LocalWorld, product: DeployedStack
) -> None:
    domain = "selfhosted.example"
    in_testing_for_two_weeks(world, product, domain)
    clean_reports(world, product, domain)
    # Only a new policy creates a deployment: the promotion's upload meets the outage. The SDK
    # tries three times per invocation, so four 503s fail one invocation and the state
    # machine's Retry runs the task again.
    world.stand_in.faults.add(
        FaultRule("pages.deployments.create", FaultKind.SERVER_ERROR, times=4, retry_after=0)
    )

    arn = start(world, product, domain, timing={**FAST, "watch_rounds": 1})
    outcome = finished(world, arn, seconds=40)

    assert outcome["status"] == "SUCCEEDED", states_entered(world, arn)
    assert world.stand_in.faults.fired["pages.deployments.create"] == 4
    state = policy(world, product, domain)
    assert sts_ids(world, domain) == [state.policy_id]
    assert served(world, domain) == state.policy_text.encode()  # the id announces what is served
    history = world.aws.client("stepfunctions").get_execution_history(
        executionArn=arn, maxResults=1000
    )["events"]
    failed = [e["type"] for e in history if e["type"].endswith("Failed")]
    assert failed == ["LambdaFunctionFailed"]  # one attempt failed, the retry succeeded


def test_a_task_that_cannot_succeed_is_recorded_on_the_domain_and_fails_the_execution(
    world: LocalWorld, product: DeployedStack
) -> None:
    domain = "selfhosted.example"
    testing_id = in_testing_for_two_weeks(world, product, domain)
    clean_reports(world, product, domain)
    queue = workflow_events(world)

    # A max_age beyond RFC 8461's limit: the promotion's deploy refuses it; retrying cannot help.
    arn = start(world, product, domain, max_age=40_000_000, timing=FAST)
    outcome = finished(world, arn)

    assert outcome["status"] == "FAILED" and outcome["error"] == "PromotionFailed"
    assert states_entered(world, arn)[-3:] == ["Promote", "RecordFailure", "Failed"]
    (failed,) = [e for e in received(world, queue) if e["kind"] == "failed"]
    assert failed["evidence"]["error"]["Error"] == "InvalidTaskInputError"
    assert "InvalidTaskInputError" in failed["summary"] and "max_age" in failed["summary"]
    assert audit_actions(world, product, domain)[-1] == "failed"
    state = policy(world, product, domain)
    assert state.policy_id == testing_id and sts_ids(world, domain) == [testing_id]
