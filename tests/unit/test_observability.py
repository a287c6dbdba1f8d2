"""Metrics flushed after this module was imported without a handler's environment still carry
the namespace the environment gives at flush time, instead of failing the invocation."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.metrics import MetricUnit

from mtasts.observability import metrics


def test_the_namespace_and_service_come_from_the_environment_at_flush(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "MtaStsAutopilot")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "mtasts-autopilot")
    metrics.add_metric(name="ReportsCounted", unit=MetricUnit.Count, value=2)

    metrics.flush_metrics()

    blob = json.loads(capsys.readouterr().out)
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "MtaStsAutopilot"
    assert blob["ReportsCounted"] == [2.0]
    assert blob["service"] == "mtasts-autopilot"
