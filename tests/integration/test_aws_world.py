"""The local world's AWS: moto over HTTP, resources from a SAM template, real handlers run by
Lambda invocations from boto3 and from Step Functions executions of the real definition.

The stack is `aws_fixture/template.yaml`: a table that `functions/record/app.py` writes (with
logic from a layer), a state machine that invokes it, and one of each other resource kind.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.awslambda.models import LambdaFunction
from moto.stepfunctions.parser.utils import TMP_THREADS

from mtasts_local.aws.errors import (
    LambdaRunnerError,
    MotoWorldError,
    TemplateError,
    UnknownResourceTypeError,
)
from mtasts_local.aws.handlers import FunctionCode
from mtasts_local.aws.intrinsics import NO_VALUE, resolve
from mtasts_local.aws.lambda_runner import InvokeMode, LambdaRunner
from mtasts_local.aws.moto_world import MotoWorld
from mtasts_local.aws.template import (
    REPO_ROOT,
    REPO_TEMPLATE,
    UNMODELLED,
    DeployedStack,
    StackPlan,
    deploy,
    read_template,
)
from mtasts_local.config import load_world
from mtasts_local.world import template_parameters

FIXTURE = Path(__file__).parent / "aws_fixture"
STACK = "fixture"
TABLE = "records-test"  # TableName: !Sub records-${Environment}, Environment defaults to test
EXECUTION_DEADLINE_SECONDS = 30  # liveness only: a broken engine fails instead of hanging
WAIT_AN_HOUR = {
    "StartAt": "Wait",
    "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}},
}


@pytest.fixture(scope="module")
def world() -> Iterator[MotoWorld]:
    with MotoWorld() as world:
        yield world


@pytest.fixture(scope="module")
def plan(world: MotoWorld) -> StackPlan:
    return read_template(FIXTURE / "template.yaml", stack_name=STACK, region=world.region)


@pytest.fixture
def stack(world: MotoWorld, plan: StackPlan) -> DeployedStack:
    world.reset()
    return deploy(plan, world.client)


@pytest.fixture
def runner(world: MotoWorld, stack: DeployedStack) -> Iterator[LambdaRunner]:
    with LambdaRunner(endpoint_url=world.endpoint_url) as runner:
        runner.register_all(stack.function_code())
        yield runner


def run_execution(world: MotoWorld, stack: DeployedStack, name: str, event: Any) -> dict[str, Any]:
    sfn = world.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.ref("TinyStateMachine"), name=name, input=json.dumps(event)
    )["executionArn"]
    deadline = time.monotonic() + EXECUTION_DEADLINE_SECONDS
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"execution {name} never finished"
        time.sleep(0.02)
    return dict(described)


def record(world: MotoWorld, record_id: str) -> dict[str, Any] | None:
    response = world.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": record_id}})
    item: dict[str, Any] | None = response.get("Item")
    return item


def invoke(world: MotoWorld, function_name: str, event: Any) -> tuple[str | None, Any]:
    response = world.client("lambda").invoke(
        FunctionName=function_name, Payload=json.dumps(event).encode()
    )
    return response.get("FunctionError"), json.loads(response["Payload"].read())


@pytest.mark.usefixtures("runner")
def test_an_execution_runs_the_real_handler_and_its_write_lands_in_dynamodb(
    world: MotoWorld, stack: DeployedStack
) -> None:
    execution = run_execution(world, stack, "records-r1", {"id": "r-1", "kind": "note"})

    assert execution["status"] == "SUCCEEDED"
    stored = record(world, "r-1")
    assert stored is not None
    record_function = stack.ref("RecordFunction")
    assert stored["recorded_by"] == {"S": record_function}
    assert stored["environment"] == {"S": "test"}  # !Ref Environment, resolved from Globals
    assert json.loads(stored["event"]["S"]) == {"id": "r-1", "kind": "note"}
    # The second Task names CountFunction by its ARN (no integration) and sees the first's write.
    assert json.loads(execution["output"]) == {
        "recorded": {"pk": "r-1", "recorded_by": record_function},
        "count": 1,
    }


@pytest.mark.usefixtures("runner")
def test_a_handler_error_fails_the_execution_with_its_error_type(
    world: MotoWorld, stack: DeployedStack
) -> None:
    execution = run_execution(world, stack, "no-id", {"kind": "note"})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "MissingRecordIdError"
    events = world.client("stepfunctions").get_execution_history(
        executionArn=execution["executionArn"]
    )["events"]
    [failed] = [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
    assert failed["error"] == "MissingRecordIdError"
    cause = json.loads(failed["cause"])
    assert cause["errorType"] == "MissingRecordIdError"
    assert cause["errorMessage"] == "the event has no 'id' to record it under"
    assert world.client("dynamodb").scan(TableName=TABLE)["Count"] == 0


@pytest.mark.usefixtures("runner")
def test_boto3_invoke_runs_the_handler_and_reports_its_error_as_lambda_does(
    world: MotoWorld, stack: DeployedStack
) -> None:
    name = stack.ref("RecordFunction")

    assert invoke(world, name, {"id": "direct"}) == (None, {"pk": "direct", "recorded_by": name})
    assert record(world, "direct") is not None

    function_error, payload = invoke(world, name, {})
    assert function_error == "Unhandled"
    assert payload["errorType"] == "MissingRecordIdError"
    assert any("record_item" in frame for frame in payload["stackTrace"])


@pytest.mark.usefixtures("runner")
def test_an_event_invocation_runs_the_handler_and_a_dry_run_does_not(
    world: MotoWorld, stack: DeployedStack
) -> None:
    lambda_ = world.client("lambda")
    name = stack.ref("RecordFunction")

    queued = lambda_.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"id": "e"}')
    dry = lambda_.invoke(FunctionName=name, InvocationType="DryRun", Payload=b'{"id": "dry"}')

    assert (queued["StatusCode"], dry["StatusCode"]) == (202, 204)
    assert record(world, "e") is not None
    assert record(world, "dry") is None


@pytest.mark.usefixtures("runner")
def test_the_environment_is_the_functions_during_the_call_and_restored_after(
    world: MotoWorld, stack: DeployedStack
) -> None:
    before = dict(os.environ)

    assert invoke(world, stack.ref("RecordFunction"), {"id": "env"})[0] is None

    assert dict(os.environ) == before


def test_the_subprocess_mode_runs_the_handler_in_its_own_interpreter(
    world: MotoWorld, stack: DeployedStack
) -> None:
    name = stack.ref("RecordFunction")
    with LambdaRunner(endpoint_url=world.endpoint_url, mode=InvokeMode.SUBPROCESS) as runner:
        runner.register_all(stack.function_code())

        # The handler logs to stdout; the payload still parses, so the logs went elsewhere.
        assert invoke(world, name, {"id": "sub"}) == (None, {"pk": "sub", "recorded_by": name})
        function_error, payload = invoke(world, name, {"id": ""})

    assert record(world, "sub") is not None
    assert function_error == "Unhandled"
    assert payload["errorType"] == "MissingRecordIdError"


def test_a_function_without_registered_code_fails_instead_of_calling_docker(
    world: MotoWorld, stack: DeployedStack
) -> None:
    with LambdaRunner(endpoint_url=world.endpoint_url):
        function_error, payload = invoke(world, stack.ref("RecordFunction"), {"id": "x"})

    assert function_error == "Unhandled"
    assert payload["errorType"] == "LocalWorld.CodeNotRegistered"


def test_a_handler_that_cannot_be_imported_is_reported_as_lambda_reports_it(
    world: MotoWorld, stack: DeployedStack, runner: LambdaRunner, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text("import no_such_module_anywhere\n", encoding="utf-8")
    runner.register(stack.ref("RecordFunction"), FunctionCode(tmp_path))

    function_error, payload = invoke(world, stack.ref("RecordFunction"), {"id": "x"})

    assert function_error == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module_anywhere" in payload["errorMessage"]


def test_the_patch_is_undone_and_only_one_runner_is_installed_at_a_time(world: MotoWorld) -> None:
    original = LambdaFunction.__dict__["invoke"]
    with LambdaRunner(endpoint_url=world.endpoint_url):
        assert LambdaFunction.__dict__["invoke"] is not original
        with pytest.raises(LambdaRunnerError):
            LambdaRunner(endpoint_url=world.endpoint_url).install()
    assert LambdaFunction.__dict__["invoke"] is original


def test_the_template_creates_each_resource_with_resolved_references(
    world: MotoWorld, stack: DeployedStack
) -> None:
    table = world.client("dynamodb").describe_table(TableName=TABLE)["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-kind"]
    ttl = world.client("dynamodb").describe_time_to_live(TableName=TABLE)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    names = world.client("dynamodb").describe_table(TableName=stack.ref("NamesTable"))["Table"]
    assert names["KeySchema"] == [{"AttributeName": "name", "KeyType": "HASH"}]

    queue_url = stack.ref("WorkQueue")
    queue = world.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    assert queue["Attributes"]["VisibilityTimeout"] == "60"
    secret = world.client("secretsmanager").get_secret_value(SecretId="fixture/test/api-key")
    assert len(secret["SecretString"]) == 24 and secret["SecretString"].isalnum()
    world.client("s3").head_bucket(Bucket=stack.ref("ArchiveBucket"))

    function = world.client("lambda").get_function_configuration(
        FunctionName=stack.ref("RecordFunction")
    )
    assert function["Handler"] == "app.record_handler"
    assert function["Environment"]["Variables"] == {
        "ENVIRONMENT": "test",
        "POWERTOOLS_SERVICE_NAME": "aws-fixture",
        "TABLE_NAME": TABLE,
        "TABLE_ARN": table["TableArn"],
        "TOPIC_ARN": f"arn:aws:sns:{world.region}:{world.account_id}:alerts-test",
        "QUEUE_URL": queue_url,
        "SECRET_ARN": secret["ARN"],
        "BUS_NAME": "fixture-test",
        "ARCHIVE_BUCKET": stack.ref("ArchiveBucket"),
    }
    definition = json.loads(
        world.client("stepfunctions").describe_state_machine(
            stateMachineArn=stack.ref("TinyStateMachine")
        )["definition"]
    )
    assert definition["States"]["Record"]["Parameters"]["FunctionName"] == function["FunctionArn"]
    assert definition["States"]["Count"]["Resource"] == stack.get_att("CountFunction", "Arn")
    # SAM's policy templates use Fn::Sub with a variable map and pseudo parameters.
    policy = world.client("iam").get_role_policy(
        RoleName=stack.ref("RecordFunctionRole"), PolicyName="RecordFunctionRolePolicy0"
    )["PolicyDocument"]
    assert policy["Statement"][0]["Resource"] == [table["TableArn"], f"{table['TableArn']}/index/*"]


def test_what_the_world_does_not_create_is_skipped_with_its_reason(plan: StackPlan) -> None:
    skipped = {s.type: s for s in plan.skipped}

    assert set(skipped) == {
        "AWS::Lambda::LayerVersion",
        "AWS::Events::Rule",  # the Schedule event
        "AWS::Lambda::Permission",
    }
    for kind, resource in skipped.items():
        assert resource.reason == UNMODELLED[kind]
    # The layer is not created, but its content is on the functions' path.
    [layer_dir] = plan.layers.values()
    assert layer_dir == FIXTURE / "layers" / "record_keeping"


def test_the_repo_template_reads_and_reports_its_layer_as_skipped(world: MotoWorld) -> None:
    required = template_parameters(REPO_TEMPLATE, load_world(None), {})
    plan = read_template(parameters=required, region=world.region)

    # Every parameter gets a value: its Default, or what the world knows for the required ones.
    assert plan.parameters["Environment"] == "dev" and plan.parameters["LogLevel"] == "INFO"
    assert required.items() <= plan.parameters.items()
    skipped = {r.logical_id: r for r in plan.skipped}
    [layer] = [r for name, r in skipped.items() if name.startswith("MtaStsLayer")]
    assert skipped["ValidateFunctionSchedule"].reason == UNMODELLED["AWS::Events::Rule"]
    assert layer.reason == UNMODELLED["AWS::Lambda::LayerVersion"]
    assert plan.layers[layer.logical_id] == REPO_ROOT / "layers" / "mtasts"
    world.reset()
    assert set(deploy(plan, world.client).resources) == {r.logical_id for r in plan.resources}


def test_a_resource_type_named_nowhere_is_an_error(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n  Mystery:\n    Type: AWS::Example::Mystery\n", encoding="utf-8"
    )

    with pytest.raises(UnknownResourceTypeError, match="AWS::Example::Mystery"):
        read_template(template)


def test_reset_forgets_what_was_created(world: MotoWorld, stack: DeployedStack) -> None:
    assert TABLE in world.client("dynamodb").list_tables()["TableNames"]

    world.reset()

    assert world.client("dynamodb").list_tables()["TableNames"] == []


def test_only_one_world_runs_per_process(world: MotoWorld) -> None:
    with pytest.raises(MotoWorldError, match="another MotoWorld"):
        MotoWorld().start()


def test_reset_stops_running_executions_and_leaves_no_engine_thread(
    world: MotoWorld, stack: DeployedStack
) -> None:
    sfn = world.client("stepfunctions")
    waits = sfn.create_state_machine(
        name="waits-an-hour",
        roleArn=stack.get_att("TinyStateMachineRole", "Arn"),
        definition=json.dumps(WAIT_AN_HOUR),
    )["stateMachineArn"]
    sfn.start_execution(stateMachineArn=waits, name="waiting")
    # moto's engine lists the threads it runs executions in.
    assert any(thread.is_alive() for thread in TMP_THREADS)

    world.reset()

    assert not any(thread.is_alive() for thread in TMP_THREADS)
    assert sfn.list_state_machines()["stateMachines"] == []


class FixedScope:
    def ref(self, name: str) -> Any:
        return {"Env": "dev", "AWS::Region": "eu-west-1", "AWS::NoValue": NO_VALUE}[name]

    def get_att(self, logical_id: str, attribute: str) -> Any:
        return f"arn:{logical_id}:{attribute}"


def test_intrinsics_resolve_as_cloudformation_does() -> None:
    template = {
        "Name": {"Fn::Sub": "app-${Env}-${AWS::Region}"},
        "Literal": {"Fn::Sub": "${!Env} stays"},
        "WithVariables": {"Fn::Sub": ["${Table}/index/*", {"Table": {"Ref": "Env"}}]},
        "Attribute": {"Fn::Sub": "${Queue.Arn}"},
        "Joined": {"Fn::Join": [",", [{"Ref": "Env"}, {"Fn::GetAtt": "Queue.Name"}]]},
        "Dropped": {"Ref": "AWS::NoValue"},
        "List": ["kept", {"Ref": "AWS::NoValue"}],
    }

    assert resolve(template, FixedScope()) == {
        "Name": "app-dev-eu-west-1",
        "Literal": "${Env} stays",
        "WithVariables": "dev/index/*",
        "Attribute": "arn:Queue:Arn",
        "Joined": "dev,arn:Queue:Name",
        "List": ["kept"],
    }
    with pytest.raises(TemplateError, match="Fn::If"):
        resolve({"Fn::If": ["IsProd", "a", "b"]}, FixedScope())
