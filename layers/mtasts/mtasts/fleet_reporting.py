"""Where fleet validation results go in AWS: an EventBridge event per state change (for
ticketing and chat), and EMF metrics per domain and per run (for dashboards and alarms)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from mtasts.errors import MtaStsError
from mtasts.fleet_validation import ValidationRecord

EVENT_SOURCE = "mtasts-autopilot"
EVENT_DETAIL_TYPE = "MTA-STS domain validation changed"


class EventPublishError(MtaStsError):
    """EventBridge did not accept a state-change event."""


class EventBridgeStateChanges:
    def __init__(self, client: Any, bus_name: str = "default") -> None:
        self._client = client
        self._bus = bus_name

    def changed(self, previous: ValidationRecord | None, current: ValidationRecord) -> None:
        detail = {
            "domain": current.domain,
            "ok": current.ok,
            "previous_ok": previous.ok if previous else None,
            "checked_at": current.checked_at.isoformat(),
            "mode": current.mode,
            "findings": [f.model_dump(mode="json") for f in current.findings],
        }
        reply = self._client.put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": EVENT_DETAIL_TYPE,
                    "Detail": json.dumps(detail),
                    "EventBusName": self._bus,
                    "Resources": [],
                }
            ]
        )
        if reply.get("FailedEntryCount"):
            raise EventPublishError(f"{current.domain}: EventBridge refused the event: {reply}")


class PowertoolsFleetMetrics:
    """One EMF document per domain (dimension `Domain`) and the run's totals."""

    def __init__(self, namespace: str) -> None:
        self._namespace = namespace

    def domain(self, result: ValidationRecord) -> None:
        figures: list[tuple[str, float, MetricUnit]] = [
            ("ValidationErrors", result.errors, MetricUnit.Count),
            ("ValidationWarnings", result.warnings, MetricUnit.Count),
        ]
        days = result.days_to_expiry()
        if days is not None:
            figures.append(("DaysToCertificateExpiry", days, MetricUnit.Count))
        for name, value, unit in figures:
            with single_metric(
                name=name, unit=unit, value=value, namespace=self._namespace
            ) as metric:
                metric.add_dimension(name="Domain", value=result.domain)

    def run(self, checked: int, failing: int) -> None:
        for name, value in (("DomainsChecked", checked), ("DomainsFailing", failing)):
            with single_metric(
                name=name, unit=MetricUnit.Count, value=value, namespace=self._namespace
            ):
                pass
