"""The removal workflow on the local world (RFC 8461 §8.3): moto executes the real definition,
the real handler publishes `mode: none` with a new id, waits out the longest max_age ever
published (0 s here: the domain only ever served `max_age: 0`), then deletes the records, the
custom domain and the project."""

from __future__ import annotations

import json
import time
from typing import Any

import dns.resolver

from mtasts_local.aws.template import DeployedStack
from mtasts_local.world import LocalWorld
from tests.integration.product import invoke

DOMAIN = "selfhosted.example"


def txt(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    try:
        return [b"".join(r.strings).decode() for r in resolver.resolve(name, "TXT")]
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []


def run(world: LocalWorld, stack: DeployedStack, event: Any) -> dict[str, Any]:
    sfn = world.aws.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.ref("RemovalStateMachine"),
        name="remove-selfhosted-example-g1",
        input=json.dumps(event),
    )["executionArn"]
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the removal never finished"
        time.sleep(0.05)
    return dict(described)


def test_removal_publishes_none_then_deletes_everything(
    world: LocalWorld, product: DeployedStack, world_resolver: dns.resolver.Resolver
) -> None:
    deployed = invoke(
        world, product, "DeployPolicyFunction", {"domain": DOMAIN, "mode": "testing", "max_age": 0}
    )
    assert txt(world_resolver, f"_mta-sts.{DOMAIN}") == [f"v=STSv1; id={deployed['policy_id']}"]

    execution = run(world, product, {"domain": DOMAIN})

    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    assert output["begun"]["policy_id"] > deployed["policy_id"]
    assert output["begun"]["wait_seconds"] <= 2 and output["finished"] == {
        "domain": DOMAIN,
        "removed": True,
    }
    assert txt(world_resolver, f"_mta-sts.{DOMAIN}") == []
    assert txt(world_resolver, f"_smtp._tls.{DOMAIN}") == []
    assert world.cloudflare.projects == {}
