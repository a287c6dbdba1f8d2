"""Fault injection for the Cloudflare API stand-in.

A rule names one operation (see `server.py` for the list) or `"*"` for all of them, a kind of
fault, and when it fires: on given call numbers of that operation (1-based, as counted by the
stand-in), at a rate drawn from a seeded random generator, or on every call. `times` caps how
often a rule fires. The first rule that fires wins.

Kinds:
- `RATE_LIMIT`: HTTP 429 with `Retry-After` (Cloudflare's throttling answer).
- `SERVER_ERROR`: an HTTP 5xx answer.
- `SLOW`: the normal answer, after `delay` seconds.
- `DROP`: the connection is closed without any answer.

With `after_handling=True` the request takes effect first and only its answer is replaced (or
lost): the case where a client retries a create that already happened.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

ANY_OPERATION = "*"


class FaultRuleError(ValueError):
    """A fault rule that cannot fire as written."""


class FaultKind(StrEnum):
    RATE_LIMIT = "rate-limit"
    SERVER_ERROR = "server-error"
    SLOW = "slow"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class FaultRule:
    operation: str  # an operation name, or ANY_OPERATION
    kind: FaultKind
    on_calls: tuple[int, ...] = ()  # fire on these call numbers of the operation (1-based)
    rate: float | None = None  # or fire with this probability; neither: fire on every call
    times: int | None = None  # fire at most this many times; None: no limit
    status: int = 503  # the status of a SERVER_ERROR
    retry_after: float = 1.0  # seconds, sent with RATE_LIMIT (and SERVER_ERROR when > 0)
    delay: float = 0.0  # seconds before a SLOW answer
    after_handling: bool = False

    def __post_init__(self) -> None:
        if self.on_calls and self.rate is not None:
            raise FaultRuleError("give on_calls or rate, not both")
        if any(n < 1 for n in self.on_calls):
            raise FaultRuleError("call numbers start at 1")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise FaultRuleError(f"rate {self.rate} is not a probability")
        if self.times is not None and self.times < 1:
            raise FaultRuleError("times must be at least 1")
        if self.kind is FaultKind.SERVER_ERROR and not 500 <= self.status <= 599:
            raise FaultRuleError(f"status {self.status} is not a 5xx")
        if self.retry_after < 0 or self.delay < 0:
            raise FaultRuleError("retry_after and delay cannot be negative")

    def applies_to(self, operation: str) -> bool:
        return self.operation in (ANY_OPERATION, operation)


@dataclass(slots=True)
class _ActiveRule:
    rule: FaultRule
    fired: int = 0


class FaultInjector:
    """The rules in force, in the order they were added. Thread-safe."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._rules: list[_ActiveRule] = []
        self._fired: Counter[str] = Counter()

    @property
    def fired(self) -> Counter[str]:
        """Operation -> faults injected (a copy)."""
        with self._lock:
            return Counter(self._fired)

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        with self._lock:
            return tuple(active.rule for active in self._rules)

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(_ActiveRule(rule))
        return rule

    def clear(self, operation: str | None = None) -> None:
        """Drop every rule, or only the rules written for `operation`."""
        with self._lock:
            if operation is None:
                self._rules.clear()
                self._fired.clear()
            else:
                self._rules = [a for a in self._rules if a.rule.operation != operation]

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._random.seed(seed)

    def pick(self, operation: str, call_number: int) -> FaultRule | None:
        """The fault to inject into this call, if a rule fires."""
        with self._lock:
            for active in self._rules:
                if self._fires(active, operation, call_number):
                    active.fired += 1
                    self._fired[operation] += 1
                    return active.rule
        return None

    def _fires(self, active: _ActiveRule, operation: str, call_number: int) -> bool:
        rule = active.rule
        if not rule.applies_to(operation):
            return False
        if rule.times is not None and active.fired >= rule.times:
            return False
        if rule.on_calls:
            return call_number in rule.on_calls
        if rule.rate is not None:
            return self._random.random() < rule.rate
        return True
