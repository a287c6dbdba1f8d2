"""Counting one report into managed domains' days, and summarising a window of days."""

from __future__ import annotations

import json
from datetime import date

from mtasts.report import TlsReport
from mtasts.report_counts import UNKNOWN_MX, DayTotals, count_report, summarise

REPORT = {
    "organization-name": "Giantmail",
    "date-range": {
        "start-datetime": "2026-11-28T00:00:00Z",
        "end-datetime": "2026-11-28T23:59:59Z",
    },
    "contact-info": "tlsrpt@giantmail.test",
    "report-id": "r-1",
    "policies": [
        {
            "policy": {"policy-type": "sts", "policy-domain": "Example.COM."},
            "summary": {"total-successful-session-count": 90, "total-failure-session-count": 4},
            "failure-details": [
                {
                    "result-type": "certificate-expired",
                    "receiving-mx-hostname": "mx1.example.com",
                    "failed-session-count": 3,
                },
                {"result-type": "starttls-not-supported", "failed-session-count": 1},
            ],
        },
        {
            "policy": {"policy-type": "no-policy-found", "policy-domain": "example.com"},
            "summary": {"total-successful-session-count": 7, "total-failure-session-count": 0},
        },
        {
            "policy": {"policy-type": "sts", "policy-domain": "stranger.example"},
            "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0},
        },
    ],
}


def test_a_report_adds_to_the_day_of_its_start_for_managed_domains_only() -> None:
    report = TlsReport.from_json(json.dumps(REPORT).encode())
    counts = count_report(report, lambda d: d == "example.com")

    assert counts.unmanaged_domains == ("stranger.example",)
    (day,) = counts.contributions
    assert (day.domain, day.day) == ("example.com", date(2026, 11, 28))
    assert day.successful_by_policy_type == {"sts": 90, "no-policy-found": 7}
    assert day.failed_by_policy_type == {"sts": 4}
    assert day.failures_by_result_type == {
        "sts": {"certificate-expired": 3, "starttls-not-supported": 1}
    }
    assert day.failures_by_mx == {"mx1.example.com": 3, UNKNOWN_MX: 1}
    assert day.failures_by_reporter == {"Giantmail": 4} and day.reporters == {"Giantmail"}


def test_a_window_summary_weighs_sts_sessions_only() -> None:
    days = [
        DayTotals(
            date(2026, 11, 27),
            {"sts": 50, "no-policy-found": 9},
            {"sts": 1},
            {"sts": {"certificate-expired": 1}, "no-policy-found": {"x": 5}},
            reporters=frozenset({"A"}),
        ),
        DayTotals(date(2026, 11, 28), {"sts": 25}, reporters=frozenset({"B"})),
    ]
    summary = summarise(days)
    assert summary.days_with_data == 2 and summary.successful_sessions == 75
    assert summary.failed_sessions == 1
    assert summary.failures_by_result_type == {"certificate-expired": 1}
    assert summary.reporters == {"A", "B"}
    assert days[0].sts_day().failures_by_result_type == {"certificate-expired": 1}
