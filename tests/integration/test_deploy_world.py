"""Deploy and id rotation end to end on the local world: the product's own stack from
`template.yaml` deployed into the world's moto, the real `functions/deploy_policy` handler
invoked through Lambda, the real Cloudflare SDK against the stand-in, the policy fetched over
real TLS from the world's HTTPS edge and the records read from its DNS server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections import Counter
from typing import Any

import dns.resolver
import pytest

from mtasts.policy_fetch import HttpsPolicyFetcher
from mtasts_local.aws.template import DeployedStack
from mtasts_local.world import LocalWorld
from tests.integration.product import invoke

DOMAIN = "selfhosted.example"
MX = ("mx1.selfhosted.example", "mx2.selfhosted.example")


def served(world: LocalWorld, domain: str = DOMAIN) -> Any:
    with HttpsPolicyFetcher(
        ca_bundle=world.ca_bundle, connect_to={"*": (world.bind, world.https.port)}, timeout=5
    ) as fetcher:
        return fetcher.fetch(domain)


def txt(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    return sorted(b"".join(r.strings).decode() for r in answer)


def calls_made(world: LocalWorld, before: Counter[str]) -> Counter[str]:
    return world.stand_in.calls - before


def test_a_first_deploy_serves_the_policy_then_announces_it_within_12_calls(
    world: LocalWorld, product: DeployedStack, world_resolver: dns.resolver.Resolver
) -> None:
    result = invoke(world, product, "DeployPolicyFunction", {"domain": DOMAIN, "mode": "testing"})

    assert result["mode"] == "testing" and result["mx"] == list(MX) and result["policy_changed"]
    fetched = served(world)
    assert fetched.status == 200 and fetched.content_type == "text/plain; charset=utf-8"
    assert fetched.body is not None and b"mode: testing\r\n" in fetched.body
    assert txt(world_resolver, f"_mta-sts.{DOMAIN}") == [f"v=STSv1; id={result['policy_id']}"]
    assert txt(world_resolver, f"_smtp._tls.{DOMAIN}") == [
        "v=TLSRPTv1; rua=mailto:tlsrpt@reports.mtasts.test"
    ]
    assert world.stand_in.calls.total() <= 12, world.stand_in.calls


def test_an_identical_redeploy_changes_nothing_within_3_calls(
    world: LocalWorld, product: DeployedStack, world_resolver: dns.resolver.Resolver
) -> None:
    first = invoke(world, product, "DeployPolicyFunction", {"domain": DOMAIN, "mode": "testing"})
    before = world.stand_in.calls.copy()

    again = invoke(world, product, "DeployPolicyFunction", {"domain": DOMAIN, "mode": "testing"})

    made = calls_made(world, before)
    assert made.total() <= 3, made
    assert made["pages.assets.upload"] == 0 and made["dns_records.create"] == 0
    assert again["policy_id"] == first["policy_id"] and not again["changed"]
    assert txt(world_resolver, f"_mta-sts.{DOMAIN}") == [f"v=STSv1; id={first['policy_id']}"]


def test_switching_to_enforce_serves_the_new_policy_and_rotates_the_id(
    world: LocalWorld, product: DeployedStack, world_resolver: dns.resolver.Resolver
) -> None:
    first = invoke(world, product, "DeployPolicyFunction", {"domain": DOMAIN, "mode": "testing"})
    second = invoke(world, product, "DeployPolicyFunction", {"domain": DOMAIN, "mode": "enforce"})

    assert second["policy_id"] > first["policy_id"] and second["policy_changed"]
    body = served(world).body
    assert body is not None and b"mode: enforce\r\n" in body and b"max_age: 604800\r\n" in body
    assert txt(world_resolver, f"_mta-sts.{DOMAIN}") == [f"v=STSv1; id={second['policy_id']}"]


def test_enforce_with_an_uncovered_mx_is_refused_and_publishes_nothing(
    world: LocalWorld, product: DeployedStack, world_resolver: dns.resolver.Resolver
) -> None:
    result = invoke(
        world,
        product,
        "DeployPolicyFunction",
        {"domain": DOMAIN, "mode": "enforce", "mx": ["mx1.selfhosted.example"]},
    )

    assert result["error"]["errorType"] == "UnsafePolicyError"
    assert "mx2.selfhosted.example" in result["error"]["errorMessage"]
    assert world.cloudflare.projects == {}
    assert txt(world_resolver, f"_mta-sts.{DOMAIN}") == []
    assert served(world).body is None


def test_rotate_id_alone_announces_what_is_served(
    world: LocalWorld, product: DeployedStack, world_resolver: dns.resolver.Resolver
) -> None:
    missing = invoke(world, product, "RotateIdFunction", {"domain": DOMAIN})
    assert missing["error"]["errorType"] == "NotPublishedError"

    first = invoke(world, product, "DeployPolicyFunction", {"domain": DOMAIN, "mode": "testing"})
    rotated = invoke(world, product, "RotateIdFunction", {"domain": DOMAIN})
    assert rotated["policy_id"] == first["policy_id"] and not rotated["changed"]


@pytest.mark.skipif(not (shutil.which("dig") and shutil.which("curl")), reason="needs dig and curl")
def test_the_checks_an_admin_runs_by_hand_work_against_the_world(
    world: LocalWorld, product: DeployedStack
) -> None:
    result = invoke(world, product, "DeployPolicyFunction", {"domain": DOMAIN, "mode": "testing"})
    dns_server = ["dig", f"@{world.bind}", "-p", str(world.dns.port), "+short", "TXT"]

    sts = subprocess.run([*dns_server, f"_mta-sts.{DOMAIN}"], capture_output=True, text=True)
    tlsrpt = subprocess.run([*dns_server, f"_smtp._tls.{DOMAIN}"], capture_output=True, text=True)
    host, port = f"mta-sts.{DOMAIN}", world.https.port
    policy = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--fail", "--cacert", str(world.ca_bundle),
            "--resolve", f"{host}:{port}:{world.bind}",
            f"https://{host}:{port}/.well-known/mta-sts.txt",
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip

    assert sts.stdout.strip() == f'"v=STSv1; id={result["policy_id"]}"'
    assert tlsrpt.stdout.strip() == '"v=TLSRPTv1; rua=mailto:tlsrpt@reports.mtasts.test"'
    assert policy.returncode == 0, policy.stderr
    assert policy.stdout.replace("\r\n", "\n") == (
        "version: STSv1\nmode: testing\nmx: mx1.selfhosted.example\n"
        "mx: mx2.selfhosted.example\nmax_age: 86400\n"
    )


def test_deploy_and_rotate_run_as_step_functions_tasks_and_errors_reach_catch(
    world: LocalWorld, product: DeployedStack, world_resolver: dns.resolver.Resolver
) -> None:
    """The two functions as a workflow uses them: Task states whose Catch matches the typed
    error's class name."""
    definition = {
        "StartAt": "Deploy",
        "States": {
            "Deploy": {
                "Type": "Task",
                "Resource": product.get_att("DeployPolicyFunction", "Arn"),
                "ResultPath": "$.deployed",
                "Catch": [
                    {
                        "ErrorEquals": ["UnsafePolicyError"],
                        "ResultPath": "$.refused",
                        "Next": "Refused",
                    }
                ],
                "Next": "Rotate",
            },
            "Rotate": {
                "Type": "Task",
                "Resource": product.get_att("RotateIdFunction", "Arn"),
                "ResultPath": "$.rotated",
                "End": True,
            },
            "Refused": {"Type": "Pass", "End": True},
        },
    }
    sfn = world.aws.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="deploy-then-rotate",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{world.aws.account_id}:role/sfn",
    )["stateMachineArn"]

    done = run(sfn, machine, "selfhosted-testing-1", {"domain": DOMAIN, "mode": "testing"})
    refused = run(
        sfn,
        machine,
        "selfhosted-enforce-1",
        {"domain": DOMAIN, "mode": "enforce", "mx": ["mx1.selfhosted.example"]},
    )

    assert done["deployed"]["policy_id"] == done["rotated"]["policy_id"]
    assert txt(world_resolver, f"_mta-sts.{DOMAIN}") == [
        f"v=STSv1; id={done['deployed']['policy_id']}"
    ]
    assert refused["refused"]["Error"] == "UnsafePolicyError"
    assert "mx2.selfhosted.example" in refused["refused"]["Cause"]


def run(sfn: Any, machine: str, name: str, event: Any) -> Any:
    arn = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(event))[
        "executionArn"
    ]
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"execution {name} never finished"
        time.sleep(0.05)
    assert described["status"] == "SUCCEEDED", described
    return json.loads(described["output"])
