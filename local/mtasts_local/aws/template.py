"""Read a SAM template, transform it as CloudFormation would, and create its resources in moto.

The template stays the one list of what exists: `read_template` turns it into a `StackPlan`
(pure: no network, no moto), `deploy` creates the plan in moto through boto3. The SAM transform
is aws-sam-translator, the library behind `AWS::Serverless-2016-10-31`, given a managed-policy
loader that lists none, so nothing asks IAM. Local paths (CodeUri, ContentUri, DefinitionUri)
are swapped for S3 placeholders before the transform, as `sam package` would, and mapped back
afterwards: functions run from their CodeUri, layers are put on the path from their ContentUri,
state machine definitions are read from their DefinitionUri. Conditions are evaluated from the
parameters and applied to the transformed template (`apply_conditions`) before it is planned.

Resource types are created by `resources.CREATORS`; the types the world does not create are
named, each with its reason, in `resources.UNMODELLED`. A type in neither is an error.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from botocore.exceptions import BotoCoreError, ClientError
from cfnlint.decode import cfn_yaml
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.arn_generator import ArnGenerator
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import (
    to_py27_compatible_template,
    undo_mark_unicode_str_in_template,
)

from mtasts_local.aws import ACCOUNT_ID, DEFAULT_REGION
from mtasts_local.aws.errors import TemplateError, UnknownResourceTypeError
from mtasts_local.aws.handlers import FunctionCode
from mtasts_local.aws.intrinsics import (
    NO_VALUE,
    choose_branches,
    evaluate_conditions,
    references,
    resolve,
)
from mtasts_local.aws.resources import CREATORS, UNMODELLED, PlannedResource, Provisioned
from mtasts_local.aws.session import fake_session

__all__ = [
    "DEFAULT_STACK_NAME",
    "REPO_ROOT",
    "REPO_TEMPLATE",
    "UNMODELLED",
    "ClientFactory",
    "DeployedResource",
    "DeployedStack",
    "NoManagedPolicies",
    "SkippedResource",
    "StackPlan",
    "apply_conditions",
    "creation_order",
    "deploy",
    "load_sam_template",
    "parameter_values",
    "read_template",
    "to_cloudformation",
]

# The local world runs from a source checkout (the package is installed editable).
REPO_ROOT: Final = Path(__file__).resolve().parents[3]
REPO_TEMPLATE: Final = REPO_ROOT / "template.yaml"
DEFAULT_STACK_NAME: Final = "mtasts-local"
_LOCAL_URI_PROPERTIES: Final = ("CodeUri", "ContentUri", "DefinitionUri")
_ARTIFACT_BUCKET: Final = "mtasts-local-artifacts"

ClientFactory = Callable[[str], Any]  # service name -> boto3 client (no per-service stubs here)


class NoManagedPolicies:
    """The translator's ManagedPolicyLoader lists AWS managed policies from IAM; this lists none,
    so the transform never reaches the network. Bare AWS managed policy names still become
    ARNs: the translator falls back on the list it ships with."""

    def load(self) -> dict[str, str]:
        return {}


@dataclass(frozen=True, slots=True)
class SkippedResource:
    logical_id: str
    type: str
    reason: str


@dataclass(frozen=True, slots=True)
class StackPlan:
    """A transformed template, ready to create: resources in dependency order, and the rest."""

    stack_name: str
    region: str
    account_id: str
    parameters: Mapping[str, str]
    resources: tuple[PlannedResource, ...]
    skipped: tuple[SkippedResource, ...]
    artifacts: Mapping[str, Path]  # placeholder S3 key -> the local path the template named
    layers: Mapping[str, Path]  # LayerVersion logical id -> directory to put on sys.path
    cloudformation: Mapping[str, Any] = field(repr=False)  # conditions applied
    conditions: Mapping[str, bool] = field(default_factory=dict)

    def pseudo_parameters(self) -> dict[str, Any]:
        return pseudo_parameters(self.stack_name, self.region, self.account_id)


def pseudo_parameters(stack_name: str, region: str, account_id: str) -> dict[str, Any]:
    stack_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{account_id}/{stack_name}")
    return {
        "AWS::AccountId": account_id,
        "AWS::Region": region,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": stack_name,
        "AWS::StackId": (
            f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/{stack_id}"
        ),
        "AWS::NotificationARNs": [],
        "AWS::NoValue": NO_VALUE,
    }


def read_template(
    path: Path = REPO_TEMPLATE,
    *,
    parameters: Mapping[str, str] | None = None,
    stack_name: str = DEFAULT_STACK_NAME,
    region: str = DEFAULT_REGION,
    account_id: str = ACCOUNT_ID,
) -> StackPlan:
    """Load, transform and plan a SAM template; `parameters` override the defaults."""
    sam = load_sam_template(path)
    values = parameter_values(sam, parameters or {})
    packaged, artifacts = _as_packaged(sam, path.parent)
    transformed = to_cloudformation(packaged, values, region)
    known = _Known({**values, **pseudo_parameters(stack_name, region, account_id)})
    conditions = evaluate_conditions(transformed.get("Conditions", {}), known)
    cloudformation = apply_conditions(transformed, conditions)
    planned, skipped = _classify(cloudformation.get("Resources", {}))
    return StackPlan(
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        parameters=values,
        resources=creation_order(planned),
        skipped=tuple(skipped),
        artifacts=artifacts,
        layers=_layer_dirs(cloudformation.get("Resources", {}), artifacts),
        cloudformation=cloudformation,
        conditions=conditions,
    )


class _Known:
    """What a condition may refer to: parameters and pseudo parameters (`intrinsics.Scope`)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def ref(self, name: str) -> Any:
        if name not in self._values:
            raise TemplateError(f"a condition refers to {name}; only parameters are known then")
        return self._values[name]

    def get_att(self, logical_id: str, attribute: str) -> Any:
        raise TemplateError(f"a condition refers to {logical_id}.{attribute}; only parameters are")


def apply_conditions(
    cloudformation: Mapping[str, Any], conditions: Mapping[str, bool]
) -> dict[str, Any]:
    """The template as CloudFormation creates it: resources and outputs whose condition is
    false left out, every `Fn::If` settled. A reference to a left-out resource (outside an
    `Fn::If` branch not taken) is an error, as it is for CloudFormation."""
    applied = dict(cloudformation)
    left_out: dict[str, str] = {}  # logical id -> the false condition
    for section in ("Resources", "Outputs"):
        kept: dict[str, Any] = {}
        for name, entry in cloudformation.get(section, {}).items():
            condition = entry.get("Condition")
            if condition is not None and condition not in conditions:
                raise TemplateError(f"{name}: condition {condition} is not declared in Conditions")
            if condition is not None and not conditions[condition]:
                if section == "Resources":
                    left_out[name] = condition
                continue
            settled = {k: v for k, v in entry.items() if k != "Condition"}
            kept[name] = choose_branches(settled, conditions)
        applied[section] = kept
    _refuse_references_to(left_out, applied)
    return applied


def _refuse_references_to(left_out: Mapping[str, str], template: Mapping[str, Any]) -> None:
    owners = [
        (lid, r.get("Properties", {}), r.get("DependsOn", []))
        for lid, r in template["Resources"].items()
    ]
    owners += [(f"Outputs.{name}", o.get("Value"), []) for name, o in template["Outputs"].items()]
    for owner, value, depends_on in owners:
        named = references(value) | set([depends_on] if isinstance(depends_on, str) else depends_on)
        if missing := sorted(named & set(left_out)):
            because = ", ".join(f"{m} (condition {left_out[m]})" for m in missing)
            raise TemplateError(f"{owner} refers to what its condition leaves out: {because}")


def load_sam_template(path: Path) -> dict[str, Any]:
    """The template as plain data, short-form tags (`!Ref`, `!Sub`, ...) as long forms."""
    try:
        loaded = cfn_yaml.load(str(path))
    except (OSError, yaml.YAMLError) as error:
        raise TemplateError(f"cannot read {path}: {error}") from error
    if not isinstance(loaded, dict):
        raise TemplateError(f"{path} is not a template (no mapping at the top)")
    # A JSON round trip drops cfn-lint's position-carrying node classes.
    plain: dict[str, Any] = json.loads(json.dumps(loaded))
    return plain


def parameter_values(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """Every declared parameter's value: given, else its Default; checked against AllowedValues."""
    declared: Mapping[str, Any] = template.get("Parameters", {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise TemplateError(f"parameters not declared by the template: {', '.join(unknown)}")
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if name not in given and "Default" not in spec:
            raise TemplateError(f"parameter {name} has no Default and no value was given")
        value = str(given.get(name, spec.get("Default")))
        allowed = [str(a) for a in spec.get("AllowedValues", [value])]
        if value not in allowed:
            raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
        values[name] = value
    return values


def _as_packaged(
    template: Mapping[str, Any], base_dir: Path
) -> tuple[dict[str, Any], dict[str, Path]]:
    """The template with local paths swapped for S3 placeholders, and where each one points."""
    packaged = copy.deepcopy(dict(template))
    owners = [(lid, r.get("Properties", {})) for lid, r in packaged.get("Resources", {}).items()]
    owners += [(f"Globals.{kind}", p) for kind, p in packaged.get("Globals", {}).items()]
    artifacts: dict[str, Path] = {}
    for owner, properties in owners:
        for key in _LOCAL_URI_PROPERTIES:
            uri = properties.get(key)
            if not isinstance(uri, str) or uri.startswith("s3://"):
                continue
            local = (base_dir / uri).resolve()
            if not local.exists():
                raise TemplateError(f"{owner}.{key}: {uri} does not exist under {base_dir}")
            artifacts[f"{owner}/{key}"] = local
            properties[key] = f"s3://{_ARTIFACT_BUCKET}/{owner}/{key}"
    return packaged, artifacts


def to_cloudformation(
    template: Mapping[str, Any], parameters: Mapping[str, str], region: str
) -> dict[str, Any]:
    """The SAM transform, offline: a fixed region and no managed-policy lookups."""
    fragment = copy.deepcopy(dict(template))
    values: dict[str, Any] = dict(parameters)
    to_py27_compatible_template(fragment, values)
    session = fake_session(region)
    previous_region = ArnGenerator.BOTO_SESSION_REGION_NAME
    try:
        # The Translator sets this class-wide from the session; it is put back afterwards.
        translator = Translator(None, Parser(), boto_session=session)
        translated = translator.translate(
            fragment, parameter_values=values, get_managed_policy_map=NoManagedPolicies().load
        )
    except InvalidDocumentException as error:
        causes = "; ".join(cause.message for cause in error.causes)
        raise TemplateError(f"the SAM transform rejected the template: {causes}") from error
    finally:
        ArnGenerator.BOTO_SESSION_REGION_NAME = previous_region
    result: dict[str, Any] = undo_mark_unicode_str_in_template(translated)
    return result


def _classify(
    resources: Mapping[str, Any],
) -> tuple[list[PlannedResource], list[SkippedResource]]:
    planned: list[PlannedResource] = []
    skipped: list[SkippedResource] = []
    for logical_id, resource in resources.items():
        kind = resource["Type"]
        if kind in UNMODELLED:
            skipped.append(SkippedResource(logical_id, kind, UNMODELLED[kind]))
        elif kind in CREATORS:
            properties = resource.get("Properties", {})
            explicit = resource.get("DependsOn", [])
            depends_on = references(properties) | set(
                [explicit] if isinstance(explicit, str) else explicit
            )
            planned.append(PlannedResource(logical_id, kind, properties, frozenset(depends_on)))
        else:
            raise UnknownResourceTypeError(
                f"{logical_id}: the local world neither creates {kind} nor names it in "
                "resources.UNMODELLED with a reason; add it to one of them"
            )
    return planned, skipped


def creation_order(planned: list[PlannedResource]) -> tuple[PlannedResource, ...]:
    """Each resource after those it refers to, otherwise in template order."""
    ids = {resource.logical_id for resource in planned}
    done: set[str] = set()
    ordered: list[PlannedResource] = []
    remaining = list(planned)
    while remaining:
        ready = [r for r in remaining if (r.depends_on & ids) <= done]
        if not ready:
            cycle = ", ".join(sorted(r.logical_id for r in remaining))
            raise TemplateError(f"circular references among {cycle}")
        ordered += ready
        done |= {r.logical_id for r in ready}
        remaining = [r for r in remaining if r.logical_id not in done]
    return tuple(ordered)


def _layer_dirs(resources: Mapping[str, Any], artifacts: Mapping[str, Path]) -> dict[str, Path]:
    layers: dict[str, Path] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::LayerVersion":
            continue
        key = resource.get("Properties", {}).get("Content", {}).get("S3Key")
        if key in artifacts:
            content = artifacts[key]
            # A prebuilt Python layer keeps its packages under python/; a source one (what
            # `sam build` builds from) has them at the top.
            layers[logical_id] = content / "python" if (content / "python").is_dir() else content
    return layers


@dataclass(frozen=True, slots=True)
class DeployedResource:
    logical_id: str
    type: str
    ref: str  # what `Ref` returns: a name, ARN or URL, per type
    attributes: Mapping[str, str]  # what `Fn::GetAtt` returns
    code: FunctionCode | None = None  # Lambda functions only


@dataclass(frozen=True, slots=True)
class DeployedStack:
    plan: StackPlan
    resources: Mapping[str, DeployedResource]

    def ref(self, logical_id: str) -> str:
        return self._resource(logical_id).ref

    def get_att(self, logical_id: str, attribute: str) -> str:
        return self._resource(logical_id).attributes[attribute]

    def function_code(self) -> dict[str, FunctionCode]:
        """Function name -> its local code, for `LambdaRunner.register_all`."""
        return {r.ref: r.code for r in self.resources.values() if r.code is not None}

    def _resource(self, logical_id: str) -> DeployedResource:
        if logical_id not in self.resources:
            raise TemplateError(f"{logical_id} was not created by this deployment")
        return self.resources[logical_id]


def deploy(plan: StackPlan, client: ClientFactory) -> DeployedStack:
    """Create every planned resource in moto, in order, through the clients `client` makes."""
    site = _Deployment(plan, client)
    resources: dict[str, DeployedResource] = {}
    for resource in plan.resources:
        try:
            created = CREATORS[resource.type](site, resource)
        except (ClientError, BotoCoreError) as error:
            raise TemplateError(f"{resource.logical_id} ({resource.type}): {error}") from error
        site.created[resource.logical_id] = created
        resources[resource.logical_id] = DeployedResource(
            resource.logical_id, resource.type, created.ref, created.attributes, created.code
        )
    return DeployedStack(plan, resources)


class _Deployment:
    """Resolves intrinsics against the plan and what has been created so far (`resources.Site`
    and `intrinsics.Scope`)."""

    def __init__(self, plan: StackPlan, client_factory: ClientFactory) -> None:
        self.plan = plan
        self.region = plan.region
        self.account_id = plan.account_id
        self.created: dict[str, Provisioned] = {}
        self._client_factory = client_factory
        self._clients: dict[str, Any] = {}
        self._pseudo = plan.pseudo_parameters()
        self._skipped = {skipped.logical_id: skipped for skipped in plan.skipped}

    def client(self, service_name: str) -> Any:
        if service_name not in self._clients:
            self._clients[service_name] = self._client_factory(service_name)
        return self._clients[service_name]

    def resolve(self, value: Any) -> Any:
        return resolve(value, self)

    def ref(self, name: str) -> Any:
        if name in self.plan.parameters:
            return self.plan.parameters[name]
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self.created:
            return self.created[name].ref
        if name in self._skipped:
            # Not created, yet other resources may name it (a layer, an API id in a URL).
            return f"{self.plan.stack_name}-{name}"
        raise TemplateError(f"Ref {name}: no parameter or resource of that name")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id in self.created:
            attributes = self.created[logical_id].attributes
            if attribute not in attributes:
                known = ", ".join(sorted(attributes))
                raise TemplateError(f"{logical_id}.{attribute}: the local world provides {known}")
            return attributes[attribute]
        if logical_id in self._skipped:
            skipped = self._skipped[logical_id]
            raise TemplateError(
                f"{logical_id}.{attribute}: {skipped.type} is not created locally: {skipped.reason}"
            )
        raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute}: no resource of that name")

    def physical_name(self, resource: PlannedResource, explicit: Any, max_length: int) -> str:
        # CloudFormation would add a random suffix; locally a stable name is easier to find.
        if explicit:
            return str(explicit)
        return f"{self.plan.stack_name}-{resource.logical_id}"[:max_length]

    def artifact(self, location: Any) -> Path:
        key = location.get("S3Key", location.get("Key")) if isinstance(location, dict) else None
        if not isinstance(key, str) or key not in self.plan.artifacts:
            raise TemplateError(
                f"{location!r} is not a local CodeUri, ContentUri or DefinitionUri of the template"
            )
        return self.plan.artifacts[key]

    def layer_dirs(self, layers: Any) -> tuple[Path, ...]:
        # A layer this template builds is a local directory; one named by ARN (a public
        # layer) cannot be fetched, so it stays off the path.
        refs = [layer["Ref"] for layer in layers if isinstance(layer, dict) and "Ref" in layer]
        return tuple(self.plan.layers[ref] for ref in refs if ref in self.plan.layers)
