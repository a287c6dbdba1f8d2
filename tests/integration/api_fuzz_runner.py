"""schemathesis against a running API, from the API's own `/openapi.json`: every operation,
positive (schema-valid) and negative (schema-breaking) requests, each answer checked for server
errors and for conformance to the document (status code, content type, body schema).

Used by the bounded run in `make test` (test_api_schemathesis.py) and the longer one in
`benchmarks/api_fuzz.py`; failures are collected, not raised, so a run reports all of them.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class FuzzResult:
    requests: int = 0
    server_errors: int = 0
    nonconforming: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def fuzz(base_url: str, api_key: str, examples: int, seed: int = 8) -> FuzzResult:
    """`examples` generated requests per operation and generation mode."""
    headers = {"x-api-key": api_key}
    document = httpx.get(f"{base_url}/openapi.json", headers=headers, timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    result = FuzzResult()
    started = time.monotonic()
    for found in schema.get_all_operations():
        if not isinstance(found, Ok):
            result.failures.append(f"the document has an invalid operation: {found.err()}")
            result.nonconforming += 1
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run(found.ok(), mode, base_url, headers, examples, seed, result)
    result.seconds = time.monotonic() - started
    return result


def _run(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    headers: dict[str, str],
    examples: int,
    seed: int,
    result: FuzzResult,
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_seed(seed)
    def one(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=60)
        result.requests += 1
        result.statuses[response.status_code] += 1
        if response.status_code >= 500:
            result.server_errors += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, BaseExceptionGroup) as failure:  # schemathesis raises a group
            if response.status_code < 500:
                result.nonconforming += 1
            where = f"{case.method} {case.formatted_path} -> {response.status_code}"
            result.failures.append(f"{where}: {str(failure)[:600]}")

    try:
        one()
    except Unsatisfiable:
        pass  # nothing negative to say about an operation without inputs (GET /health)
