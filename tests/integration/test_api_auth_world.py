"""The API's two auth modes on the local world: template.yaml deployed with `ApiAuth=AWS_IAM`
(its conditions applied by the local deployer) and with the default `API_KEY`, served by the
local API Gateway from the API definition the SAM transform wrote. Requests are signed with
botocore's SigV4Auth and the world's credentials, as a client in AWS would sign them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from mtasts_local.aws import FAKE_CREDENTIALS
from mtasts_local.aws.template import REPO_TEMPLATE, DeployedStack, deploy, read_template
from mtasts_local.drivers.api_gateway import LocalApiGateway
from mtasts_local.drivers.api_routes import api_definition
from mtasts_local.drivers.stack import StackView
from mtasts_local.world import LocalWorld, template_parameters

WORLD = Credentials(
    FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
    FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
)
PROBLEM = "application/problem+json"


def deploy_product(world: LocalWorld, **parameters: str) -> DeployedStack:
    given = template_parameters(REPO_TEMPLATE, world.config, parameters)
    stack = deploy(
        read_template(REPO_TEMPLATE, parameters=given, region=world.aws.region), world.aws.client
    )
    world.lambda_runner.register_all(stack.function_code())
    return stack


class Recording:
    """Invokes the function as the world does, keeping each event the gateway sent."""

    def __init__(self, world: LocalWorld) -> None:
        self.world = world
        self.events: list[dict[str, Any]] = []

    def __call__(self, function_arn: str, event: dict[str, Any]) -> tuple[str | None, bytes]:
        self.events.append(event)
        response = self.world.aws.client("lambda").invoke(
            FunctionName=function_arn, Payload=json.dumps(event).encode()
        )
        return response.get("FunctionError"), response["Payload"].read()


def serve(world: LocalWorld, stack: DeployedStack) -> tuple[LocalApiGateway, Recording]:
    recording = Recording(world)
    gateway = LocalApiGateway(
        api_definition(StackView(stack)),
        recording,
        api_key=world.api_key,
        account_id=world.aws.account_id,
        host=world.bind,
    )
    return gateway, recording


@pytest.fixture
def iam_api(world: LocalWorld) -> Iterator[tuple[LocalApiGateway, Recording]]:
    gateway, recording = serve(world, deploy_product(world, ApiAuth="AWS_IAM"))
    with gateway:
        yield gateway, recording


@pytest.fixture
def key_api(world: LocalWorld) -> Iterator[LocalApiGateway]:
    gateway, _ = serve(world, deploy_product(world))
    with gateway:
        yield gateway


def send_signed(
    gateway: LocalApiGateway,
    method: str,
    path: str,
    body: bytes = b"",
    credentials: Credentials = WORLD,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Sign as a client in AWS signs for execute-api, then send exactly what was signed."""
    url = f"{gateway.url}{path}"
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(credentials, "execute-api", gateway.definition.region).add_auth(request)
    return httpx.request(method, url, content=body, headers=dict(request.headers), timeout=60)


def test_with_iam_auth_a_signed_request_is_served_with_the_callers_identity(
    world: LocalWorld, iam_api: tuple[LocalApiGateway, Recording]
) -> None:
    gateway, recording = iam_api

    listed = send_signed(gateway, "GET", "/domains?limit=5")
    refused = send_signed(
        gateway,
        "POST",
        "/domains",
        json.dumps({"domain": "exa mple.com"}).encode(),
        headers={"Content-Type": "application/json"},
    )

    assert listed.status_code == 200, listed.text
    assert listed.json() == {"domains": [], "next_cursor": None}
    # The handler's own answer to bad input: the signed body reached it unchanged.
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
    who = world.aws.client("sts").get_caller_identity()
    for event in recording.events:
        identity = event["requestContext"]["identity"]
        assert identity["userArn"] == who["Arn"] and identity["caller"] == who["UserId"]
        assert identity["accountId"] == who["Account"]
        assert identity["accessKey"] == WORLD.access_key and identity["apiKey"] is None


def test_with_iam_auth_unsigned_or_badly_signed_requests_are_refused_by_the_gateway(
    iam_api: tuple[LocalApiGateway, Recording],
) -> None:
    gateway, recording = iam_api
    with httpx.Client(base_url=gateway.url, timeout=30) as anonymous:
        unsigned = anonymous.get("/domains")
        with_key = anonymous.get("/domains", headers={"x-api-key": gateway.api_key})
    wrong_secret = Credentials(WORLD.access_key, "not-the-secret", WORLD.token)
    badly_signed = send_signed(gateway, "GET", "/domains", credentials=wrong_secret)
    stranger = send_signed(gateway, "GET", "/domains", credentials=Credentials("AKIAX", "s"))

    for response in (unsigned, with_key):
        assert response.status_code == 403
        assert response.json() == {"message": "Missing Authentication Token"}
    assert badly_signed.status_code == 403
    assert badly_signed.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert badly_signed.json()["message"].startswith(
        "The request signature we calculated does not match the signature you provided."
    )
    assert stranger.status_code == 403
    assert stranger.json() == {"message": "The security token included in the request is invalid."}
    assert recording.events == []  # none of them reached the function


def test_with_iam_auth_reports_and_health_stay_open(
    iam_api: tuple[LocalApiGateway, Recording],
) -> None:
    gateway, _ = iam_api
    with httpx.Client(base_url=gateway.url, timeout=30) as anonymous:
        health = anonymous.get("/health")
        report = anonymous.post(
            "/reports", content=b"{}", headers={"Content-Type": "application/tlsrpt+json"}
        )

    assert health.status_code == 200 and health.json() == {"status": "ok"}
    # The function's answer to an empty report, not the gateway's 403.
    assert report.status_code == 400 and report.headers["content-type"] == PROBLEM


def test_with_api_keys_a_signature_is_no_substitute_for_the_key(key_api: LocalApiGateway) -> None:
    signed_only = send_signed(key_api, "GET", "/domains")
    signed_with_key = send_signed(
        key_api, "GET", "/domains", headers={"x-api-key": key_api.api_key}
    )

    assert signed_only.status_code == 403 and signed_only.json() == {"message": "Forbidden"}
    assert signed_with_key.status_code == 200, signed_with_key.text
    with httpx.Client(base_url=key_api.url, timeout=30) as anonymous:
        assert anonymous.get("/health").status_code == 200


def test_a_callback_url_that_is_not_https_is_refused_at_onboarding(
    key_api: LocalApiGateway,
) -> None:
    headers = {"x-api-key": key_api.api_key}
    with httpx.Client(base_url=key_api.url, headers=headers, timeout=60) as api:
        refused = api.post(
            "/domains", json={"domain": "a.example", "callback_url": "http://tickets.example/h"}
        )

    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
    assert "callback_url" in refused.text and "https" in refused.text
