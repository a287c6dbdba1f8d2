"""The world's senders' reports: grouped per domain and day, one policy entry per policy the
sessions were judged by, and mailed in three shapes that the product's own extractor reads back
to the same counts."""

from __future__ import annotations

import email
import email.policy
from datetime import date

import pytest

from mtasts.report_extract import load_reports
from mtasts_local.senders import AppliedPolicy, Session
from mtasts_local.tlsrpt_mail import Reporter, ReportFormat, daily_reports, report_mail

DAY = date(2026, 12, 1)
STS = AppliedPolicy(
    "sts",
    "expired.example",
    ("version: STSv1", "mode: testing", "mx: mail.expired.example", "max_age: 86400"),
    ("mail.expired.example",),
)
NONE = AppliedPolicy("no-policy-found", "expired.example")
TO = "tlsrpt@reports.mtasts.test"


def session(policy: AppliedPolicy, result: str | None, day: date = DAY) -> Session:
    reason = "certificate has expired" if result else None
    return Session(day, policy, "mail.expired.example", "127.0.0.1", "127.0.0.9", result, reason)


def reporter(format: ReportFormat) -> Reporter:
    return Reporter("Giant Mail", "giantmail.test", "smtp-tls@giantmail.test", format)


def test_sessions_make_one_report_per_domain_and_day_with_an_entry_per_policy() -> None:
    sessions = [
        session(NONE, None),
        session(STS, "certificate-expired"),
        session(STS, "certificate-expired"),
        session(STS, None),
        session(STS, None, day=date(2026, 12, 2)),
    ]
    reports = daily_reports(reporter(ReportFormat.TLSRPT_GZIP), sessions)

    assert [(r.domain, r.day) for r in reports] == [
        ("expired.example", DAY),
        ("expired.example", date(2026, 12, 2)),
    ]
    first = reports[0].report
    assert first["date-range"] == {
        "start-datetime": "2026-12-01T00:00:00Z",
        "end-datetime": "2026-12-01T23:59:59Z",
    }
    by_type = {p["policy"]["policy-type"]: p for p in first["policies"]}
    assert by_type["no-policy-found"]["summary"] == {
        "total-successful-session-count": 1,
        "total-failure-session-count": 0,
    }
    sts = by_type["sts"]
    assert sts["policy"]["policy-string"] == list(STS.lines)
    assert sts["summary"]["total-failure-session-count"] == 2
    assert sts["failure-details"] == [
        {
            "result-type": "certificate-expired",
            "sending-mta-ip": "127.0.0.9",
            "receiving-mx-hostname": "mail.expired.example",
            "receiving-ip": "127.0.0.1",
            "failed-session-count": 2,
            "failure-reason-code": "certificate has expired",
        }
    ]
    assert reports[0].sessions() == (2, 2)


@pytest.mark.parametrize("shape", list(ReportFormat))
def test_every_mailed_shape_reads_back_through_the_products_extractor(shape: ReportFormat) -> None:
    sessions = [session(STS, "certificate-expired"), session(STS, None), session(STS, None)]
    (report,) = daily_reports(reporter(shape), sessions)

    raw = report_mail(reporter(shape), report, TO)
    loaded = load_reports(raw)

    assert loaded.mail is not None
    assert loaded.mail.report_domain == "expired.example"
    assert loaded.mail.report_submitter == "giantmail.test"
    (parsed,) = loaded.reports
    assert parsed.report_id == report.report_id
    assert parsed.organization_name == "Giant Mail"
    assert parsed.date_range.start_datetime.isoformat() == "2026-12-01T00:00:00+00:00"
    (policy,) = parsed.policies
    assert policy.policy.mx_host_pattern == ["mail.expired.example"]
    assert policy.summary.total_successful_session_count == 2
    assert policy.summary.total_failure_session_count == 1
    assert [d.result_type for d in policy.failure_details] == ["certificate-expired"]


def test_the_mail_is_an_rfc_8460_report_message() -> None:
    (report,) = daily_reports(reporter(ReportFormat.TLSRPT_GZIP), [session(STS, None)])
    message = email.message_from_bytes(
        report_mail(reporter(ReportFormat.TLSRPT_GZIP), report, TO), policy=email.policy.default
    )
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "tlsrpt"
    assert f"Report-ID: <{report.report_id}>" in str(message["Subject"])
    attachment = next(part for part in message.walk() if part.get_filename())
    assert attachment.get_content_type() == "application/tlsrpt+gzip"
    begin = (DAY - date(1970, 1, 1)).days * 86_400
    assert attachment.get_filename() == (
        f"giantmail.test!expired.example!{begin}!{begin + 86_399}.json.gz"
    )
