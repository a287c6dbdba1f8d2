"""The stand-in's answers, checked against Cloudflare's own OpenAPI schema.

The schema is the subset in `../shared/cloudflare/openapi-subset.json` (beside the repository);
openapi-core validates each answer whose operation it covers. Operations it does not cover
(the Pages asset endpoints and `upload-token`) are counted as uncovered, not checked.

One adjustment, and why: Cloudflare writes each operation's `4XX` schema as
`allOf(<success envelope>, <failure envelope>)`, where `success` is `enum: [true]` in one and
`enum: [false]` in the other, so no body can ever satisfy it. Error answers are therefore
checked against the failure envelope alone (the `*_api-response-common-failure` component the
`4XX` schema names), and 5xx answers, which the schema leaves out, against the same.

`ContractRecorder` is what the stand-in uses to check every answer it sends: it keeps the
violations and how many answers were checked per operation, so a test suite can assert that
every answer it caused passed.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters

SPEC_SERVER_URL = "https://api.cloudflare.com"
_FAILURE_ENVELOPE = "api-response-common-failure"


class ContractError(Exception):
    """The OpenAPI schema could not be found or read."""


SHARED_SPEC_NAME = "openapi-subset.json"


def bundled_spec_path() -> Path:
    """The copy of the published Cloudflare API subset that ships with this package, so a fresh
    clone (CI included) checks the stand-in against the contract with nothing else on disk."""
    return Path(__file__).resolve().parent / "contract_data" / SHARED_SPEC_NAME


def shared_spec_path() -> Path | None:
    """`../shared/cloudflare/openapi-subset.json` beside the repository root, when it exists: the
    team's source of truth, which the bundled copy must equal (a test checks that)."""
    for directory in Path(__file__).resolve().parents:
        if (directory / "pyproject.toml").is_file():
            candidate = directory.parent / "shared" / "cloudflare" / SHARED_SPEC_NAME
            return candidate if candidate.is_file() else None
    return None


def default_spec_path() -> Path:
    path = bundled_spec_path()
    if not path.is_file():
        raise ContractError(f"the bundled OpenAPI subset is missing: {path}")
    return path


@dataclass(frozen=True, slots=True)
class Exchange:
    """One answer and the request line it answered."""

    method: str
    path: str  # the full request path, /client/v4/...
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Verdict:
    covered: bool  # False: the schema has no such operation, nothing was checked
    problems: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class ContractViolation:
    operation: str
    method: str
    path: str
    status: int
    problems: tuple[str, ...]


class OpenApiContract:
    """Cloudflare's OpenAPI schema, loaded once (it takes a moment), shareable between servers."""

    def __init__(self, spec_path: Path | None = None) -> None:
        self.spec_path = spec_path or default_spec_path()
        try:
            spec = json.loads(self.spec_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ContractError(f"cannot read {self.spec_path}: {error}") from error
        self._operations = _operation_patterns(spec)
        self._app = OpenAPI.from_dict(_with_failure_envelopes(spec))

    def covers(self, method: str, path: str) -> bool:
        return any(pattern.match(path) and m == method.lower() for pattern, m in self._operations)

    def check(self, exchange: Exchange) -> Verdict:
        if not self.covers(exchange.method, exchange.path):
            return Verdict(covered=False)
        request = _SpecRequest(host_url=SPEC_SERVER_URL, path=exchange.path, method=exchange.method)
        response = _SpecResponse(exchange.status, exchange.body, exchange.content_type)
        errors = self._app.iter_response_errors(request, response)
        return Verdict(covered=True, problems=tuple(_describe(e) for e in errors))


class ContractRecorder:
    """Checks answers as they are sent and keeps the tally. Thread-safe."""

    def __init__(self, contract: OpenApiContract) -> None:
        self.contract = contract
        self._lock = threading.Lock()
        self._violations: list[ContractViolation] = []
        self._checked: Counter[str] = Counter()
        self._uncovered: Counter[str] = Counter()

    def record(self, operation: str, exchange: Exchange) -> Verdict:
        try:
            verdict = self.contract.check(exchange)
        except Exception as error:  # the checker failing must show up, not break the answer
            verdict = Verdict(covered=True, problems=(f"the contract check failed: {error!r}",))
        with self._lock:
            if not verdict.covered:
                self._uncovered[operation] += 1
                return verdict
            self._checked[operation] += 1
            if not verdict.passed:
                self._violations.append(
                    ContractViolation(
                        operation, exchange.method, exchange.path, exchange.status, verdict.problems
                    )
                )
        return verdict

    @property
    def violations(self) -> tuple[ContractViolation, ...]:
        with self._lock:
            return tuple(self._violations)

    @property
    def checked(self) -> Counter[str]:
        """Operation -> answers checked against the schema."""
        with self._lock:
            return Counter(self._checked)

    @property
    def uncovered(self) -> Counter[str]:
        """Operation -> answers the schema had nothing to say about."""
        with self._lock:
            return Counter(self._uncovered)

    def reset(self) -> None:
        with self._lock:
            self._violations.clear()
            self._checked.clear()
            self._uncovered.clear()


@dataclass(slots=True)
class _SpecRequest:
    """The request side openapi-core needs to find an operation: only its URL and method."""

    host_url: str
    path: str
    method: str
    body: bytes | None = None
    content_type: str = "application/json"
    parameters: RequestParameters = field(default_factory=RequestParameters)

    def __post_init__(self) -> None:
        self.method = self.method.lower()


@dataclass(frozen=True, slots=True)
class _SpecResponse:
    status_code: int
    data: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def _operation_patterns(spec: dict[str, Any]) -> list[tuple[re.Pattern[str], str]]:
    """A regular expression per (path template, method) of the schema, on the full path."""
    prefix = urlsplit(spec["servers"][0]["url"]).path.rstrip("/")
    patterns: list[tuple[re.Pattern[str], str]] = []
    for template, operations in spec["paths"].items():
        regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        compiled = re.compile(f"^{re.escape(prefix)}{regex}$")
        patterns.extend((compiled, method) for method in operations if method != "parameters")
    return patterns


def _with_failure_envelopes(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of the schema whose error answers name only the failure envelope (see above)."""
    adjusted = copy.deepcopy(spec)
    for operations in adjusted["paths"].values():
        for operation in operations.values():
            responses = operation.get("responses") if isinstance(operation, dict) else None
            if not responses or "4XX" not in responses:
                continue
            media = responses["4XX"].get("content", {}).get("application/json", {})
            failure = _failure_part(media.get("schema", {}))
            if failure is not None:
                media["schema"] = failure
            responses.setdefault("5XX", copy.deepcopy(responses["4XX"]))
    return adjusted


def _failure_part(schema: dict[str, Any]) -> dict[str, Any] | None:
    for part in schema.get("allOf", []):
        if str(part.get("$ref", "")).endswith(_FAILURE_ENVELOPE):
            return dict(part)
    return None


def _describe(error: Exception) -> str:
    """The error and, when openapi-core has them, the schema errors under it."""
    details = getattr(error.__cause__, "schema_errors", None) or ()
    lines = [
        f"{'/'.join(str(p) for p in detail.absolute_path) or '<body>'}: {detail.message}"
        for detail in details
    ]
    return f"{error}" if not lines else f"{type(error).__name__}: {'; '.join(lines)}"
