"""Builds report ingestion from settings: counts in DynamoDB, archive and quarantine in S3.

Kept apart from `wiring` so the ingest Lambda does not import the Cloudflare SDK."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mtasts.aws_clients import aws_client
from mtasts.dynamo_store import POLICY_SK, domain_pk
from mtasts.report_ingest import IngestOutcome, MailContext, ReportIngester
from mtasts.report_store import DynamoReportStore
from mtasts.s3_archive import S3ReportArchive
from mtasts.settings import Settings


class _Verdict(BaseModel):
    status: str | None = None


class _Receipt(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    dkim: _Verdict = Field(default_factory=_Verdict, alias="dkimVerdict")
    spf: _Verdict = Field(default_factory=_Verdict, alias="spfVerdict")
    dmarc: _Verdict = Field(default_factory=_Verdict, alias="dmarcVerdict")


class _Mail(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    message_id: str = Field(alias="messageId", pattern=r"^[A-Za-z0-9._-]{1,200}$")


class _Ses(BaseModel):
    mail: _Mail
    receipt: _Receipt = Field(default_factory=_Receipt)


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ses: _Ses


class SesEvent(BaseModel):
    """The part of SES's receipt event the ingest function reads."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    records: list[_Record] = Field(alias="Records")


def build_ingester(settings: Settings) -> tuple[ReportIngester, Any]:
    """The ingester, and the S3 client that reads the raw mail. Which domains are managed is
    remembered for this invocation only, so a domain onboarded a second ago counts."""
    settings.require("domains_table", "report_bucket")
    dynamodb = aws_client("dynamodb", settings.aws_endpoint_url)
    s3 = aws_client("s3", settings.aws_endpoint_url)
    table = str(settings.domains_table)
    managed: dict[str, bool] = {}

    def is_managed(domain: str) -> bool:
        if domain not in managed:
            key = {"pk": {"S": domain_pk(domain)}, "sk": {"S": POLICY_SK}}
            found = dynamodb.get_item(TableName=table, Key=key, ProjectionExpression="pk")
            managed[domain] = "Item" in found
        return managed[domain]

    ingester = ReportIngester(
        counts=DynamoReportStore(dynamodb, table),
        archive=S3ReportArchive(s3, str(settings.report_bucket)),
        is_managed=is_managed,
        clock=settings.clock().now,
        count_unsigned=settings.count_unsigned_reports,
        limit=settings.report_size_limit_mib * 1024 * 1024,
    )
    return ingester, s3


def ingest_ses_event(event: dict[str, Any], settings: Settings) -> list[IngestOutcome]:
    """Each SES record's raw mail, read from where the receipt rule's S3 action put it."""
    parsed = SesEvent.model_validate(event)
    ingester, s3 = build_ingester(settings)
    outcomes = []
    for record in parsed.records:
        mail = record.ses.mail
        key = f"{settings.inbound_prefix}{mail.message_id}"
        raw = s3.get_object(Bucket=settings.report_bucket, Key=key)["Body"].read()
        context = MailContext(
            message_id=mail.message_id,
            dkim_verdict=record.ses.receipt.dkim.status,
            spf_verdict=record.ses.receipt.spf.status,
            dmarc_verdict=record.ses.receipt.dmarc.status,
        )
        outcomes.append(ingester.ingest_mail(raw, context))
    return outcomes
