"""The CloudFormation intrinsic functions a transformed SAM template needs, resolved locally.

Supported: `Ref` (parameters, pseudo parameters, resources), `Fn::GetAtt`, `Fn::Sub` (both
forms, `${!Literal}` escapes) and `Fn::Join`. Anything else is a `TemplateError`, so a template
that starts using `Fn::If` fails loudly here rather than creating something half-resolved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
