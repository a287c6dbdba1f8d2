"""The one place that holds the Powertools Logger, Tracer and Metrics.

Powertools reads its settings (`POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_METRICS_NAMESPACE`, log
level) from the environment when these are created; the template sets them in Globals. The
metrics namespace and service dimension are the exception: if they were not there at import,
they are read when metrics are flushed, because a metric without a namespace is refused outright
(the whole invocation fails) and this module may be imported before a handler's environment
exists (a test process, or the local world running several functions in one interpreter).
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

NAMESPACE_VARIABLE = "POWERTOOLS_METRICS_NAMESPACE"
SERVICE_VARIABLE = "POWERTOOLS_SERVICE_NAME"


class _NamespaceAtFlush(AmazonCloudWatchEMFProvider):
    @property  # type: ignore[override]
    def namespace(self) -> str | None:
        return self._namespace or os.getenv(NAMESPACE_VARIABLE)

    @namespace.setter
    def namespace(self, value: str | None) -> None:
        self._namespace = value

    @property  # type: ignore[override]
    def service(self) -> str | None:  # the `service` dimension, read the same way
        return self._service or os.getenv(SERVICE_VARIABLE)

    @service.setter
    def service(self, value: str | None) -> None:
        self._service = value


# What the product calls out through: AWS APIs (botocore) and HTTPS clients (httpx: the
# Cloudflare SDK, the deploy gate's policy fetch, callbacks). By default the Tracer patches
# every library X-Ray knows that is importable (sqlite3, SQLAlchemy, requests, database
# drivers...): imports that no handler uses, at every cold start.
TRACED_MODULES = ("botocore", "httpx")

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics(
    provider=_NamespaceAtFlush(
        metric_set=Metrics._metrics,
        dimension_set=Metrics._dimensions,
        metadata_set=Metrics._metadata,
        default_dimensions=Metrics._default_dimensions,
    )
)
