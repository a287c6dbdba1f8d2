"""Ingesting TLS-RPT reports (RFC 8460 §5): from a whole email (SES inbound) or an HTTPS POST
body, through extraction and validation, into exactly-once daily counts, with the normalised
report kept for drill-down.

A giant reporter's report (more than `in_memory` bytes of JSON) is streamed rather than held:
it is validated by the same rules and counted the same way, from what its failure details add
up to, and archived as its envelope and tallies beside the attachment as received. Memory so
stays bounded whatever the report's size; `limit` and the bomb rule (`report_extract`) bound
the work.

Nothing a sender does wrong raises: a mail that is not a report, a broken or hostile one (a
decompression bomb), or one refused by policy (unsigned, when unsigned reports do not count) is
quarantined with its reason, and the outcome says so. Only the product's own storage failing
raises, so the platform retries the delivery and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from email.utils import parseaddr
from typing import Any, Protocol

import msgspec

from mtasts.errors import ReportError
from mtasts.report import TlsReport
from mtasts.report_counts import ReportCounts, count_report
from mtasts.report_extract import (
    DEFAULT_DECOMPRESSED_LIMIT,
    IN_MEMORY_LIMIT,
    ReportMail,
    read_mail,
    read_reports,
)
from mtasts.report_stream import StreamedReport

# A report as ingested: whole, or (too big to hold) its envelope and failure tallies.
Report = TlsReport | StreamedReport

DKIM_PASS = "PASS"


class MailContext(msgspec.Struct, frozen=True):
    """What the receiving mail system concluded about a message (SES receipt verdicts)."""

    message_id: str
    dkim_verdict: str | None = None  # PASS, FAIL, GRAY, PROCESSING_FAILED; None over HTTPS
    spf_verdict: str | None = None
    dmarc_verdict: str | None = None


class IngestOutcome(msgspec.Struct):
    counted: list[str] = msgspec.field(default_factory=list)  # "<org>!<report id>" newly counted
    duplicates: list[str] = msgspec.field(default_factory=list)
    unmanaged_domains: list[str] = msgspec.field(default_factory=list)
    quarantined: str | None = None  # the reason, when the whole message was set aside

    @property
    def accepted(self) -> bool:
        return self.quarantined is None


class CountStore(Protocol):
    def count_once(
        self, organization: str, report_id: str, counts: ReportCounts, received_at: datetime
    ) -> bool: ...


class ReportArchive(Protocol):
    def keep_report(self, domain: str, report: Report, meta: dict[str, Any]) -> str:
        """Store the normalised report (and its original) for drill-down; the key."""
        ...

    def quarantine(self, message_id: str, raw: bytes, reason: str) -> str:
        """Set a message aside with the reason; the key."""
        ...


class ReportIngester(msgspec.Struct):
    counts: CountStore
    archive: ReportArchive
    is_managed: Callable[[str], bool]
    clock: Callable[[], datetime]
    count_unsigned: bool = True
    limit: int = DEFAULT_DECOMPRESSED_LIMIT  # decompressed bytes per message (see the bomb rule)
    in_memory: int = IN_MEMORY_LIMIT  # bytes of JSON above which a report is streamed

    def ingest_mail(self, raw: bytes, context: MailContext) -> IngestOutcome:
        try:
            loaded = read_mail(raw, self.limit, self.in_memory)
        except ReportError as error:
            return self._quarantine(context.message_id, raw, str(error))
        signed = context.dkim_verdict == DKIM_PASS
        if not signed and not self.count_unsigned:
            reason = (
                f"not DKIM-signed (verdict {context.dkim_verdict}) and unsigned reports "
                "do not count"
            )
            return self._quarantine(context.message_id, raw, reason)
        meta = {
            "message_id": context.message_id,
            "dkim_verdict": context.dkim_verdict,
            "spf_verdict": context.spf_verdict,
            "dmarc_verdict": context.dmarc_verdict,
            "delivery": "email",
        }
        return self._count(loaded.reports, meta, loaded.mail)

    def ingest_body(self, body: bytes, request_id: str) -> IngestOutcome:
        """An RFC 8460 §5.4 HTTPS submission (`application/tlsrpt+gzip` or `+json`)."""
        try:
            loaded = read_reports(body, limit=self.limit, in_memory=self.in_memory)
        except ReportError as error:
            return self._quarantine(request_id, body, str(error))
        return self._count(loaded.reports, {"request_id": request_id, "delivery": "https"}, None)

    def _count(
        self, reports: Sequence[Report], meta: dict[str, Any], mail: ReportMail | None
    ) -> IngestOutcome:
        outcome = IngestOutcome()
        received_at = self.clock()
        for report in reports:
            counts = count_report(report, self.is_managed)
            outcome.unmanaged_domains += counts.unmanaged_domains
            if not counts.contributions:
                continue
            key = f"{report.organization_name}!{report.report_id}"
            fresh = self.counts.count_once(
                report.organization_name, report.report_id, counts, received_at
            )
            if not fresh:
                outcome.duplicates.append(key)
                continue
            outcome.counted.append(key)
            report_meta = {
                **meta,
                "received_at": received_at.isoformat(),
                **_submitter(report, mail),
            }
            for domain in counts.domains:
                self.archive.keep_report(domain, report, report_meta)
        return outcome

    def _quarantine(self, message_id: str, raw: bytes, reason: str) -> IngestOutcome:
        self.archive.quarantine(message_id, raw, reason)
        return IngestOutcome(quarantined=reason)


def _submitter(report: Report, mail: ReportMail | None) -> dict[str, Any]:
    """Whether `TLS-Report-Submitter` (RFC 8460 §5.3) agrees with the report's contact: the
    submitter is a domain; the contact is an address or URI whose domain should fall under it."""
    submitter = (mail.report_submitter or "").strip().lower().rstrip(".") if mail else ""
    contact = _contact_domain(report.contact_info)
    agrees = bool(submitter and contact) and (
        contact == submitter or (contact or "").endswith("." + submitter)
    )
    return {"submitter": submitter or None, "contact_domain": contact, "submitter_agrees": agrees}


def _contact_domain(contact: str | None) -> str | None:
    if not contact:
        return None
    text = contact.strip().removeprefix("mailto:")
    if "://" in text:
        text = text.split("://", 1)[1].split("/", 1)[0]
    address = parseaddr(text)[1] or text
    return address.rpartition("@")[2].strip().lower().rstrip(".") or None
