"""Lambda: TLS-RPT reports mailed to the report address (SES receipt rule: S3 action, then this).

A message that is not a report, is broken or is refused goes to quarantine with its reason and
a metric; it never fails the invocation (that would make SES retry it forever). Only the
product's own storage failing raises, so Lambda retries and nothing is lost.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mtasts.observability import logger, metrics, tracer
from mtasts.report_wiring import ingest_ses_event
from mtasts.settings import load_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    outcomes = ingest_ses_event(event, load_settings(os.environ))
    for outcome in outcomes:
        if outcome.quarantined:
            logger.warning("report quarantined", extra={"reason": outcome.quarantined})
        for name, count in (
            ("ReportsCounted", len(outcome.counted)),
            ("ReportsDuplicate", len(outcome.duplicates)),
            ("ReportsUnmanagedDomain", len(outcome.unmanaged_domains)),
            ("ReportsQuarantined", int(outcome.quarantined is not None)),
        ):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    return [
        {
            "counted": o.counted,
            "duplicates": o.duplicates,
            "unmanaged_domains": o.unmanaged_domains,
            "quarantined": o.quarantined,
        }
        for o in outcomes
    ]
