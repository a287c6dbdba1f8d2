"""Builds the API's use cases from settings: DynamoDB stores, Step Functions for the workflow,
the validator, the remover and the deployer (the Cloudflare SDK, imported only by the routes
that publish something)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from mtasts.api.service import DomainService
from mtasts.aws_clients import aws_client
from mtasts.config_store import DynamoDomainConfigStore
from mtasts.deploy import NotPublishedError
from mtasts.dns_lookup import DnsLookup, DnsMxResolver
from mtasts.domain_config import DomainConfig
from mtasts.dynamo_store import DynamoPolicyStore, DynamoValidationStore
from mtasts.errors import DnsLookupError, WorkflowError
from mtasts.promotion import EvidenceSources, WindowResult, evaluate_domain
from mtasts.promotion_wiring import fleet_rules
from mtasts.report_ingest import ReportIngester
from mtasts.report_store import DynamoReportStore
from mtasts.settings import Settings


class StepFunctionsWorkflow:
    """One execution per domain and generation, named by `DomainConfig.execution_name()`."""

    def __init__(self, sfn: Any, state_machine_arn: str) -> None:
        self._sfn = sfn
        self._machine = state_machine_arn

    def execution_arn(self, config: DomainConfig) -> str:
        prefix = self._machine.replace(":stateMachine:", ":execution:", 1)
        return f"{prefix}:{config.execution_name()}"

    def start(self, config: DomainConfig, execution_input: Mapping[str, Any]) -> str:
        try:
            started = self._sfn.start_execution(
                stateMachineArn=self._machine,
                name=config.execution_name(),
                input=json.dumps(dict(execution_input)),
            )
        except ClientError as error:
            if _code(error) == "ExecutionAlreadyExists":  # a retried start: already running
                return self.execution_arn(config)
            raise WorkflowError(f"starting {config.execution_name()} failed: {error}") from error
        return str(started["executionArn"])

    def stop(self, config: DomainConfig, cause: str) -> None:
        try:
            self._sfn.stop_execution(executionArn=self.execution_arn(config), cause=cause[:32768])
        except ClientError as error:
            if _code(error) in ("ExecutionDoesNotExist", "ValidationException"):
                return  # never started, or already finished: nothing runs
            raise WorkflowError(f"stopping {config.execution_name()} failed: {error}") from error


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class _LazyRemover:
    """The remover needs the Cloudflare SDK; built on first use only."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def begin(self, domain: str, request_id: str) -> Any:
        from mtasts.removal import Remover
        from mtasts.wiring import deployer_for

        return Remover(deployer_for(self._settings)).begin(domain, request_id)


def build_service(settings: Settings) -> DomainService:
    settings.require("domains_table", "promotion_state_machine_arn", "removal_state_machine_arn")
    table = str(settings.domains_table)
    dynamodb = aws_client("dynamodb", settings.aws_endpoint_url)
    policies = DynamoPolicyStore(dynamodb, table)
    configs = DynamoDomainConfigStore(dynamodb, table)
    validations = DynamoValidationStore(dynamodb, table)
    reports = DynamoReportStore(dynamodb, table)
    sources = EvidenceSources(
        policies=policies,
        reports=reports,
        validations=validations,
        resolver=DnsMxResolver(DnsLookup(*settings.nameserver())),
        configs=configs,
        now=settings.clock().now,
    )

    def evaluate(domain: str) -> WindowResult | None:
        try:
            return evaluate_domain({"domain": domain}, sources, fleet_rules(settings))
        except (NotPublishedError, DnsLookupError):
            return None  # nothing to weigh yet, or DNS is down: the status shows no window

    def validate_now(domain: str) -> None:
        from mtasts.fleet_wiring import run_fleet_validation

        run_fleet_validation(settings, only=frozenset({domain}))

    def deploy_enforce(domain: str, max_age: int | None, request_id: str) -> None:
        from mtasts.deploy_tasks import run_deploy_task
        from mtasts.wiring import config_store_for, deployer_for

        event = {"domain": domain, "mode": "enforce", "max_age": max_age, "request_id": request_id}
        run_deploy_task(event, deployer_for(settings), settings, config_store_for(settings))

    sfn = aws_client("stepfunctions", settings.aws_endpoint_url)

    def finish_removal(config: DomainConfig, request_id: str) -> None:
        start_removal(sfn, str(settings.removal_state_machine_arn), config)

    return DomainService(
        configs=configs,
        policies=policies,
        validations=validations,
        reports=reports,
        workflow=StepFunctionsWorkflow(sfn, str(settings.promotion_state_machine_arn)),
        validate_now=validate_now,
        evaluate=evaluate,
        remover=_LazyRemover(settings),
        finish_removal=finish_removal,
        deploy_enforce=deploy_enforce,
        now=settings.clock().now,
        fleet_window_days=settings.window_days,
        timing=settings.execution_timing(),
    )


def start_removal(sfn: Any, machine_arn: str, config: DomainConfig) -> None:
    """Start the removal workflow (RFC 8461 §8.3) for the domain; a second start of the same
    generation's removal is harmless (Step Functions refuses the duplicate name)."""
    try:
        sfn.start_execution(
            stateMachineArn=machine_arn,
            name=f"remove-{config.execution_name()}"[:80],
            input=json.dumps({"domain": config.domain}),
        )
    except ClientError as error:
        if _code(error) != "ExecutionAlreadyExists":
            raise WorkflowError(
                f"starting the removal of {config.domain} failed: {error}"
            ) from error


def build_report_ingester(settings: Settings) -> ReportIngester:
    from mtasts.report_wiring import build_ingester

    return build_ingester(settings)[0]
