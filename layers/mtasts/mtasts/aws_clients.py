"""boto3 clients, made once per warm Lambda container (creating one costs tens of
milliseconds) and shared by every use case's wiring. `endpoint_url` points them at the local
world's moto; in AWS it is None."""

from __future__ import annotations

import functools
from typing import Any

import boto3


@functools.cache
def aws_client(service: str, endpoint_url: str | None) -> Any:
    return boto3.client(service, endpoint_url=endpoint_url)
