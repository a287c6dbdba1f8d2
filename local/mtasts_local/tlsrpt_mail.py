"""TLS-RPT reports (RFC 8460 §4) made from a sender's tallied sessions, and mailed (§5.3) in the
shapes big providers use: `application/tlsrpt+gzip` as the RFC prefers, `application/tlsrpt+json`,
or a gzip file sent as `application/octet-stream` with zone-less datetimes and `mx-host` for
`mx-host-pattern` (real senders' variants the product must accept)."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from email.encoders import encode_quopri
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from enum import StrEnum
from typing import Any

from mtasts_local.senders import AppliedPolicy, Session


class ReportFormat(StrEnum):
    TLSRPT_GZIP = "tlsrpt-gzip"
    TLSRPT_JSON = "tlsrpt-json"
    OCTET_STREAM_GZIP = "octet-stream-gzip"


@dataclass(frozen=True, slots=True)
class Reporter:
    organization: str
    submitter: str
    contact_info: str
    format: ReportFormat = ReportFormat.TLSRPT_GZIP


@dataclass(frozen=True, slots=True)
class DailyReport:
    domain: str
    day: date
    report: dict[str, Any]

    @property
    def report_id(self) -> str:
        return str(self.report["report-id"])

    def sessions(self) -> tuple[int, int]:
        """(successful, failed) over every policy in the report."""
        summaries = [p["summary"] for p in self.report["policies"]]
        return (
            sum(s["total-successful-session-count"] for s in summaries),
            sum(s["total-failure-session-count"] for s in summaries),
        )


def daily_reports(reporter: Reporter, sessions: Iterable[Session]) -> list[DailyReport]:
    """One report per policy domain and day, each policy the sessions were judged by in it."""
    grouped: dict[tuple[str, date], list[Session]] = {}
    for session in sessions:
        grouped.setdefault((session.policy.domain, session.day), []).append(session)
    return [
        DailyReport(domain, day, _report(reporter, domain, day, day_sessions))
        for (domain, day), day_sessions in sorted(grouped.items())
    ]


def _report(
    reporter: Reporter, domain: str, day: date, sessions: Sequence[Session]
) -> dict[str, Any]:
    zone = "" if reporter.format is ReportFormat.OCTET_STREAM_GZIP else "Z"
    by_policy: dict[AppliedPolicy, list[Session]] = {}
    for session in sessions:
        by_policy.setdefault(session.policy, []).append(session)
    return {
        "organization-name": reporter.organization,
        "date-range": {
            "start-datetime": f"{day.isoformat()}T00:00:00{zone}",
            "end-datetime": f"{day.isoformat()}T23:59:59{zone}",
        },
        "contact-info": reporter.contact_info,
        "report-id": f"{day.isoformat()}T00:00:00Z_{domain}",
        "policies": [_policy(reporter, p, s) for p, s in by_policy.items()],
    }


def _policy(reporter: Reporter, policy: AppliedPolicy, sessions: Sequence[Session]) -> Any:
    failures = Counter(
        (s.result_type, s.mx_host, s.receiving_ip, s.sending_ip, s.reason)
        for s in sessions
        if s.result_type is not None
    )
    described: dict[str, Any] = {"policy-type": policy.policy_type, "policy-domain": policy.domain}
    if policy.policy_type == "sts":
        described["policy-string"] = list(policy.lines)
        pattern_key = (
            "mx-host" if reporter.format is ReportFormat.OCTET_STREAM_GZIP else "mx-host-pattern"
        )
        described[pattern_key] = list(policy.mx_patterns)
    return {
        "policy": described,
        "summary": {
            "total-successful-session-count": sum(1 for s in sessions if s.result_type is None),
            "total-failure-session-count": sum(failures.values()),
        },
        "failure-details": [
            {
                "result-type": result_type,
                "sending-mta-ip": sending_ip,
                "receiving-mx-hostname": mx_host,
                "receiving-ip": receiving_ip,
                "failed-session-count": count,
                **({"failure-reason-code": reason} if reason else {}),
            }
            for (result_type, mx_host, receiving_ip, sending_ip, reason), count in failures.items()
        ],
    }


def report_mail(reporter: Reporter, report: DailyReport, to: str) -> bytes:
    """The report as RFC 8460 §5.3 mail: `multipart/report; report-type="tlsrpt"`."""
    body = json.dumps(report.report, indent=1).encode()
    begin = _epoch(report.day)  # §5.1's file name: sender!policy-domain!begin!end
    name = f"{reporter.submitter}!{report.domain}!{begin}!{begin + 86_399}"
    message = MIMEMultipart("report", report_type="tlsrpt")
    message["From"] = f"{reporter.organization} <tlsrpt-noreply@{reporter.submitter}>"
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=reporter.submitter)
    message["Subject"] = (
        f"Report Domain: {report.domain} Submitter: {reporter.submitter} "
        f"Report-ID: <{report.report_id}>"
    )
    message["TLS-Report-Domain"] = report.domain
    message["TLS-Report-Submitter"] = reporter.submitter
    message.attach(MIMEText(f"This is an aggregate TLS report from {reporter.organization}.\n"))
    message.attach(_attachment(reporter.format, body, name))
    return message.as_bytes()


def _attachment(format: ReportFormat, body: bytes, name: str) -> MIMEApplication:
    if format is ReportFormat.TLSRPT_JSON:
        part = MIMEApplication(body, "tlsrpt+json", _encoder=encode_quopri)
        part.add_header("Content-Disposition", "attachment", filename=f"{name}.json")
        return part
    subtype = "tlsrpt+gzip" if format is ReportFormat.TLSRPT_GZIP else "octet-stream"
    part = MIMEApplication(gzip.compress(body, mtime=0), subtype)
    part.add_header("Content-Disposition", "attachment", filename=f"{name}.json.gz")
    return part


def _epoch(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 86_400
