"""The local API Gateway's IAM auth, request by request without a socket: requests signed by
botocore's SigV4Auth as a client would sign them are checked by computing the signature again,
and everything API Gateway refuses is refused with its status, error type and message."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from mtasts_local.aws import FAKE_CREDENTIALS
from mtasts_local.drivers.api_gateway import HttpRequest, LocalApiGateway, world_callers
from mtasts_local.drivers.api_routes import ApiDefinition, ApiRoute

ACCOUNT = "123456789012"
REGION = "eu-west-1"
HOST = "127.0.0.1:8443"
FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:api"
WORLD = Credentials(
    FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
    FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
)
ROUTES = (
    ApiRoute("/domains", "GET", FUNCTION, False, "api", "v1", iam_required=True),
    ApiRoute("/domains/{domain}", "PATCH", FUNCTION, False, "api", "v1", iam_required=True),
    ApiRoute("/both", "GET", FUNCTION, True, "api", "v1", iam_required=True),
    ApiRoute("/health", "GET", FUNCTION, False, "api", "v1"),
)


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, function_arn: str, event: dict[str, Any]) -> tuple[str | None, bytes]:
        self.events.append(event)
        return None, json.dumps({"statusCode": 200, "body": "{}"}).encode()


@pytest.fixture
def invoked() -> Recorder:
    return Recorder()


@pytest.fixture
def gateway(invoked: Recorder) -> LocalApiGateway:
    definition = ApiDefinition(ROUTES, region=REGION)
    return LocalApiGateway(definition, invoked, api_key="the-key", account_id=ACCOUNT)


def signed(
    method: str,
    target: str,
    body: bytes = b"",
    credentials: Credentials = WORLD,
    region: str = REGION,
    service: str = "execute-api",
    headers: dict[str, str] | None = None,
    received: datetime | None = None,
) -> HttpRequest:
    """What the gateway receives from a client that signed with botocore."""
    request = AWSRequest(method=method, url=f"http://{HOST}{target}", data=body, headers=headers)
    SigV4Auth(credentials, service, region).add_auth(request)
    sent = [("Host", HOST), ("User-Agent", "test-client"), *request.headers.items()]
    return HttpRequest(method, target, sent, body, received=received or datetime.now(UTC))


def unsigned(method: str, target: str, headers: list[tuple[str, str]] | None = None) -> HttpRequest:
    return HttpRequest(method, target, [("Host", HOST), *(headers or [])], b"")


def refusal(gateway: LocalApiGateway, request: HttpRequest) -> tuple[int, str, str]:
    response = gateway.respond(request)
    kind = dict(response.headers).get("x-amzn-ErrorType", "")
    return response.status, kind, json.loads(response.body)["message"]


def test_a_request_signed_with_the_worlds_credentials_reaches_the_function_with_its_caller(
    gateway: LocalApiGateway, invoked: Recorder
) -> None:
    body = b'{"mx": ["mx1.example.com"]}'
    request = signed("PATCH", "/domains/a.example?dry=1&a=b", body, headers={"X-Ticket": "42"})

    response = gateway.respond(request)

    assert response.status == 200
    (event,) = invoked.events
    identity = event["requestContext"]["identity"]
    assert identity["accessKey"] == WORLD.access_key and identity["accountId"] == ACCOUNT
    assert identity["userArn"] == f"arn:aws:sts::{ACCOUNT}:user/moto"
    assert identity["caller"] == identity["user"] == "AKIAIOSFODNN7EXAMPLE"
    assert identity["apiKey"] is None and event["body"] == body.decode()


def test_an_unsigned_request_is_a_missing_authentication_token(
    gateway: LocalApiGateway, invoked: Recorder
) -> None:
    assert refusal(gateway, unsigned("GET", "/domains")) == (
        403,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    )
    assert invoked.events == []


def test_an_api_key_is_no_substitute_for_a_signature(gateway: LocalApiGateway) -> None:
    status, _, message = refusal(gateway, unsigned("GET", "/domains", [("x-api-key", "the-key")]))

    assert (status, message) == (403, "Missing Authentication Token")


def test_a_wrong_secret_or_a_changed_request_does_not_match_the_signature(
    gateway: LocalApiGateway, invoked: Recorder
) -> None:
    wrong_secret = Credentials(WORLD.access_key, "not-the-secret", WORLD.token)
    tampered = signed("PATCH", "/domains/a.example", b'{"mx": []}')
    tampered = HttpRequest(tampered.method, tampered.target, tampered.headers, b'{"mx": ["x"]}')
    moved = signed("GET", "/domains")
    moved = HttpRequest("GET", "/domains?state=testing", moved.headers, b"")

    for request in (signed("GET", "/domains", credentials=wrong_secret), tampered, moved):
        status, kind, message = refusal(gateway, request)
        assert (status, kind) == (403, "InvalidSignatureException")
        assert message.startswith("The request signature we calculated does not match")
        assert "The Canonical String for this request should have been" in message
    assert invoked.events == []


def test_an_unknown_key_or_a_missing_session_token_is_an_invalid_security_token(
    gateway: LocalApiGateway,
) -> None:
    stranger = Credentials("AKIASTRANGER", "secret")
    without_token = signed("GET", "/domains", credentials=Credentials(WORLD.access_key, "testing"))

    for request in (signed("GET", "/domains", credentials=stranger), without_token):
        assert refusal(gateway, request) == (
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )


@pytest.mark.parametrize(
    ("region", "service", "message"),
    [
        ("us-east-1", "execute-api", "Credential should be scoped to a valid region."),
        (REGION, "lambda", "Credential should be scoped to correct service: 'execute-api'."),
    ],
)
def test_a_signature_for_another_region_or_service_is_refused(
    gateway: LocalApiGateway, region: str, service: str, message: str
) -> None:
    request = signed("GET", "/domains", region=region, service=service)

    assert refusal(gateway, request) == (
        403,
        "InvalidSignatureException",
        message,
    )


def test_a_signature_older_or_newer_than_five_minutes_is_refused(gateway: LocalApiGateway) -> None:
    later = datetime.now(UTC) + timedelta(minutes=6)
    earlier = datetime.now(UTC) - timedelta(minutes=6)

    _, kind, expired = refusal(gateway, signed("GET", "/domains", received=later))
    _, _, early = refusal(gateway, signed("GET", "/domains", received=earlier))

    assert kind == "InvalidSignatureException"
    assert expired.startswith("Signature expired: ") and expired.endswith(" - 5 min.)")
    assert early.startswith("Signature not yet current: ")


def test_an_authorization_header_that_is_not_sigv4_is_an_incomplete_signature(
    gateway: LocalApiGateway,
) -> None:
    request = unsigned("GET", "/domains", [("Authorization", "Bearer abc")])

    status, kind, message = refusal(gateway, request)

    assert (status, kind) == (403, "IncompleteSignatureException")
    assert "Authorization header requires 'Credential' parameter." in message
    assert "requires existence of either a 'X-Amz-Date' or a 'Date' header" in message


def test_a_method_that_needs_both_needs_the_signature_and_the_key(
    gateway: LocalApiGateway, invoked: Recorder
) -> None:
    assert refusal(gateway, signed("GET", "/both"))[2] == "Forbidden"

    response = gateway.respond(signed("GET", "/both", headers={"x-api-key": "the-key"}))

    assert response.status == 200 and invoked.events[0]["requestContext"]["identity"]["apiKey"]


def test_an_open_method_needs_neither(gateway: LocalApiGateway, invoked: Recorder) -> None:
    response = gateway.respond(unsigned("GET", "/health"))

    assert response.status == 200
    assert invoked.events[0]["requestContext"]["identity"]["userArn"] is None


def test_the_default_callers_are_the_worlds_own_credentials() -> None:
    (caller,) = world_callers(ACCOUNT).values()

    assert (caller.access_key, caller.secret_key, caller.session_token) == (
        WORLD.access_key,
        WORLD.secret_key,
        WORLD.token,
    )
