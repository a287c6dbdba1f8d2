"""Builds the scheduled fleet validation from settings: DynamoDB for the domains and results,
EventBridge for state changes, EMF for metrics. Kept apart from `wiring` so that the validate
Lambda does not import the Cloudflare SDK on a cold start.

The clients come from botocore itself, not boto3: for DynamoDB and EventBridge clients
`boto3.client` only wraps the same botocore call (boto3's own customisations are for S3 and for
resources), and importing boto3 and the s3transfer it brings costs about 20 ms of the validate
Lambda's cold start for nothing."""

from __future__ import annotations

import asyncio

import botocore.session

from mtasts.dns_lookup import AsyncDnsLookup
from mtasts.dynamo_store import DynamoValidationStore
from mtasts.fleet_reporting import EventBridgeStateChanges, PowertoolsFleetMetrics
from mtasts.fleet_validation import FleetSummary, validate_fleet
from mtasts.policy_fetch import AsyncHttpsPolicyFetcher
from mtasts.smtp_probe import strict_client_context
from mtasts.validator import Validator
from mtasts.validator_settings import ValidatorSettings


def run_fleet_validation(
    settings: ValidatorSettings, only: frozenset[str] | None = None
) -> FleetSummary:
    """One run over every managed domain (the schedule), or over `only` (the workflow's check
    right after a change)."""
    settings.require("domains_table")
    session = botocore.session.get_session()
    dynamodb = session.create_client("dynamodb", endpoint_url=settings.aws_endpoint_url)
    events = session.create_client("events", endpoint_url=settings.aws_endpoint_url)
    store = DynamoValidationStore(dynamodb, str(settings.domains_table))
    nameserver, port = settings.nameserver()

    async def run() -> FleetSummary:
        async with AsyncHttpsPolicyFetcher(
            ca_bundle=settings.ca_bundle,
            connect_to=settings.policy_targets(),
            timeout=settings.fetch_timeout_seconds,
        ) as fetcher:
            validator = Validator(
                lookup=AsyncDnsLookup(nameserver, port),
                fetcher=fetcher,
                smtp_context=strict_client_context(settings.ca_bundle),
                smtp_connect_to=settings.smtp_targets(),
            )
            return await validate_fleet(
                validator.validate,
                store,
                EventBridgeStateChanges(events, settings.event_bus_name),
                PowertoolsFleetMetrics(settings.metrics_namespace),
                settings.clock().now,
                only,
            )

    return asyncio.run(run())
