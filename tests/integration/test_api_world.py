"""The API on the local world: the product's own API definition (from `template.yaml`, as the
SAM transform writes it) served by the local API Gateway, every request running the real
handler in moto's Lambda, against the world's Cloudflare stand-in, DNS, HTTPS edge and MX hosts.

Executions started by the API use short waits (`API_EXECUTION_TIMING` on the function), the
only test-only setting; everything else is the template's.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from mtasts_local.aws.template import DeployedStack
from mtasts_local.drivers.api_gateway import LocalApiGateway
from mtasts_local.drivers.api_routes import api_definition
from mtasts_local.drivers.stack import StackView
from mtasts_local.world import LocalWorld
from tests.integration.test_promotion_world import (
    policy,
    served,
    sts_ids,
    wait_for_state,
)

FAST = {"observe_seconds": 3600, "approval_seconds": 0, "watch_seconds": 0}
PROBLEM = "application/problem+json"


def set_function_env(world: LocalWorld, product: DeployedStack, **values: str) -> None:
    lam = world.aws.client("lambda")
    name = product.ref("ApiFunction")
    current = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {**current, **values}}
    )


@pytest.fixture
def gateway(world: LocalWorld, product: DeployedStack) -> Iterator[LocalApiGateway]:
    set_function_env(world, product, API_EXECUTION_TIMING=json.dumps(FAST))
    gateway = LocalApiGateway(
        api_definition(StackView(product)),
        _invoker(world),
        api_key=world.api_key,
        account_id=world.aws.account_id,
        host=world.bind,
    )
    with gateway:
        yield gateway
    _stop_executions(world, product)


def _invoker(world: LocalWorld) -> Any:
    def invoke(function_arn: str, event: dict[str, Any]) -> tuple[str | None, bytes]:
        response = world.aws.client("lambda").invoke(
            FunctionName=function_arn, Payload=json.dumps(event).encode()
        )
        return response.get("FunctionError"), response["Payload"].read()

    return invoke


def _stop_executions(world: LocalWorld, product: DeployedStack) -> None:
    """A running execution (observing for an hour) would outlive the test."""
    sfn = world.aws.client("stepfunctions")
    machine = product.ref("PromotionStateMachine")
    for execution in sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")[
        "executions"
    ]:
        sfn.stop_execution(executionArn=execution["executionArn"])


@pytest.fixture
def api(gateway: LocalApiGateway) -> Iterator[httpx.Client]:
    headers = {"x-api-key": gateway.api_key}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=60) as client:
        yield client


def onboard(api: httpx.Client, domain: str, **given: Any) -> httpx.Response:
    return api.post("/domains", json={"domain": domain, **given})


def execution_of(world: LocalWorld, product: DeployedStack, domain: str, generation: int) -> str:
    machine = product.ref("PromotionStateMachine")
    prefix = machine.replace(":stateMachine:", ":execution:")
    return f"{prefix}:{domain.replace('.', '-')}-g{generation}"


# --- the cases ----------------------------------------------------------------------------------


def test_health_is_open_and_a_domain_route_without_the_key_is_403(
    gateway: LocalApiGateway,
) -> None:
    with httpx.Client(base_url=gateway.url, timeout=30) as anonymous:
        assert anonymous.get("/health").json() == {"status": "ok"}
        denied = anonymous.get("/domains")
        assert denied.status_code == 403 and denied.json() == {"message": "Forbidden"}
        assert anonymous.post("/domains", json={"domain": "a.example"}).status_code == 403
        wrong = anonymous.get("/domains", headers={"x-api-key": "not-the-key"})
        assert wrong.status_code == 403


def test_onboarding_ends_with_the_policy_served_the_id_published_and_testing(
    world: LocalWorld, product: DeployedStack, api: httpx.Client
) -> None:
    domain = "selfhosted.example"
    accepted = onboard(api, domain, approval="manual", window_days=7)

    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["status_url"] == f"/domains/{domain}" and body["generation"] == 1
    assert accepted.headers["location"] == body["status_url"]
    arn = execution_of(world, product, domain, 1)
    wait_for_state(world, arn, "ObserveWait", seconds=30)

    state = policy(world, product, domain)
    assert state.mode.value == "testing" and sts_ids(world, domain) == [state.policy_id]
    assert served(world, domain) == state.policy_text.encode()
    status = api.get(body["status_url"]).json()
    assert status["state"] == "testing" and status["mode"] == "testing"
    assert status["policy_id"] == state.policy_id and status["announced"] is True
    assert status["window"]["window_days"] == 7 and status["window"]["days_observed"] == 0
    assert status["last_validation"] is not None  # the workflow validated testing at once
    assert status["next_step"]["action"] == "promote"
    listed = api.get("/domains", params={"state": "testing"}).json()
    assert [d["domain"] for d in listed["domains"]] == [domain]


def test_a_repeated_post_with_the_same_idempotency_key_returns_the_same_answer(
    world: LocalWorld, product: DeployedStack, api: httpx.Client
) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = api.post("/domains", json={"domain": "hosted.example"}, headers=key)
    again = api.post("/domains", json={"domain": "hosted.example"}, headers=key)
    without = api.post("/domains", json={"domain": "hosted.example"})

    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert without.status_code == 409 and without.headers["content-type"] == PROBLEM
    history = api.get("/domains/hosted.example/history").json()["entries"]
    assert [e["action"] for e in history].count("api-onboarded") == 1
    sfn = world.aws.client("stepfunctions")
    runs = sfn.list_executions(stateMachineArn=product.ref("PromotionStateMachine"))
    assert len(runs["executions"]) == 1
    reused = api.post("/domains", json={"domain": "other.example"}, headers=key)
    assert reused.status_code == 422 and reused.json()["type"].endswith("idempotency-key-reused")


def test_change_validate_approve_demote_and_history_go_through_the_workflow(
    world: LocalWorld, product: DeployedStack, api: httpx.Client
) -> None:
    domain = "selfhosted.example"
    assert onboard(api, domain).status_code == 202
    wait_for_state(world, execution_of(world, product, domain, 1), "ObserveWait", seconds=30)

    changed = api.patch(f"/domains/{domain}", json={"window_days": 3, "max_age": 86400 * 2})
    assert changed.status_code == 202 and changed.json()["generation"] == 2, changed.text
    first = world.aws.client("stepfunctions").describe_execution(
        executionArn=execution_of(world, product, domain, 1)
    )
    assert first["status"] == "ABORTED"
    wait_for_state(world, execution_of(world, product, domain, 2), "ObserveWait", seconds=30)
    status = api.get(f"/domains/{domain}").json()
    assert status["config"]["window_days"] == 3 and status["config"]["enforce_max_age"] == 172800

    validated = api.post(f"/domains/{domain}/validate")
    assert validated.status_code == 200, validated.text
    assert validated.json()["validation"]["ok"] is True

    approved = api.post(f"/domains/{domain}/promote", json={})
    assert approved.status_code == 202 and "approved" in approved.json()["detail"]
    assert api.get(f"/domains/{domain}").json()["config"]["approved"] is True
    no_reason = api.post(f"/domains/{domain}/promote", json={"force": True})
    assert no_reason.status_code == 400 and no_reason.json()["errors"][0]["field"] == "reason"

    demoted = api.post(f"/domains/{domain}/demote", json={"reason": "ticket T-9"})
    assert demoted.status_code == 202 and demoted.json()["state"] == "demoted"
    assert demoted.json()["generation"] == 3
    actions = [e["action"] for e in api.get(f"/domains/{domain}/history").json()["entries"]]
    for action in ("api-onboarded", "api-changed", "api-approved", "api-demoted-by-request"):
        assert action in actions


def test_a_forced_promotion_publishes_enforce_and_delete_publishes_none(
    world: LocalWorld, product: DeployedStack, api: httpx.Client
) -> None:
    domain = "hosted.example"
    assert onboard(api, domain).status_code == 202
    wait_for_state(world, execution_of(world, product, domain, 1), "ObserveWait", seconds=30)

    forced = api.post(f"/domains/{domain}/promote", json={"force": True, "reason": "CAB-12"})
    assert forced.status_code == 202, forced.text
    state = policy(world, product, domain)
    assert state.mode.value == "enforce" and sts_ids(world, domain) == [state.policy_id]
    assert api.get(f"/domains/{domain}").json()["state"] == "enforce"
    again = api.post(f"/domains/{domain}/promote", json={"force": True, "reason": "again"})
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM

    removed = api.delete(f"/domains/{domain}")
    assert removed.status_code == 202 and removed.json()["state"] == "removing", removed.text
    body = served(world, domain)
    assert body is not None and b"mode: none\r\n" in body
    # The rest (wait out the longest max_age published, then delete) is the removal workflow's.
    sfn = world.aws.client("stepfunctions")
    (removal,) = sfn.list_executions(stateMachineArn=product.ref("RemovalStateMachine"))[
        "executions"
    ]
    assert removal["name"].startswith("remove-hosted-example-g")
    assert sfn.describe_execution(executionArn=removal["executionArn"])["status"] == "RUNNING"
    sfn.stop_execution(executionArn=removal["executionArn"])
    assert api.delete(f"/domains/{domain}").status_code == 409


def _report(domain: str, organization: str, successful: int, failed: int) -> dict[str, Any]:
    today = datetime.now(UTC).date().isoformat()
    return {
        "organization-name": organization,
        "date-range": {
            "start-datetime": f"{today}T00:00:00Z",
            "end-datetime": f"{today}T23:59:59Z",
        },
        "contact-info": "tlsrpt@sender.test",
        "report-id": uuid.uuid4().hex,
        "policies": [
            {
                "policy": {"policy-type": "sts", "policy-domain": domain},
                "summary": {
                    "total-successful-session-count": successful,
                    "total-failure-session-count": failed,
                },
                "failure-details": [
                    {
                        "result-type": "certificate-expired",
                        "receiving-mx-hostname": f"mx1.{domain}",
                        "failed-session-count": failed,
                    }
                ]
                if failed
                else [],
            }
        ],
    }


def test_reports_posted_over_https_show_in_the_daily_counts(
    world: LocalWorld, product: DeployedStack, api: httpx.Client, gateway: LocalApiGateway
) -> None:
    domain = "expired.example"
    assert onboard(api, domain).status_code == 202
    wait_for_state(world, execution_of(world, product, domain, 1), "ObserveWait", seconds=30)
    with httpx.Client(base_url=gateway.url, timeout=30) as sender:  # no key: RFC 8460 §5.4
        plain = sender.post(
            "/reports",
            content=json.dumps(_report(domain, "Giant Mail", 90, 10)),
            headers={"Content-Type": "application/tlsrpt+json"},
        )
        zipped = sender.post(
            "/reports",
            content=gzip.compress(json.dumps(_report(domain, "Blue Corp", 50, 0)).encode()),
            headers={"Content-Type": "application/tlsrpt+gzip"},
        )
        junk = sender.post(
            "/reports", content=b"{}", headers={"Content-Type": "application/tlsrpt+json"}
        )
        wrong_type = sender.post("/reports", content=b"{}", headers={"Content-Type": "text/plain"})

    assert plain.status_code == 201 and len(plain.json()["counted"]) == 1, plain.text
    assert zipped.status_code == 201 and len(zipped.json()["counted"]) == 1, zipped.text
    assert junk.status_code == 400 and junk.headers["content-type"] == PROBLEM
    assert wrong_type.status_code == 415
    days = api.get(f"/domains/{domain}/reports").json()
    assert days["domain"] == domain
    (today,) = days["days"]
    assert today == {
        "date": datetime.now(UTC).date().isoformat(),
        "successful_sessions": 140,
        "failed_sessions": 10,
        "failures_by_result_type": {"certificate-expired": 10},
        "reporters": sorted(today["reporters"]),
    }
    assert len(today["reporters"]) == 2
    window = api.get(f"/domains/{domain}").json()["window"]
    assert window["failed_sessions"] == 10 and window["failures_by_result_type"]


def test_bad_input_is_a_problem_document_never_a_server_error(api: httpx.Client) -> None:
    cases = [
        api.get("/domains/192.0.2.1"),
        api.get("/domains/*.example.com"),
        api.post("/domains", json={"domain": "exa mple.com"}),
        api.post("/domains", json={"domain": "example.com", "surprise": 1}),
        api.post("/domains", content=b"{not json", headers={"Content-Type": "application/json"}),
        api.get("/domains", params={"limit": 0}),
        api.get("/domains", params={"cursor": "!!!"}),
        api.get("/domains/unknown.example"),
        api.get("/domains/unknown.example/reports", params={"from": "2026-13-01"}),
    ]
    for response in cases:
        assert 400 <= response.status_code < 500, (response.request.url, response.text)
        assert response.headers["content-type"] == PROBLEM
        document = response.json()
        assert {"type", "title", "status", "detail", "instance"} <= document.keys()
        assert document["status"] == response.status_code
    assert cases[0].status_code == 400 and cases[0].json()["errors"][0]["field"] == "domain"
    assert cases[7].status_code == 404


def test_the_openapi_document_and_swagger_ui_are_served(api: httpx.Client) -> None:
    document = api.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert {"/domains", "/domains/{domain}", "/reports", "/health"} <= paths.keys()
    assert paths["/reports"]["post"]["security"] == []
    docs = api.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
