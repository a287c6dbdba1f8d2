"""The one place that holds the Powertools Logger, Tracer and Metrics.

Powertools reads its settings (`POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_METRICS_NAMESPACE`, log
level) from the environment when these are created; the template sets them in Globals.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
