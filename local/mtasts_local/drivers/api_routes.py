"""The REST API routes of a template, read from what API Gateway itself receives: each
`AWS::ApiGateway::RestApi`'s OpenAPI `Body` as the SAM transform wrote it, with the template's
conditions applied, so SAM's own merging of `Events` of type `Api`, the Api's `Auth` or
`DefinitionBody` and `Globals`, and CloudFormation's `Fn::If`, decide which method needs what.

A method needs an API key when its `security` names a definition of type `apiKey` in the
`x-api-key` header, and a SigV4 signature (IAM auth) when it names one whose
`x-amazon-apigateway-authtype` is `awsSigv4` (what SAM writes for `AWS_IAM`). Other authorizers
(Cognito, Lambda) are not enforced locally. Matching follows API Gateway: a literal path part
beats `{param}`, which beats `{proxy+}`; a method beats `ANY`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mtasts_local.drivers.errors import DriverError
from mtasts_local.drivers.stack import StackView

REST_API: Final = "AWS::ApiGateway::RestApi"
STAGE: Final = "AWS::ApiGateway::Stage"
ANY_METHOD: Final = "x-amazon-apigateway-any-method"
METHODS: Final = ("get", "put", "post", "delete", "patch", "head", "options")
_FUNCTION_IN_URI: Final = re.compile(r":lambda:path/[^/]+/functions/(?P<arn>.+)/invocations$")
_PARAMETER: Final = re.compile(r"^\{(?P<name>[^}+]+)(?P<greedy>\+?)\}$")


@dataclass(frozen=True, slots=True)
class ApiRoute:
    resource: str  # the path template, e.g. /domains/{domain}
    method: str  # GET, POST, ... or ANY
    function_arn: str
    api_key_required: bool
    api_id: str
    stage: str
    iam_required: bool = False  # SigV4-signed by a principal the world knows

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters when `path` is this route's resource, else None."""
        parts, wanted = _split(self.resource), _split(path)
        parameters: dict[str, str] = {}
        for index, part in enumerate(parts):
            found = _PARAMETER.match(part)
            if found and found["greedy"]:
                rest = wanted[index:]
                if not rest:
                    return None
                parameters[found["name"]] = "/".join(rest)
                return parameters
            if index >= len(wanted):
                return None
            if found:
                parameters[found["name"]] = wanted[index]
            elif part != wanted[index]:
                return None
        return parameters if len(parts) == len(wanted) else None

    def specificity(self) -> tuple[tuple[int, ...], int]:
        kinds = []
        for part in _split(self.resource):
            found = _PARAMETER.match(part)
            kinds.append(0 if found and found["greedy"] else 1 if found else 2)
        return tuple(kinds), 0 if self.method == "ANY" else 1


def _split(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


@dataclass(frozen=True, slots=True)
class ApiDefinition:
    routes: tuple[ApiRoute, ...]
    binary_media_types: tuple[str, ...] = ()
    region: str = "us-east-1"  # what a SigV4 credential scope must name

    def find(self, method: str, path: str) -> tuple[ApiRoute, dict[str, str]] | None:
        """The most specific route for this request, with its path parameters."""
        candidates = []
        for route in self.routes:
            if route.method not in (method, "ANY"):
                continue
            parameters = route.match(path)
            if parameters is not None:
                candidates.append((route.specificity(), route, parameters))
        if not candidates:
            return None
        _, route, parameters = max(candidates, key=lambda candidate: candidate[0])
        return route, parameters

    def is_binary(self, content_type: str | None) -> bool:
        media_type = (content_type or "").split(";")[0].strip().lower()
        return bool(media_type) and any(
            fnmatch.fnmatchcase(media_type, pattern.lower()) for pattern in self.binary_media_types
        )


def api_definition(view: StackView) -> ApiDefinition:
    """Every REST API method of the template that proxies to a Lambda function."""
    stages = {
        str(properties.get("RestApiId")): str(properties.get("StageName", "Prod"))
        for _, properties in view.resources_of_type(STAGE)
    }
    routes: list[ApiRoute] = []
    binary: list[str] = []
    for logical_id, properties in view.resources_of_type(REST_API):
        body = properties.get("Body")
        if not isinstance(body, Mapping):
            raise DriverError(f"{logical_id}: only an inline OpenAPI Body can be served locally")
        name = view.physical_name(logical_id)
        api_id = hashlib.sha256(name.encode()).hexdigest()[:10]
        stage = stages.get(name, "Prod")
        routes += _routes(body, api_id, stage)
        media = [*properties.get("BinaryMediaTypes", []), *body.get(_BINARY_KEY, [])]
        binary += [m.replace("~1", "/") for m in media]
    _refuse_duplicates(routes)
    return ApiDefinition(tuple(routes), tuple(dict.fromkeys(binary)), view.region)


_BINARY_KEY: Final = "x-amazon-apigateway-binary-media-types"


def _routes(body: Mapping[str, Any], api_id: str, stage: str) -> list[ApiRoute]:
    key_schemes, iam_schemes = _api_key_schemes(body), _sigv4_schemes(body)
    routes = []
    for resource, operations in body.get("paths", {}).items():
        for key, operation in operations.items():
            method = "ANY" if key == ANY_METHOD else key.upper() if key in METHODS else None
            uri = str(operation.get("x-amazon-apigateway-integration", {}).get("uri", ""))
            found = _FUNCTION_IN_URI.search(uri)
            if method is None or found is None:
                continue  # not a method, or not a Lambda proxy integration
            named = {
                name
                for requirement in operation.get("security", body.get("security", []))
                for name in requirement
            }
            routes.append(
                ApiRoute(
                    resource,
                    method,
                    found["arn"],
                    bool(named & key_schemes),
                    api_id,
                    stage,
                    iam_required=bool(named & iam_schemes),
                )
            )
    return routes


def _security_schemes(body: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {
        **body.get("securityDefinitions", {}),
        **body.get("components", {}).get("securitySchemes", {}),
    }


def _api_key_schemes(body: Mapping[str, Any]) -> set[str]:
    return {
        name
        for name, scheme in _security_schemes(body).items()
        if scheme.get("type") == "apiKey"
        and str(scheme.get("name", "")).lower() == "x-api-key"
        and scheme.get("in") == "header"
    }


def _sigv4_schemes(body: Mapping[str, Any]) -> set[str]:
    return {
        name
        for name, scheme in _security_schemes(body).items()
        if str(scheme.get("x-amazon-apigateway-authtype", "")).lower() == "awssigv4"
    }


def _refuse_duplicates(routes: list[ApiRoute]) -> None:
    seen: set[tuple[str, str]] = set()
    for route in routes:
        key = (route.resource, route.method)
        if key in seen:
            raise DriverError(f"two APIs serve {route.method} {route.resource}; serve one")
        seen.add(key)
