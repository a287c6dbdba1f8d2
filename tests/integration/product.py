"""Calling the product's own functions in the local world, as AWS would."""

from __future__ import annotations

import json
from typing import Any

from mtasts_local.aws.template import DeployedStack
from mtasts_local.world import LocalWorld


def invoke(world: LocalWorld, stack: DeployedStack, function: str, event: Any) -> Any:
    response = world.aws.client("lambda").invoke(
        FunctionName=stack.ref(function), Payload=json.dumps(event).encode()
    )
    payload = json.loads(response["Payload"].read())
    if response.get("FunctionError"):
        return {"error": payload}
    return payload
