"""What the drivers need from a deployed stack: the transformed template's resources, including
those the world skipped (rules, APIs), with their intrinsics resolved against what was created.

Skipped resources are named as the deployment names them (`<stack>-<logical id>`) when a
reference to one has to be resolved, so a Ref to a receipt rule set or a rule still works.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mtasts_local.aws.errors import TemplateError
from mtasts_local.aws.intrinsics import resolve
from mtasts_local.aws.template import DeployedStack


@dataclass(frozen=True, slots=True)
class StackView:
    """Resolves any resource's properties of a deployed stack (`intrinsics.Scope`)."""

    stack: DeployedStack

    @property
    def region(self) -> str:
        return self.stack.plan.region

    @property
    def account_id(self) -> str:
        return self.stack.plan.account_id

    def resources_of_type(self, resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(logical id, resolved properties) of every resource of that type, in template order."""
        resources: Mapping[str, Any] = self.stack.plan.cloudformation.get("Resources", {})
        for logical_id, resource in resources.items():
            if resource.get("Type") == resource_type:
                yield logical_id, resolve(resource.get("Properties", {}), self)

    def physical_name(self, logical_id: str) -> str:
        if logical_id in self.stack.resources:
            return self.stack.ref(logical_id)
        return f"{self.stack.plan.stack_name}-{logical_id}"

    def function_name(self, arn_or_name: str) -> str:
        """`arn:aws:lambda:...:function:NAME[:qualifier]` or NAME -> NAME."""
        if arn_or_name.startswith("arn:"):
            parts = arn_or_name.split(":")
            return parts[6] if len(parts) > 6 else arn_or_name
        return arn_or_name

    # --- intrinsics.Scope ----------------------------------------------------------------------

    def ref(self, name: str) -> Any:
        plan = self.stack.plan
        if name in plan.parameters:
            return plan.parameters[name]
        pseudo = plan.pseudo_parameters()
        if name in pseudo:
            return pseudo[name]
        if name in self.stack.resources:
            return self.stack.ref(name)
        if name in plan.cloudformation.get("Resources", {}):
            return self.physical_name(name)
        raise TemplateError(f"Ref {name}: no parameter or resource of that name")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id not in self.stack.resources:
            raise TemplateError(f"{logical_id}.{attribute}: not created by this deployment")
        return self.stack.get_att(logical_id, attribute)
