"""template.yaml and samconfig.toml: what CloudFormation gets after the SAM transform.

The transform is aws-sam-translator, the library behind the AWS::Serverless transform. It gets
a stand-in for its IAM-backed managed-policy loader and a fixed region: nothing touches AWS.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"

RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
POWERTOOLS_VARIABLES = {
    "POWERTOOLS_SERVICE_NAME": "mtasts-autopilot",
    "POWERTOOLS_METRICS_NAMESPACE": "MtaStsAutopilot",
    "POWERTOOLS_LOG_LEVEL": {"Ref": "LogLevel"},
}
# Properties that name local paths; `sam package` swaps them for S3 locations before the
# transform runs, and the translator refuses anything else.
LOCAL_URI_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")
PROBE = "GlobalsProbeFunction"


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short forms (`!Ref X`, `!GetAtt A.B`, `!Sub ...`) as long forms."""


def _construct_intrinsic(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)
    assert isinstance(loaded, dict)
    return loaded


class NoManagedPolicies:
    """The translator's ManagedPolicyLoader lists AWS managed policies from IAM; this lists none.

    The template names no managed policy by bare name; if one ever does, add it here.
    """

    def load(self) -> dict[str, str]:
        return {}


def as_packaged(template: dict[str, Any]) -> dict[str, Any]:
    packaged = copy.deepcopy(template)
    for logical_id, resource in packaged.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        for key in LOCAL_URI_PROPERTIES:
            uri = properties.get(key)
            if isinstance(uri, str) and not uri.startswith("s3://"):
                properties[key] = f"s3://sam-artifacts/{logical_id}/{key}"
    return packaged


def with_probe_function(template: dict[str, Any]) -> dict[str, Any]:
    """A function that declares nothing of its own, so it has only what Globals give it."""
    probed = copy.deepcopy(template)
    probed["Resources"][PROBE] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {"CodeUri": "s3://sam-artifacts/probe", "Handler": "app.handler"},
    }
    return probed


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


@pytest.fixture(autouse=True)
def _fixed_region(monkeypatch: pytest.MonkeyPatch) -> None:
    # The translator asks a boto3 session for the region (pseudo parameters, ARN partition);
    # boto3 reads it from the environment, so no profile or metadata endpoint is consulted.
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


@pytest.fixture
def template() -> dict[str, Any]:
    return load_template()


def sam_transform(template: dict[str, Any], **parameters: str) -> dict[str, Any]:
    result: dict[str, Any] = transform(as_packaged(template), parameters, NoManagedPolicies())
    return result


@pytest.fixture
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    return sam_transform(template, Environment="dev")


def layer_of(transformed: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    layers = of_type(transformed, "AWS::Lambda::LayerVersion")
    assert len(layers) == 1, f"expected the one core layer, got {sorted(layers)}"
    [(logical_id, layer)] = layers.items()
    return logical_id, layer


def test_the_loader_reads_short_form_intrinsics() -> None:
    text = "a: !Ref X\nb: !GetAtt R.Arn\nc: !Sub '${X}-y'\nd: !Join [',', [p, q]]\n"
    assert yaml.load(text, Loader=CfnLoader) == {
        "a": {"Ref": "X"},
        "b": {"Fn::GetAtt": ["R", "Arn"]},
        "c": {"Fn::Sub": "${X}-y"},
        "d": {"Fn::Join": [",", ["p", "q"]]},
    }


def test_the_transform_leaves_plain_cloudformation(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    # The translator transforms whatever it is given; CloudFormation only calls it if asked.
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    assert "Transform" not in transformed
    assert "Globals" not in transformed
    leftovers = {r["Type"] for r in transformed["Resources"].values()}
    assert not {t for t in leftovers if t.startswith("AWS::Serverless::")}


def test_the_layer_is_python313_on_arm64(transformed: dict[str, Any]) -> None:
    logical_id, layer = layer_of(transformed)
    assert logical_id.startswith("MtaStsLayer")
    assert layer["Properties"]["CompatibleRuntimes"] == [RUNTIME]
    assert layer["Properties"]["CompatibleArchitectures"] == [ARCHITECTURE]
    # Old versions are deleted, not retained forever, when the stack replaces them.
    assert layer["DeletionPolicy"] == "Delete"


def test_sam_build_builds_the_layer_for_the_architecture_it_declares(
    template: dict[str, Any],
) -> None:
    layer = template["Resources"]["MtaStsLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/mtasts/"
    assert layer["Properties"]["CompatibleRuntimes"] == [RUNTIME]
    # Built by layers/mtasts/Makefile, from the project root (it reads the pinned constraints):
    # SAM's python3.13 builder ships no bytecode, which every cold start would then compile.
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Metadata"]["WorkingDirectory"] == "."
    makefile = (ROOT / "layers" / "mtasts" / "Makefile").read_text()
    assert "build-MtaStsLayer:" in makefile and "--invalidation-mode unchecked-hash" in makefile
    # The wheels must be arm64's: x86_64 pydantic_core and orjson cannot load on arm64 functions.
    platforms = next(line for line in makefile.splitlines() if line.startswith("PIP_PLATFORMS"))
    assert all(p.endswith("_aarch64") for p in platforms.split("?=")[1].split())
    assert layer["Metadata"]["BuildArchitecture"] == ARCHITECTURE
    assert template["Globals"]["Function"]["Architectures"] == [ARCHITECTURE]


def test_globals_give_every_function_the_runtime_tracing_layer_and_powertools(
    template: dict[str, Any],
) -> None:
    function = template["Globals"]["Function"]
    assert function["Runtime"] == RUNTIME
    assert function["Architectures"] == [ARCHITECTURE]
    assert function["Tracing"] == "Active"
    assert (function["MemorySize"], function["Timeout"]) == (512, 30)
    assert function["Layers"] == [{"Ref": "MtaStsLayer"}]
    variables = function["Environment"]["Variables"]
    assert variables.items() >= POWERTOOLS_VARIABLES.items()
    assert variables["ENVIRONMENT"] == {"Ref": "Environment"}


def test_every_function_after_the_transform_has_what_globals_give(
    template: dict[str, Any],
) -> None:
    transformed = sam_transform(with_probe_function(template), Environment="dev")
    layer_id, _ = layer_of(transformed)
    functions = of_type(transformed, "AWS::Lambda::Function")
    assert PROBE in functions
    for logical_id, function in functions.items():
        properties = function["Properties"]
        assert properties["Runtime"] == RUNTIME, logical_id
        assert properties["Architectures"] == [ARCHITECTURE], logical_id
        assert properties["TracingConfig"] == {"Mode": "Active"}, logical_id
        assert {"Ref": layer_id} in properties["Layers"], logical_id
        variables = properties["Environment"]["Variables"]
        assert variables.items() >= POWERTOOLS_VARIABLES.items(), logical_id
    probe = functions[PROBE]["Properties"]
    assert (probe["MemorySize"], probe["Timeout"]) == (512, 30)


def test_parameters_name_the_environment_and_log_level(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert parameters["Environment"]["AllowedValues"] == ["dev", "staging", "prod"]
    assert parameters["Environment"]["Default"] == "dev"
    assert parameters["LogLevel"]["AllowedValues"] == ["DEBUG", "INFO", "WARNING", "ERROR"]
    assert parameters["LogLevel"]["Default"] == "INFO"


def test_the_layer_arn_is_an_output(transformed: dict[str, Any]) -> None:
    layer_id, _ = layer_of(transformed)
    assert transformed["Outputs"]["MtaStsLayerArn"]["Value"] == {"Ref": layer_id}


def samconfig_environments() -> dict[str, Any]:
    with SAMCONFIG.open("rb") as f:
        config = tomllib.load(f)
    assert config.pop("version") == 0.1
    return config


@pytest.mark.parametrize("env", ["default", "prod"])
def test_each_deploy_environment_is_complete(env: str) -> None:
    config = samconfig_environments()[env]
    # A config env never falls back to [default], so each one names its own stack.
    assert config["global"]["parameters"]["stack_name"].startswith("mtasts-autopilot-")
    deploy = config["deploy"]["parameters"]
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
    assert deploy["confirm_changeset"] is True
    assert deploy["resolve_s3"] is True


def test_samconfig_overrides_only_declared_parameters_with_allowed_values(
    template: dict[str, Any],
) -> None:
    declared = template["Parameters"]
    environments = samconfig_environments()
    overridden: dict[str, str] = {}
    for env, config in environments.items():
        overrides = config.get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
        pairs = dict(pair.split("=", 1) for pair in overrides.split())
        for name, value in pairs.items():
            assert name in declared, f"[{env}] overrides undeclared parameter {name}"
            assert value in declared[name].get("AllowedValues", [value]), f"[{env}] {name}"
        overridden[env] = pairs["Environment"]
    assert overridden == {"default": "dev", "prod": "prod"}


@pytest.mark.parametrize("env", ["default", "prod"])
def test_each_environment_gets_its_own_layer_name(template: dict[str, Any], env: str) -> None:
    overrides = samconfig_environments()[env]["deploy"]["parameters"]["parameter_overrides"]
    parameters = dict(pair.split("=", 1) for pair in overrides.split())
    _, layer = layer_of(sam_transform(template, **parameters))
    # Layer names are per account and region: dev and prod stacks there must not share one.
    expected = f"mtasts-core-{parameters['Environment']}"
    assert layer["Properties"]["LayerName"] == {"Fn::Sub": expected}
