"""The local deployer's Conditions: evaluated from parameters as CloudFormation evaluates them,
resources and outputs left out when theirs is false, `Fn::If` settled (`AWS::NoValue`
included), and a reference to what was left out refused. Pure: the SAM transform runs offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mtasts_local.aws.errors import TemplateError
from mtasts_local.aws.intrinsics import NO_VALUE, choose_branches, evaluate_conditions, resolve
from mtasts_local.aws.template import apply_conditions, read_template


class Parameters:
    def __init__(self, **values: Any) -> None:
        self.values = {**values, "AWS::Region": "eu-west-1", "AWS::NoValue": NO_VALUE}

    def ref(self, name: str) -> Any:
        return self.values[name]

    def get_att(self, logical_id: str, attribute: str) -> Any:
        raise AssertionError("conditions never ask for attributes")


CONDITIONS = {
    "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
    "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
    "ProdInIreland": {
        "Fn::And": [{"Condition": "IsProd"}, {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]}]
    },
    "ProdOrBig": {"Fn::Or": [{"Condition": "IsProd"}, {"Fn::Equals": [{"Ref": "Size"}, 5]}]},
    "Flagged": {"Fn::Equals": [{"Ref": "Flag"}, True]},
    "Named": {"Fn::Equals": [{"Fn::Sub": "${Env}-app"}, "dev-app"]},
}


def test_conditions_are_evaluated_from_parameters_and_one_another() -> None:
    dev = evaluate_conditions(CONDITIONS, Parameters(Env="dev", Size="5", Flag="true"))
    prod = evaluate_conditions(CONDITIONS, Parameters(Env="prod", Size="1", Flag="false"))

    assert dev == {
        "IsProd": False,
        "NotProd": True,
        "ProdInIreland": False,
        "ProdOrBig": True,  # "5" equals a YAML 5: CloudFormation compares strings
        "Flagged": True,  # and "true" a YAML true
        "Named": True,
    }
    assert prod == {
        "IsProd": True,
        "NotProd": False,
        "ProdInIreland": True,
        "ProdOrBig": True,
        "Flagged": False,
        "Named": False,
    }


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({"A": {"Condition": "B"}, "B": {"Condition": "A"}}, "depends on itself"),
        ({"A": {"Condition": "Missing"}}, "Missing is not declared"),
        ({"A": {"Fn::Equals": ["one"]}}, "Fn::Equals expects"),
        ({"A": {"Fn::Not": [{"Condition": "B"}, {"Condition": "B"}]}, "B": {}}, "Fn::Not"),
        ({"A": {"Fn::And": [{"Fn::Equals": ["a", "a"]}]}}, "2 to 10 conditions"),
        ({"A": {"Fn::If": ["B", "x", "y"]}}, "Fn::If is not a condition function"),
        ({"A": "true"}, "one condition function"),
    ],
)
def test_a_broken_condition_is_a_template_error(conditions: dict[str, Any], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        evaluate_conditions(conditions, Parameters(Env="dev"))


def test_fn_if_takes_its_branch_and_no_value_removes_the_property_or_item() -> None:
    value = {
        "Name": {"Fn::If": ["IsProd", "prod-table", "dev-table"]},
        "Backup": {"Fn::If": ["IsProd", {"Enabled": True}, {"Ref": "AWS::NoValue"}]},
        "Tags": ["always", {"Fn::If": ["IsProd", "prod", {"Ref": "AWS::NoValue"}]}],
        "Nested": {"Fn::If": ["IsProd", "x", {"Fn::If": ["Big", "big", "small"]}]},
    }
    conditions = {"IsProd": False, "Big": True}

    chosen = choose_branches(value, conditions)

    assert resolve(chosen, Parameters()) == {
        "Name": "dev-table",
        "Tags": ["always"],
        "Nested": "big",
    }
    with pytest.raises(TemplateError, match="Unknown, which Conditions does not declare"):
        choose_branches({"Fn::If": ["Unknown", 1, 2]}, conditions)
    with pytest.raises(TemplateError, match="Fn::If expects"):
        choose_branches({"Fn::If": ["IsProd", 1]}, conditions)


TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Always": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "ProdOnly": {"Type": "AWS::SQS::Queue", "Condition": "IsProd", "Properties": {}},
        "User": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": {"Fn::If": ["IsProd", {"Ref": "ProdOnly"}, "dev-queue"]},
            },
        },
    },
    "Outputs": {
        "ProdQueue": {"Condition": "IsProd", "Value": {"Ref": "ProdOnly"}},
        "Queue": {"Value": {"Fn::If": ["IsProd", {"Ref": "ProdOnly"}, {"Ref": "Always"}]}},
    },
}


def test_a_false_condition_leaves_its_resources_and_outputs_out() -> None:
    dev = apply_conditions(TEMPLATE, {"IsProd": False})
    prod = apply_conditions(TEMPLATE, {"IsProd": True})

    assert sorted(dev["Resources"]) == ["Always", "User"]
    assert dev["Resources"]["User"]["Properties"] == {"QueueName": "dev-queue"}
    assert dev["Outputs"] == {"Queue": {"Value": {"Ref": "Always"}}}
    assert sorted(prod["Resources"]) == ["Always", "ProdOnly", "User"]
    assert "Condition" not in prod["Resources"]["ProdOnly"]
    assert prod["Outputs"]["ProdQueue"] == {"Value": {"Ref": "ProdOnly"}}


@pytest.mark.parametrize(
    ("owner", "reference"),
    [
        ("Resources", {"Properties": {"QueueName": {"Ref": "ProdOnly"}}}),
        ("Resources", {"Properties": {"Arn": {"Fn::GetAtt": ["ProdOnly", "Arn"]}}}),
        ("Resources", {"Properties": {"Url": {"Fn::Sub": "${ProdOnly}/x"}}}),
        ("Resources", {"DependsOn": "ProdOnly", "Properties": {}}),
        ("Outputs", {"Value": {"Ref": "ProdOnly"}}),
    ],
)
def test_a_reference_to_what_a_condition_left_out_is_refused(
    owner: str, reference: dict[str, Any]
) -> None:
    template: dict[str, Any] = {
        "Resources": {**TEMPLATE["Resources"]},
        "Outputs": {},
    }
    entry = {"Type": "AWS::SQS::Queue", **reference} if owner == "Resources" else reference
    template[owner]["Referrer"] = entry

    with pytest.raises(TemplateError, match=r"ProdOnly \(condition IsProd\)"):
        apply_conditions(template, {"IsProd": False})


def test_an_undeclared_resource_condition_is_refused() -> None:
    template = {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Condition": "Nope"}}}

    with pytest.raises(TemplateError, match="condition Nope is not declared"):
        apply_conditions(template, {})


def test_a_sam_template_is_planned_with_its_conditions_applied(tmp_path: Path) -> None:
    template = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Parameters": {
            "Env": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]}
        },
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
        "Resources": {
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "TableName": {"Fn::If": ["IsProd", "prod-table", {"Ref": "AWS::NoValue"}]},
                },
            },
            "Alarms": {"Type": "AWS::SNS::Topic", "Condition": "IsProd"},
        },
    }
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(template))

    dev = read_template(path)
    prod = read_template(path, parameters={"Env": "prod"})

    assert dev.conditions == {"IsProd": False}
    assert [r.logical_id for r in dev.resources] == ["Table"]
    assert resolve(dev.resources[0].properties, Parameters()).get("TableName") is None
    assert sorted(r.logical_id for r in prod.resources) == ["Alarms", "Table"]
    assert (
        prod.resources[[r.logical_id for r in prod.resources].index("Table")].properties[
            "TableName"
        ]
        == "prod-table"
    )
    with pytest.raises(TemplateError, match="is not one of"):
        read_template(path, parameters={"Env": "staging"})
