"""The report archive on S3: normalised reports for drill-down, and the quarantine.

    reports/<domain>/<yyyy-mm-dd>/<org>!<report id>.json   {"meta", "report", "original"}
    reports/<domain>/<yyyy-mm-dd>/<org>!<report id>.original<.json.gz|.zip|.json>
    quarantine/<yyyy-mm-dd>/<message id>.eml               the message exactly as received
    quarantine/<yyyy-mm-dd>/<message id>.reason.json       why it was set aside

A report small enough to hold is kept whole: `report` is its normalised form with every
failure detail, `original` the JSON as the sender wrote it. A giant report (streamed, see
`report_stream`) cannot be re-serialised without holding it: `report` then gives each policy's
failure details as their tally, and the attachment it came in is stored beside it as it was
received (still compressed), uploaded in parts; `original` says where. Like the JSON, it is
kept once per domain the report counts for (a report is nearly always about one domain).

Names from senders are percent-encoded into keys, so no report can write outside its prefix.
The bucket encrypts at rest and expires objects by lifecycle (template).
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from mtasts.dynamo_store import StoreError
from mtasts.report import TlsReport
from mtasts.report_stream import StreamedReport

REPORTS_PREFIX = "reports/"
QUARANTINE_PREFIX = "quarantine/"
# Parts of 8 MiB, one at a time: an upload holds one part beside the attachment (which is in
# memory already), not ten as boto3's default threads would.
_UPLOAD: TransferConfig = TransferConfig(
    multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024, use_threads=False
)
_GZIP_MAGIC, _ZIP_MAGIC = b"\x1f\x8b", b"PK\x03\x04"


def _safe(text: str) -> str:
    return quote(text, safe="@.-_!+=")


class S3ReportArchive:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def keep_report(
        self, domain: str, report: TlsReport | StreamedReport, meta: dict[str, Any]
    ) -> str:
        day = report.date_range.start_datetime.date().isoformat()
        stem = (
            f"{REPORTS_PREFIX}{_safe(domain)}/{day}/"
            f"{_safe(report.organization_name)}!{_safe(report.report_id)}"
        )
        body: dict[str, Any]
        if isinstance(report, TlsReport):
            body = {
                "meta": meta,
                "report": report.model_dump(mode="json"),
                "original": report.original(),
            }
        else:
            body = {
                "meta": meta,
                "report": report.summary(),
                "original": self._keep_original(stem, report),
            }
        self._put(f"{stem}.json", json.dumps(body).encode(), "application/json")
        return f"{stem}.json"

    def _keep_original(self, stem: str, report: StreamedReport) -> dict[str, Any] | None:
        """Upload the attachment a streamed report came in, as received; where it went."""
        source = report.source
        if source is None:  # read from chunks whose origin was not kept
            return None
        suffix, content_type = _kind(source.payload)
        key = f"{stem}.original{suffix}"
        try:
            self._client.upload_fileobj(
                io.BytesIO(source.payload),
                self._bucket,
                key,
                ExtraArgs={"ContentType": content_type},
                Config=_UPLOAD,
            )
        except (ClientError, S3UploadFailedError) as error:
            raise StoreError(f"writing s3://{self._bucket}/{key} failed: {error}") from error
        return {
            "key": key,
            "name": source.name,
            "content_type": content_type,
            "bytes": len(source.payload),
            "json_bytes": report.json_size,
        }

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


def _kind(payload: bytes) -> tuple[str, str]:
    """The key suffix and content type of an attachment, by content."""
    if payload[:2] == _GZIP_MAGIC:
        return ".json.gz", "application/gzip"
    if payload[:4] == _ZIP_MAGIC:
        return ".zip", "application/zip"
    return ".json", "application/json"
