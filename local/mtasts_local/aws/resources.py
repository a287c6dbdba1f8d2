"""How each CloudFormation resource type is created in moto, and the ONE table of the types the
local world does not create, each with the reason.

A creator gets the resource as the transformed template has it and a `Site` that resolves
intrinsics and hands out clients; it returns the resource's `Ref` value and the attributes
`Fn::GetAtt` may ask for, as CloudFormation would. Creators apply the properties that change
behaviour locally; encryption, retention and similar settings are left to real AWS.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Protocol

from mtasts_local.aws.errors import TemplateError
from mtasts_local.aws.handlers import FunctionCode

_API_GATEWAY = (
    "moto does not run API Gateway proxy integrations; the world's API server turns HTTP "
    "requests into REST proxy events for the handler and enforces the API key itself"
)
_SES_RECEIPT = (
    "moto does not receive mail or fire receipt rules; the world puts the raw mail in S3 and "
    "sends the SES receipt event to the ingest function itself"
)
_NOT_ENFORCED = "moto does not enforce IAM or resource policies, so there is nothing to create"
_ONLY_LATEST = "the world always invokes $LATEST, so versions and aliases add nothing locally"

UNMODELLED: Final[Mapping[str, str]] = MappingProxyType(
    {
        "AWS::Lambda::LayerVersion": (
            "moto cannot run layer content; the Lambda runner puts the layer's ContentUri on "
            "the handler's sys.path instead"
        ),
        "AWS::Lambda::Permission": _NOT_ENFORCED,
        "AWS::Lambda::Version": _ONLY_LATEST,
        "AWS::Lambda::Alias": _ONLY_LATEST,
        "AWS::Lambda::EventSourceMapping": (
            "the world delivers queue and stream events to functions itself"
        ),
        "AWS::Events::Rule": (
            "moto never fires schedules; the world sends the EventBridge scheduled event "
            "itself at a configurable interval"
        ),
        "AWS::Scheduler::Schedule": (
            "moto stores schedules but never fires them; the world sends the scheduled event "
            "itself at a configurable interval"
        ),
        "AWS::SES::ReceiptRuleSet": _SES_RECEIPT,
        "AWS::SES::ReceiptRule": _SES_RECEIPT,
        "AWS::ApiGateway::RestApi": _API_GATEWAY,
        "AWS::ApiGateway::Deployment": _API_GATEWAY,
        "AWS::ApiGateway::Stage": _API_GATEWAY,
        "AWS::ApiGateway::Account": _API_GATEWAY,
        "AWS::ApiGateway::ApiKey": _API_GATEWAY,
        "AWS::ApiGateway::UsagePlan": _API_GATEWAY,
        "AWS::ApiGateway::UsagePlanKey": _API_GATEWAY,
        "AWS::IAM::Policy": _NOT_ENFORCED,
        "AWS::IAM::ManagedPolicy": _NOT_ENFORCED,
        "AWS::S3::BucketPolicy": _NOT_ENFORCED,
        "AWS::SNS::TopicPolicy": _NOT_ENFORCED,
        "AWS::SQS::QueuePolicy": _NOT_ENFORCED,
        "AWS::Logs::LogGroup": "handlers log to the world's stderr, not to CloudWatch Logs",
        "AWS::CloudWatch::Alarm": "nothing evaluates metrics or alarms locally",
    }
)


@dataclass(frozen=True, slots=True)
class PlannedResource:
    """One resource of the transformed template, its properties still unresolved."""

    logical_id: str
    type: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    depends_on: frozenset[str] = frozenset()  # logical ids: references and DependsOn


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What CloudFormation would know after creating a resource."""

    ref: str
    attributes: Mapping[str, str]
    code: FunctionCode | None = None  # Lambda functions only: what the runner runs


class Site(Protocol):
    """What a creator needs from the deployment that calls it."""

    region: str
    account_id: str

    def client(self, service_name: str) -> Any: ...

    def resolve(self, value: Any) -> Any: ...

    def physical_name(self, resource: PlannedResource, explicit: Any, max_length: int) -> str: ...

    def artifact(self, location: Any) -> Path: ...

    def layer_dirs(self, layers: Any) -> tuple[Path, ...]: ...


Creator = Callable[[Site, PlannedResource], Provisioned]


def _pick(source: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: source[key] for key in keys if key in source}


_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "Tags",
    "DeletionProtectionEnabled",
    "TableClass",
)
_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")


def create_table(site: Site, resource: PlannedResource) -> Provisioned:
    """Keys, billing, GSIs and LSIs, streams and TTL (from Serverless::SimpleTable too)."""
    props = site.resolve(resource.properties)
    name = site.physical_name(resource, props.get("TableName"), 255)
    request = {"TableName": name, **_pick(props, _TABLE_KEYS)}
    for indexes in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if indexes in props:
            request[indexes] = [_pick(index, _INDEX_KEYS) for index in props[indexes]]
    if "StreamSpecification" in props:
        request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    dynamodb = site.client("dynamodb")
    table = dynamodb.create_table(**request)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
    attributes = {"Arn": table["TableArn"]}
    if "LatestStreamArn" in table:
        attributes["StreamArn"] = table["LatestStreamArn"]
    return Provisioned(ref=name, attributes=attributes)


def create_bucket(site: Site, resource: PlannedResource) -> Provisioned:
    """The bucket and its versioning; notifications are the world's to send."""
    props = site.resolve(resource.properties)
    name = site.physical_name(resource, props.get("BucketName"), 63).lower()
    request: dict[str, Any] = {"Bucket": name}
    if site.region != "us-east-1":  # S3 rejects an explicit us-east-1 constraint
        request["CreateBucketConfiguration"] = {"LocationConstraint": site.region}
    s3 = site.client("s3")
    s3.create_bucket(**request)
    if "VersioningConfiguration" in props:
        versioning = _pick(props["VersioningConfiguration"], ("Status",))
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=versioning)
    return Provisioned(
        ref=name,
        attributes={
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{site.region}.amazonaws.com",
        },
    )


def _as_attribute(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


_TOPIC_ATTRIBUTES = ("DisplayName", "FifoTopic", "ContentBasedDeduplication")


def create_topic(site: Site, resource: PlannedResource) -> Provisioned:
    props = site.resolve(resource.properties)
    name = site.physical_name(resource, props.get("TopicName"), 256)
    attributes = {k: _as_attribute(v) for k, v in _pick(props, _TOPIC_ATTRIBUTES).items()}
    sns = site.client("sns")
    arn = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
    for subscription in props.get("Subscription", []):
        sns.subscribe(
            TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"]
        )
    return Provisioned(ref=arn, attributes={"TopicArn": arn, "TopicName": name})


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "RedrivePolicy",
    "RedriveAllowPolicy",
)


def create_queue(site: Site, resource: PlannedResource) -> Provisioned:
    props = site.resolve(resource.properties)
    name = site.physical_name(resource, props.get("QueueName"), 75)
    if props.get("FifoQueue") and not name.endswith(".fifo"):
        name += ".fifo"
    attributes = {k: _as_attribute(v) for k, v in _pick(props, _QUEUE_ATTRIBUTES).items()}
    sqs = site.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return Provisioned(
        ref=url, attributes={"Arn": arn["QueueArn"], "QueueName": name, "QueueUrl": url}
    )


_PASSWORD_OPTIONS = (
    "PasswordLength",
    "ExcludeCharacters",
    "ExcludeLowercase",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "IncludeSpace",
    "RequireEachIncludedType",
)


def _secret_string(secrets: Any, props: Mapping[str, Any]) -> str:
    if "SecretString" in props:
        return str(props["SecretString"])
    generate = props.get("GenerateSecretString", {})
    password = secrets.get_random_password(**_pick(generate, _PASSWORD_OPTIONS))["RandomPassword"]
    if "SecretStringTemplate" not in generate:
        return str(password)
    document = json.loads(generate["SecretStringTemplate"])
    document[generate["GenerateStringKey"]] = password
    return json.dumps(document)


def create_secret(site: Site, resource: PlannedResource) -> Provisioned:
    """The secret with its value, generated as GenerateSecretString asks when not given."""
    props = site.resolve(resource.properties)
    name = site.physical_name(resource, props.get("Name"), 512)
    secrets = site.client("secretsmanager")
    request = {"Name": name, "SecretString": _secret_string(secrets, props)}
    request.update(_pick(props, ("Description", "Tags")))
    arn = secrets.create_secret(**request)["ARN"]
    return Provisioned(ref=arn, attributes={"Id": arn})


def create_event_bus(site: Site, resource: PlannedResource) -> Provisioned:
    props = site.resolve(resource.properties)
    name = site.physical_name(resource, props.get("Name"), 256)
    arn = site.client("events").create_event_bus(Name=name)["EventBusArn"]
    return Provisioned(ref=name, attributes={"Arn": arn, "Name": name})


def create_role(site: Site, resource: PlannedResource) -> Provisioned:
    """The role and its inline policies; Lambda refuses a role that does not exist.

    ManagedPolicyArns are not attached: moto loads no AWS managed policies and enforces none.
    """
    props = site.resolve(resource.properties)
    name = site.physical_name(resource, props.get("RoleName"), 64)
    iam = site.client("iam")
    role = iam.create_role(
        RoleName=name,
        Path=props.get("Path", "/"),
        AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
        **_pick(props, ("Description", "Tags")),
    )["Role"]
    for policy in props.get("Policies", []):
        # SAM's policy templates leave out Version, which IAM accepts and moto refuses.
        document = {"Version": "2012-10-17", **policy["PolicyDocument"]}
        iam.put_role_policy(
            RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(document)
        )
    return Provisioned(ref=name, attributes={"Arn": role["Arn"], "RoleId": role["RoleId"]})


_FUNCTION_KEYS = (
    "Runtime",
    "Handler",
    "Timeout",
    "MemorySize",
    "Architectures",
    "Description",
    "TracingConfig",
)


def _placeholder_zip(code_dir: Path) -> bytes:
    # moto wants a package; the runner never opens it and runs the code from code_dir.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("LOCAL_WORLD.txt", f"This function runs from {code_dir}\n")
    return buffer.getvalue()


def _environment_value(value: Any) -> str:
    # CloudFormation passes every environment value to Lambda as a string.
    return _as_attribute(value)


def create_function(site: Site, resource: PlannedResource) -> Provisioned:
    """The function with its resolved environment and role; layers become local directories."""
    props = site.resolve(resource.properties)
    name = site.physical_name(resource, props.get("FunctionName"), 64)
    layers = resource.properties.get("Layers", [])
    code = FunctionCode(site.artifact(props.get("Code")), site.layer_dirs(layers))
    variables = props.get("Environment", {}).get("Variables", {})
    request = {
        "FunctionName": name,
        "Role": props["Role"],
        "Code": {"ZipFile": _placeholder_zip(code.code_dir)},
        "Environment": {"Variables": {k: _environment_value(v) for k, v in variables.items()}},
        "Tags": {tag["Key"]: tag["Value"] for tag in props.get("Tags", [])},
        **_pick(props, _FUNCTION_KEYS),
    }
    arn = site.client("lambda").create_function(**request)["FunctionArn"]
    return Provisioned(ref=name, attributes={"Arn": arn}, code=code)


def _definition_text(site: Site, props: Mapping[str, Any]) -> str:
    if "Definition" in props:
        return json.dumps(props["Definition"])
    if "DefinitionString" in props:
        return str(props["DefinitionString"])
    if "DefinitionS3Location" in props:
        return site.artifact(props["DefinitionS3Location"]).read_text(encoding="utf-8")
    raise TemplateError("a state machine needs Definition, DefinitionString or DefinitionUri")


def substitute_definition(text: str, substitutions: Mapping[str, Any]) -> str:
    """Apply DefinitionSubstitutions as Step Functions does: `${Name}` becomes the value."""
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", _as_attribute(value))
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise TemplateError(f"the state machine definition is not JSON: {error}") from error
    return text


def create_state_machine(site: Site, resource: PlannedResource) -> Provisioned:
    """The definition (inline or from DefinitionUri) with its DefinitionSubstitutions applied."""
    props = site.resolve(resource.properties)
    name = site.physical_name(resource, props.get("StateMachineName"), 80)
    definition = substitute_definition(
        _definition_text(site, props), props.get("DefinitionSubstitutions", {})
    )
    created = site.client("stepfunctions").create_state_machine(
        name=name,
        definition=definition,
        roleArn=props["RoleArn"],
        type=props.get("StateMachineType", "STANDARD"),
        tags=[{"key": tag["Key"], "value": tag["Value"]} for tag in props.get("Tags", [])],
    )
    arn = created["stateMachineArn"]
    return Provisioned(ref=arn, attributes={"Arn": arn, "Name": name})


CREATORS: Final[Mapping[str, Creator]] = MappingProxyType(
    {
        "AWS::IAM::Role": create_role,
        "AWS::DynamoDB::Table": create_table,
        "AWS::S3::Bucket": create_bucket,
        "AWS::SNS::Topic": create_topic,
        "AWS::SQS::Queue": create_queue,
        "AWS::SecretsManager::Secret": create_secret,
        "AWS::Events::EventBus": create_event_bus,
        "AWS::Lambda::Function": create_function,
        "AWS::StepFunctions::StateMachine": create_state_machine,
    }
)
