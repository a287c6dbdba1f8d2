"""The CloudFormation intrinsic functions a transformed SAM template needs, resolved locally.

Supported: `Ref` (parameters, pseudo parameters, resources), `Fn::GetAtt`, `Fn::Sub` (both
forms, `${!Literal}` escapes) and `Fn::Join`. Conditions (`Fn::Equals`, `Fn::Not`, `Fn::And`,
`Fn::Or`, `Condition`) and what hangs on them (a resource's or output's `Condition`, `Fn::If`)
are settled once for the whole template by `apply_conditions`, before anything is planned, as
CloudFormation settles them before it creates anything; `resolve` never meets them. Anything
else is a `TemplateError`, so a template that starts using another function fails loudly here
rather than creating something half-resolved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from mtasts_local.aws.errors import TemplateError


class _NoValue:
    """`Ref: AWS::NoValue`: the property or list item it stands for is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()
_SUB_NAME = re.compile(r"\$\{([^}]+)\}")


class Scope(Protocol):
    """What intrinsics are resolved against: parameters and the resources created so far."""

    def ref(self, name: str) -> Any: ...

    def get_att(self, logical_id: str, attribute: str) -> Any: ...


def resolve(value: Any, scope: Scope) -> Any:
    """`value` with every intrinsic replaced by its value; `AWS::NoValue` entries removed."""
    if isinstance(value, dict):
        if len(value) == 1:
            [(key, argument)] = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                return _intrinsic(key, argument, scope)
        resolved = {k: resolve(v, scope) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}
    if isinstance(value, list):
        return [item for item in (resolve(v, scope) for v in value) if item is not NO_VALUE]
    return value


def _intrinsic(name: str, argument: Any, scope: Scope) -> Any:
    if name == "Ref":
        return scope.ref(_string(name, argument))
    if name == "Fn::GetAtt":
        logical_id, attribute = _get_att_target(argument)
        return scope.get_att(logical_id, attribute)
    if name == "Fn::Sub":
        return _sub(argument, scope)
    if name == "Fn::Join":
        return _join(argument, scope)
    if name == "Fn::If":
        raise TemplateError(
            "Fn::If is settled for the whole template by apply_conditions before anything is "
            f"resolved; this value still holds one: {argument!r}"
        )
    raise TemplateError(f"{name} is not supported by the local world's resolver")


def _string(name: str, argument: Any) -> str:
    if not isinstance(argument, str):
        raise TemplateError(f"{name} expects a string, got {argument!r}")
    return argument


def _get_att_target(argument: Any) -> tuple[str, str]:
    if isinstance(argument, str):
        argument = argument.split(".", 1)
    if not (isinstance(argument, list) and len(argument) == 2):
        raise TemplateError(f"Fn::GetAtt expects [LogicalId, Attribute], got {argument!r}")
    return str(argument[0]), str(argument[1])


def _sub(argument: Any, scope: Scope) -> str:
    text, variables = (argument, {}) if isinstance(argument, str) else _sub_form(argument)
    values = {name: resolve(v, scope) for name, v in variables.items()}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):  # ${!Literal} stands for the text ${Literal}
            return "${" + name[1:] + "}"
        if name in values:
            return str(values[name])
        if "." in name and not name.startswith("AWS::"):
            return str(scope.get_att(*name.split(".", 1)))
        return str(scope.ref(name))

    return _SUB_NAME.sub(substitute, text)


def _sub_form(argument: Any) -> tuple[str, Mapping[str, Any]]:
    if (
        isinstance(argument, list)
        and len(argument) == 2
        and isinstance(argument[0], str)
        and isinstance(argument[1], dict)
    ):
        return argument[0], argument[1]
    raise TemplateError(f"Fn::Sub expects a string or [string, {{variables}}], got {argument!r}")


def _join(argument: Any, scope: Scope) -> str:
    if not (isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str)):
        raise TemplateError(f"Fn::Join expects [delimiter, [values]], got {argument!r}")
    parts = resolve(argument[1], scope)
    if not isinstance(parts, list):
        raise TemplateError(f"Fn::Join expects a list of values, got {parts!r}")
    return argument[0].join(str(part) for part in parts)


def references(value: Any) -> set[str]:
    """Every name `value` refers to through Ref, GetAtt or Sub: parameters and logical ids."""
    found: set[str] = set()
    if isinstance(value, dict):
        if len(value) == 1:
            [(key, argument)] = value.items()
            found |= _references_of(key, argument)
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def _references_of(key: str, argument: Any) -> set[str]:
    if key == "Ref" and isinstance(argument, str):
        return {argument}
    if key == "Fn::GetAtt":
        return {_get_att_target(argument)[0]}
    if key == "Fn::Sub":
        text, variables = (argument, {}) if isinstance(argument, str) else _sub_form(argument)
        names = {m.group(1).split(".", 1)[0] for m in _SUB_NAME.finditer(text)}
        return {n for n in names if not n.startswith("!") and n not in variables}
    return set()


# --- conditions ----------------------------------------------------------------------------------

_MAX_OPERANDS: Final = 10  # Fn::And and Fn::Or take 2 to 10 conditions


def evaluate_conditions(conditions: Mapping[str, Any], scope: Scope) -> dict[str, bool]:
    """Every condition's value. `scope` answers parameters and pseudo parameters; a condition
    cannot depend on a resource, since CloudFormation decides them before creating any."""
    values: dict[str, bool] = {}

    def condition(name: str, seen: tuple[str, ...]) -> bool:
        if name in values:
            return values[name]
        if name in seen:
            raise TemplateError(f"condition {name} depends on itself: {' -> '.join(seen)}")
        if name not in conditions:
            raise TemplateError(f"condition {name} is not declared in Conditions")
        values[name] = _truth(conditions[name], scope, lambda n: condition(n, (*seen, name)))
        return values[name]

    for name in conditions:
        condition(name, ())
    return values


def _truth(expression: Any, scope: Scope, condition: Callable[[str], bool]) -> bool:
    if not (isinstance(expression, dict) and len(expression) == 1):
        raise TemplateError(f"a condition must be one condition function, got {expression!r}")
    [(name, argument)] = expression.items()
    if name == "Condition":
        return condition(_string(name, argument))
    if name == "Fn::Equals":
        if not (isinstance(argument, list) and len(argument) == 2):
            raise TemplateError(f"Fn::Equals expects [value, value], got {argument!r}")
        left, right = (_comparable(resolve(value, scope)) for value in argument)
        return left == right
    if name == "Fn::Not":
        if not (isinstance(argument, list) and len(argument) == 1):
            raise TemplateError(f"Fn::Not expects [condition], got {argument!r}")
        return not _truth(argument[0], scope, condition)
    if name in ("Fn::And", "Fn::Or"):
        if not (isinstance(argument, list) and 2 <= len(argument) <= _MAX_OPERANDS):
            raise TemplateError(f"{name} expects 2 to {_MAX_OPERANDS} conditions, got {argument!r}")
        truths = [_truth(operand, scope, condition) for operand in argument]
        return all(truths) if name == "Fn::And" else any(truths)
    raise TemplateError(f"{name} is not a condition function")


def _comparable(value: Any) -> str:
    # CloudFormation compares as strings: a Number parameter "5" equals a YAML 5, "true" a true.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def choose_branches(value: Any, conditions: Mapping[str, bool]) -> Any:
    """`value` with every `Fn::If` replaced by the branch its condition picks (which may be
    `Ref: AWS::NoValue`, left for `resolve` to remove)."""
    if isinstance(value, dict):
        if len(value) == 1 and "Fn::If" in value:
            return choose_branches(_branch(value["Fn::If"], conditions), conditions)
        return {key: choose_branches(item, conditions) for key, item in value.items()}
    if isinstance(value, list):
        return [choose_branches(item, conditions) for item in value]
    return value


def _branch(argument: Any, conditions: Mapping[str, bool]) -> Any:
    if not (isinstance(argument, list) and len(argument) == 3 and isinstance(argument[0], str)):
        raise TemplateError(f"Fn::If expects [condition, if true, if false], got {argument!r}")
    name, when_true, when_false = argument
    if name not in conditions:
        raise TemplateError(f"Fn::If names condition {name}, which Conditions does not declare")
    return when_true if conditions[name] else when_false
