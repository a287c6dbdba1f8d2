"""statemachines/promotion.asl.json as a graph: every state reachable, every Task retried on
transient errors and caught, every placeholder given by the template, and the waits read from
the execution's input (so tests shorten them without editing the definition)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.unit.test_template import load_template

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = ROOT / "statemachines" / "promotion.asl.json"
TRANSIENT = {"CloudflareTransientError", "PolicyNotServedError", "DnsLookupError", "StoreError"}


def states() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEFINITION.read_text())["States"]
    return loaded


def targets(state: dict[str, Any]) -> set[str]:
    found = {state["Next"]} if "Next" in state else set()
    found |= {c["Next"] for c in state.get("Choices", [])}
    found |= {c["Next"] for c in state.get("Catch", [])}
    found |= {state["Default"]} if "Default" in state else set()
    return found


def test_every_state_is_reachable_and_every_target_exists() -> None:
    graph = states()
    start = json.loads(DEFINITION.read_text())["StartAt"]
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += sorted(targets(graph[name]))
    assert seen == set(graph)


def test_every_task_retries_transient_errors_and_catches_the_rest() -> None:
    for name, state in states().items():
        if state["Type"] != "Task":
            continue
        retried = {e for r in state["Retry"] for e in r["ErrorEquals"]}
        assert TRANSIENT <= retried, name
        assert "Lambda.TooManyRequestsException" in retried, name
        assert [c["ErrorEquals"] for c in state["Catch"]] == [["States.ALL"]], name
        expected = "Failed" if name == "RecordFailure" else "RecordFailure"
        assert state["Catch"][0]["Next"] == expected, name


def test_every_placeholder_is_substituted_by_the_template() -> None:
    used = set(re.findall(r"\$\{(\w+)\}", DEFINITION.read_text()))
    machine = load_template()["Resources"]["PromotionStateMachine"]["Properties"]
    assert used == set(machine["DefinitionSubstitutions"])
    invoked = {p["LambdaInvokePolicy"]["FunctionName"]["Ref"] for p in machine["Policies"]}
    assert {f"{name.removesuffix('Arn')}" for name in used} == invoked


def test_waits_come_from_the_input_and_have_defaults() -> None:
    graph = states()
    waits = {n: s for n, s in graph.items() if s["Type"] == "Wait"}
    assert all("SecondsPath" in s and "Seconds" not in s for s in waits.values())
    defaults = graph["Start"]["Result"]["timing"]
    for state in waits.values():
        assert state["SecondsPath"].removeprefix("$.timing.") in defaults
    assert "Assign" not in DEFINITION.read_text() and "JSONata" not in DEFINITION.read_text()
