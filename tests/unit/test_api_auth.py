"""template.yaml's API auth, after the SAM transform and with the ApiAuth parameter's conditions
applied as CloudFormation would: every method but POST /reports and GET /health needs the
chosen scheme (a method added to the function's Events but not to the API's DefinitionBody
would be open, and fails here), and the usage plan and its key exist only with API keys."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mtasts.api.app import openapi_json
from mtasts.api.handler import app
from mtasts.settings import ApiAuth
from mtasts_local.aws.template import StackPlan, read_template

OPEN = {("/reports", "post"), ("/health", "get")}
SCHEME = {"API_KEY": "api_key", "AWS_IAM": "AWS_IAM"}
KEY_RESOURCES = {"MtaStsApiUsagePlan", "MtaStsApiApiKey", "MtaStsApiUsagePlanKey"}
PARAMETERS = {"CloudflareAccountId": "0" * 32, "ReportAddress": "tlsrpt@reports.example"}


def plan(api_auth: str | None) -> StackPlan:
    given = {**PARAMETERS, **({"ApiAuth": api_auth} if api_auth else {})}
    return read_template(parameters=given)


def api_body(stack: StackPlan) -> dict[str, Any]:
    body: dict[str, Any] = stack.cloudformation["Resources"]["MtaStsApi"]["Properties"]["Body"]
    return body


def methods(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, operations in body["paths"].items()
        for method, operation in operations.items()
    }


@pytest.mark.parametrize("mode", ["API_KEY", "AWS_IAM"])
def test_every_method_but_the_open_two_needs_the_chosen_scheme(mode: str) -> None:
    body = api_body(plan(mode))
    found = methods(body)

    assert OPEN <= set(found) and len(found) > len(OPEN)
    for key, operation in found.items():
        assert "x-amazon-apigateway-integration" in operation, key
        expected: list[dict[str, list[str]]] = [] if key in OPEN else [{SCHEME[mode]: []}]
        assert operation.get("security", []) == expected, key
    assert "security" not in body  # API Gateway applies security per method only


def test_the_schemes_are_api_gateways_api_key_and_sigv4() -> None:
    definitions = api_body(plan("AWS_IAM"))["securityDefinitions"]

    assert definitions["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    assert definitions["AWS_IAM"] == {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "x-amazon-apigateway-authtype": "awsSigv4",
    }


def test_api_keys_are_the_default_with_their_usage_plan_and_key_output() -> None:
    stack = plan(None)

    assert stack.parameters["ApiAuth"] == "API_KEY"
    assert KEY_RESOURCES <= set(stack.cloudformation["Resources"])
    assert "ApiKeyId" in stack.cloudformation["Outputs"]
    assert "ApiInvokeResource" not in stack.cloudformation["Outputs"]


def test_with_iam_auth_no_key_or_usage_plan_exists_and_the_invoke_arn_is_an_output() -> None:
    stack = plan("AWS_IAM")

    assert not KEY_RESOURCES & set(stack.cloudformation["Resources"])
    assert "ApiKeyId" not in stack.cloudformation["Outputs"]
    invoke = stack.cloudformation["Outputs"]["ApiInvokeResource"]["Value"]
    assert invoke == {
        "Fn::Sub": (
            "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${MtaStsApi}/v1/*"
        )
    }


def test_the_integrations_do_not_call_lambda_with_the_callers_credentials() -> None:
    # SAM's DefaultAuthorizer AWS_IAM would add `credentials: arn:aws:iam::*:user/*` (callers
    # would then need lambda:InvokeFunction); the function's resource policy is enough.
    for operation in methods(api_body(plan("AWS_IAM"))).values():
        assert "credentials" not in operation["x-amazon-apigateway-integration"]


@pytest.mark.parametrize(
    ("mode", "scheme", "other"), [("API_KEY", "apiKey", "sigv4"), ("AWS_IAM", "sigv4", "apiKey")]
)
def test_the_served_openapi_document_names_the_scheme_the_gateway_enforces(
    mode: ApiAuth, scheme: str, other: str
) -> None:
    document = json.loads(openapi_json(app(), mode))  # the process's one resolver

    assert set(document["components"]["securitySchemes"]) == {scheme}
    assert document["security"] == [{scheme: []}]
    for path, operations in document["paths"].items():
        for operation in operations.values():
            assert ("403" in operation["responses"]) is (path not in ("/reports", "/health"))


def test_the_function_is_told_which_scheme_the_stack_uses() -> None:
    resources = plan("AWS_IAM").cloudformation["Resources"]
    variables = resources["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["API_AUTH"] == {"Ref": "ApiAuth"}
