"""Metrics flushed after this module was imported without a handler's environment still carry
the namespace the environment gives at flush time, instead of failing the invocation."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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


def test_in_lambda_the_tracer_patches_aws_and_https_clients_and_nothing_else() -> None:
    probe = (
        "import sys, mtasts.observability\n"
        "from aws_xray_sdk.core import patcher\n"
        "print(sorted(patcher._PATCHED_MODULES), 'sqlite3' in sys.modules)\n"
    )
    lambda_like = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(sys.path),
        "LAMBDA_TASK_ROOT": "/var/task",
        "AWS_LAMBDA_FUNCTION_NAME": "validate",
        "POWERTOOLS_SERVICE_NAME": "mtasts-autopilot",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], env=lambda_like, capture_output=True, text=True, check=True
    )

    assert result.stdout.split("]")[0] + "]" == "['botocore', 'httpx']"
    assert result.stdout.strip().endswith("False")  # the sqlite3 patch's import is gone
