"""EventBridge schedules: the template's `AWS::Events::Rule`s with a `ScheduleExpression`, fired
on demand or by a background ticker, with the event EventBridge sends a Lambda target.

    schedules = ScheduleDriver(StackView(stack), world.client)
    schedules.fire("ValidateFunction")          # a function's logical id or name, or a rule's
    with ScheduleTicker(schedules, interval=60):  # every enabled schedule, every 60 s
        ...

moto stores rules but never fires them. The world does not honour the expression's period
(`rate(1 day)` would make a demo wait a day): the ticker's interval stands in for all of them.
A target's constant `Input` replaces the event, as EventBridge does; other input transformations
are not modelled. Targets are invoked synchronously so that errors are reported, not lost.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

from mtasts_local.drivers.errors import DriverError, NoRouteError
from mtasts_local.drivers.stack import StackView
from mtasts_local.service import Service

ClientFactory = Callable[[str], Any]
RULE = "AWS::Events::Rule"
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScheduleTarget:
    function_arn: str
    input: str | None = None  # a constant JSON text that replaces the event


@dataclass(frozen=True, slots=True)
class Schedule:
    logical_id: str
    rule_name: str
    rule_arn: str
    expression: str
    enabled: bool
    targets: tuple[ScheduleTarget, ...]


@dataclass(frozen=True, slots=True)
class Invocation:
    function_name: str
    function_error: str | None
    payload: Any
    event: Any


def schedules(view: StackView) -> tuple[Schedule, ...]:
    """Every scheduled rule of the template with its Lambda targets."""
    found = []
    for logical_id, properties in view.resources_of_type(RULE):
        if "ScheduleExpression" not in properties:
            continue  # an event-pattern rule: nothing fires it on a clock
        name = properties.get("Name") or view.physical_name(logical_id)
        targets = tuple(
            ScheduleTarget(str(target["Arn"]), target.get("Input"))
            for target in properties.get("Targets", [])
            if str(target.get("Arn", "")).startswith("arn:aws:lambda:")
        )
        found.append(
            Schedule(
                logical_id=logical_id,
                rule_name=name,
                rule_arn=f"arn:aws:events:{view.region}:{view.account_id}:rule/{name}",
                expression=properties["ScheduleExpression"],
                enabled=properties.get("State", "ENABLED") == "ENABLED",
                targets=targets,
            )
        )
    return tuple(found)


def scheduled_event(
    rule_arn: str, region: str, account_id: str, moment: datetime | None = None
) -> dict[str, Any]:
    """The event EventBridge sends when a schedule fires."""
    moment = moment or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


class ScheduleDriver:
    def __init__(self, view: StackView, client: ClientFactory) -> None:
        self._view = view
        self._client = client
        self.schedules = schedules(view)

    def find(self, name: str) -> tuple[Schedule, ...]:
        """The schedules `name` means: a rule (name or logical id), or a function that is a
        target (its name, logical id or ARN)."""
        function = self._function_name(name)
        found = tuple(
            s
            for s in self.schedules
            if name in (s.rule_name, s.logical_id, s.rule_arn)
            or any(self._view.function_name(t.function_arn) == function for t in s.targets)
        )
        if not found:
            known = ", ".join(s.rule_name for s in self.schedules) or "none"
            raise NoRouteError(f"no schedule is or targets {name!r} (schedules: {known})")
        return found

    def fire(self, name: str) -> list[Invocation]:
        return [i for schedule in self.find(name) for i in self.fire_schedule(schedule)]

    def fire_all(self) -> list[Invocation]:
        """Every enabled schedule once (what the ticker does on each tick)."""
        return [i for s in self.schedules if s.enabled for i in self.fire_schedule(s)]

    def fire_schedule(self, schedule: Schedule) -> list[Invocation]:
        view = self._view
        event = scheduled_event(schedule.rule_arn, view.region, view.account_id)
        return [
            self._invoke(t, json.loads(t.input) if t.input else event) for t in schedule.targets
        ]

    def _invoke(self, target: ScheduleTarget, event: Any) -> Invocation:
        response = self._client("lambda").invoke(
            FunctionName=target.function_arn, Payload=json.dumps(event).encode()
        )
        payload = response["Payload"].read()
        return Invocation(
            self._view.function_name(target.function_arn),
            response.get("FunctionError"),
            json.loads(payload) if payload else None,
            event,
        )

    def _function_name(self, name: str) -> str:
        if name in self._view.stack.resources:
            return self._view.stack.ref(name)  # a logical id
        return self._view.function_name(name)


class ScheduleTicker(Service):
    """Fires every enabled schedule every `interval` seconds on a background thread."""

    def __init__(self, driver: ScheduleDriver, interval: float) -> None:
        if interval <= 0:
            raise DriverError(f"a ticker interval must be positive, not {interval}")
        self.driver = driver
        self.interval = interval
        self.ticks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._thread is not None:
            raise DriverError("the schedule ticker is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="schedule-ticker")
        self._thread.start()
        return self

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                for invocation in self.driver.fire_all():
                    if invocation.function_error:
                        _log.warning(
                            "scheduled %s failed: %s", invocation.function_name, invocation.payload
                        )
            except Exception:  # a tick that fails must not end the ticker
                _log.exception("a scheduled tick failed")
            self.ticks += 1
