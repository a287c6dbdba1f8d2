"""The report archive on S3: normalised reports for drill-down, and the quarantine.

    reports/<domain>/<yyyy-mm-dd>/<org>!<report id>.json   {"meta", "report", "original"}
    quarantine/<yyyy-mm-dd>/<message id>.eml               the message exactly as received
    quarantine/<yyyy-mm-dd>/<message id>.reason.json       why it was set aside

Names from senders are percent-encoded into keys, so no report can write outside its prefix.
The bucket encrypts at rest and expires objects by lifecycle (template).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from mtasts.dynamo_store import StoreError
from mtasts.report import TlsReport

REPORTS_PREFIX = "reports/"
QUARANTINE_PREFIX = "quarantine/"


def _safe(text: str) -> str:
    return quote(text, safe="@.-_!+=")


class S3ReportArchive:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def keep_report(self, domain: str, report: TlsReport, meta: dict[str, Any]) -> str:
        day = report.date_range.start_datetime.date().isoformat()
        key = (
            f"{REPORTS_PREFIX}{_safe(domain)}/{day}/"
            f"{_safe(report.organization_name)}!{_safe(report.report_id)}.json"
        )
        body = {
            "meta": meta,
            "report": report.model_dump(mode="json"),
            "original": report.original(),
        }
        self._put(key, json.dumps(body).encode(), "application/json")
        return key

    def quarantine(self, message_id: str, raw: bytes, reason: str) -> str:
        day = datetime.now(UTC).date().isoformat()
        key = f"{QUARANTINE_PREFIX}{day}/{_safe(message_id)}"
        self._put(f"{key}.eml", raw, "message/rfc822")
        self._put(f"{key}.reason.json", json.dumps({"reason": reason}).encode(), "application/json")
        return f"{key}.eml"

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        try:
            self._client.put_object(
                Bucket=self._bucket, Key=key, Body=body, ContentType=content_type
            )
        except ClientError as error:
            raise StoreError(f"writing s3://{self._bucket}/{key} failed: {error}") from error
