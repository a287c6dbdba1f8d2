"""Builds the use cases from settings: the one place that picks adapters for the ports.

Handlers and commands call these factories; nothing here runs at import time. Clients are made
once per settings value (Lambda reuses them across warm invocations).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mtasts.cloudflare_client import make_client
from mtasts.cloudflare_dns import CloudflareDns
from mtasts.cloudflare_pages import CloudflarePagesHost
from mtasts.deploy import Deployer
from mtasts.dns_lookup import DnsLookup, DnsMxResolver
from mtasts.errors import SettingsError
from mtasts.policy_fetch import HttpsPolicyFetcher, wait_until_served
from mtasts.policy_state import AuditLog, PolicyStateStore
from mtasts.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from mtasts.config_store import DynamoDomainConfigStore
    from mtasts.dynamo_store import DynamoPolicyStore

TOKEN_PLACEHOLDER = "not-set"  # what the template puts in the secret until an admin replaces it
SECRET_CACHE_SECONDS = 300


def cloudflare_token(settings: Settings) -> str:
    """The API token: given directly (CLI, local world) or from Secrets Manager (AWS)."""
    if settings.cloudflare_api_token is not None:
        return settings.cloudflare_api_token.get_secret_value()
    settings.require("cloudflare_token_secret")
    provider = _secrets_provider(settings.aws_endpoint_url)
    token = str(provider.get(str(settings.cloudflare_token_secret), max_age=SECRET_CACHE_SECONDS))
    if token.strip() in ("", TOKEN_PLACEHOLDER):
        raise SettingsError(
            f"the secret {settings.cloudflare_token_secret} still holds the placeholder; put the "
            "Cloudflare API token into it"
        )
    return token.strip()


@functools.cache
def _secrets_provider(endpoint_url: str | None) -> SecretsProvider:
    """One caching provider per endpoint, on the product's own client: Powertools' default
    provider would keep the client (and so the endpoint) of the first call in the process."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider  # Lambdas only

    from mtasts.aws_clients import aws_client

    return SecretsProvider(boto3_client=aws_client("secretsmanager", endpoint_url))


def dynamo_store(settings: Settings) -> DynamoPolicyStore:
    from mtasts.aws_clients import aws_client  # boto3: the CLI without AWS never needs it
    from mtasts.dynamo_store import DynamoPolicyStore

    settings.require("domains_table")
    client = aws_client("dynamodb", settings.aws_endpoint_url)
    return DynamoPolicyStore(client, str(settings.domains_table))


def build_deployer(
    settings: Settings,
    *,
    store: PolicyStateStore | None = None,
    audit: AuditLog | None = None,
    on_step: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Deployer:
    """A Deployer on Cloudflare, live DNS and HTTPS; the store is DynamoDB unless one is given."""
    settings.require("cloudflare_account_id")
    client = make_client(cloudflare_token(settings), base_url=settings.cloudflare_base_url)
    dns = CloudflareDns(client)
    host = CloudflarePagesHost(client, str(settings.cloudflare_account_id), dns)
    nameserver, port = settings.nameserver()
    fetcher = HttpsPolicyFetcher(
        ca_bundle=settings.ca_bundle,
        connect_to=settings.policy_targets(),
        timeout=settings.fetch_timeout_seconds,
    )
    waits: dict[str, Any] = {} if sleep is None else {"sleep": sleep}

    def confirm_served(domain: str, expected: bytes) -> None:
        wait_until_served(
            fetcher,
            domain,
            expected,
            attempts=settings.verify_attempts,
            backoff=settings.verify_backoff_seconds,
            **waits,
        )

    if store is None or audit is None:
        table = dynamo_store(settings)
        store, audit = store or table, audit or table
    return Deployer(
        host=host,
        dns=dns,
        resolver=DnsMxResolver(DnsLookup(nameserver, port)),
        fetcher=fetcher,
        confirm_served=confirm_served,
        store=store,
        audit=audit,
        clock=settings.clock(),
        on_step=on_step or (lambda _message: None),
    )


@functools.cache
def deployer_for(settings: Settings) -> Deployer:
    """The Lambda handlers' Deployer, made once per warm container."""
    return build_deployer(settings)


@functools.cache
def config_store_for(settings: Settings) -> DynamoDomainConfigStore | None:
    """The domain configurations, when the settings name the table (the Lambdas in AWS)."""
    if not settings.domains_table:
        return None
    from mtasts.aws_clients import aws_client
    from mtasts.config_store import DynamoDomainConfigStore as Store

    client = aws_client("dynamodb", settings.aws_endpoint_url)
    return Store(client, settings.domains_table)
