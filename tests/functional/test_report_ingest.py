"""The ingest use case on in-memory ports: unsigned reports, submitter agreement, HTTPS bodies."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from mtasts.report import TlsReport
from mtasts.report_counts import ReportCounts
from mtasts.report_ingest import MailContext, ReportIngester
from mtasts.report_stream import StreamedReport

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
REPORT = {
    "organization-name": "Giantmail",
    "date-range": {
        "start-datetime": "2026-11-28T00:00:00Z",
        "end-datetime": "2026-11-28T23:59:59Z",
    },
    "contact-info": "mailto:tlsrpt@reports.giantmail.test",
    "report-id": "r-1",
    "policies": [
        {
            "policy": {"policy-type": "sts", "policy-domain": "example.com"},
            "summary": {"total-successful-session-count": 5, "total-failure-session-count": 1},
            "failure-details": [
                {
                    "result-type": "certificate-expired",
                    "receiving-mx-hostname": "MX1.example.com.",
                    "failed-session-count": 1,
                }
            ],
        }
    ],
}


class Counts:
    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], ReportCounts] = {}

    def count_once(
        self, organization: str, report_id: str, counts: ReportCounts, received_at: datetime
    ) -> bool:
        if (organization, report_id) in self.seen:
            return False
        self.seen[(organization, report_id)] = counts
        return True


class Archive:
    def __init__(self) -> None:
        self.kept: list[tuple[str, dict[str, Any]]] = []
        self.reports: list[tuple[str, TlsReport | StreamedReport]] = []
        self.quarantined: list[str] = []

    def keep_report(
        self, domain: str, report: TlsReport | StreamedReport, meta: dict[str, Any]
    ) -> str:
        self.kept.append((domain, meta))
        self.reports.append((domain, report))
        return domain

    def quarantine(self, message_id: str, raw: bytes, reason: str) -> str:
        self.quarantined.append(reason)
        return message_id


def ingester(count_unsigned: bool = True) -> tuple[ReportIngester, Counts, Archive]:
    counts, archive = Counts(), Archive()
    return (
        ReportIngester(counts, archive, lambda d: d == "example.com", lambda: NOW, count_unsigned),
        counts,
        archive,
    )


def mail(submitter: str = "giantmail.test") -> bytes:
    message = EmailMessage()
    message["From"] = "tlsrpt@giantmail.test"
    message["TLS-Report-Submitter"] = submitter
    message.set_content("report attached")
    message.add_attachment(
        gzip.compress(json.dumps(REPORT).encode(), mtime=0),
        maintype="application",
        subtype="tlsrpt+gzip",
        filename="giantmail.test!example.com!1.json.gz",
    )
    return message.as_bytes()


def test_a_signed_report_counts_with_its_verdicts_and_submitter_check() -> None:
    subject, counts, archive = ingester()
    outcome = subject.ingest_mail(mail(), MailContext("m-1", "PASS", "PASS", "PASS"))
    assert outcome.counted == ["Giantmail!r-1"] and outcome.accepted
    (contribution,) = counts.seen[("Giantmail", "r-1")].contributions
    assert contribution.failures_by_mx == {"mx1.example.com": 1}
    assert contribution.failures_by_result_type == {"sts": {"certificate-expired": 1}}
    ((domain, meta),) = archive.kept
    assert domain == "example.com" and meta["dkim_verdict"] == "PASS"
    assert meta["submitter_agrees"] is True and meta["contact_domain"] == "reports.giantmail.test"


def test_a_submitter_that_disagrees_is_recorded_not_refused() -> None:
    subject, _, archive = ingester()
    assert subject.ingest_mail(mail("evil.test"), MailContext("m-2", "PASS")).counted
    assert archive.kept[0][1]["submitter_agrees"] is False


def test_unsigned_reports_are_quarantined_when_they_do_not_count() -> None:
    subject, counts, archive = ingester(count_unsigned=False)
    outcome = subject.ingest_mail(mail(), MailContext("m-3", "FAIL"))
    assert not outcome.accepted and "not DKIM-signed (verdict FAIL)" in (outcome.quarantined or "")
    assert counts.seen == {} and archive.kept == []


def test_an_https_body_goes_through_the_same_path() -> None:
    subject, counts, _ = ingester()
    body = gzip.compress(json.dumps(REPORT).encode())
    assert subject.ingest_body(body, "req-1").counted == ["Giantmail!r-1"]
    assert subject.ingest_body(body, "req-2").duplicates == ["Giantmail!r-1"]
    refused = subject.ingest_body(b"{not json", "req-3")
    assert refused.quarantined and len(counts.seen) == 1


# --- giant reports: streamed, counted the same, archived as received -----------------------------


def streaming_ingester() -> tuple[ReportIngester, Counts, Archive]:
    """An ingester that streams every report over 100 bytes of JSON, as it would a giant one."""
    subject, counts, archive = ingester()
    subject.in_memory = 100
    return subject, counts, archive


def test_a_streamed_report_counts_exactly_as_a_whole_one() -> None:
    whole, whole_counts, whole_archive = ingester()
    streaming, streamed_counts, streamed_archive = streaming_ingester()
    context = MailContext("m-1", "PASS")

    assert whole.ingest_mail(mail(), context).counted == ["Giantmail!r-1"]
    assert streaming.ingest_mail(mail(), context).counted == ["Giantmail!r-1"]

    assert streamed_counts.seen == whole_counts.seen
    ((_, kept),) = streamed_archive.reports
    assert isinstance(kept, StreamedReport) and kept.source is not None
    assert kept.source.payload == gzip.compress(json.dumps(REPORT).encode(), mtime=0)
    assert isinstance(whole_archive.reports[0][1], TlsReport)


def test_a_streamed_report_delivered_again_counts_once() -> None:
    subject, counts, _ = streaming_ingester()
    outcomes = [subject.ingest_mail(mail(), MailContext(f"m-{n}", "PASS")) for n in range(3)]
    assert [len(o.counted) for o in outcomes] == [1, 0, 0]
    assert [len(o.duplicates) for o in outcomes] == [0, 1, 1]
    assert len(counts.seen) == 1


def test_a_broken_streamed_report_is_quarantined_with_the_reason_a_whole_one_gets() -> None:
    broken = json.loads(json.dumps(REPORT))
    broken["policies"][0]["failure-details"][0]["failed-session-count"] = -1
    reasons = []
    for make in (ingester, streaming_ingester):
        subject, counts, archive = make()
        outcome = subject.ingest_body(gzip.compress(json.dumps(broken).encode()), "req-1")
        assert not outcome.accepted and counts.seen == {} and archive.reports == []
        reasons.append(outcome.quarantined)
    assert reasons[0] == reasons[1] and "failed-session-count" in (reasons[0] or "")
