"""statemachines/removal.asl.json as a graph: every state reachable, every Task retried on
transient errors and caught, its placeholder given by the template, the wait read from the
first step's answer (the longest max_age ever published)."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.unit.test_promotion_definition import ROOT, targets
from tests.unit.test_template import load_template

DEFINITION = ROOT / "statemachines" / "removal.asl.json"
TRANSIENT = {
    "CloudflareTransientError",
    "DnsLookupError",
    "StoreError",
    "Lambda.TooManyRequestsException",
}


def machine() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEFINITION.read_text())
    return loaded


def test_every_state_is_reachable_and_every_task_is_retried_and_caught() -> None:
    graph = machine()["States"]
    seen, todo = set(), [machine()["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += sorted(targets(graph[name]))
    assert seen == set(graph)
    for name, state in graph.items():
        if state["Type"] == "Task":
            retried = {e for r in state["Retry"] for e in r["ErrorEquals"]}
            assert TRANSIENT <= retried, name
            assert [c["ErrorEquals"] for c in state["Catch"]] == [["States.ALL"]], name


def test_the_wait_is_the_first_steps_answer_and_the_placeholder_is_the_templates() -> None:
    graph = machine()["States"]
    assert graph["WaitOutCaches"]["SecondsPath"] == "$.begun.wait_seconds"
    used = set(re.findall(r"\$\{(\w+)\}", DEFINITION.read_text()))
    properties = load_template()["Resources"]["RemovalStateMachine"]["Properties"]
    assert used == set(properties["DefinitionSubstitutions"]) == {"RemoveDomainFunctionArn"}
