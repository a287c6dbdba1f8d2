"""Counting one report into managed domains' days, and summarising a window of days."""

from __future__ import annotations

import gzip
import json
from datetime import date

from mtasts.domain_names import dns_name
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


def counted_detail_by_detail(report: TlsReport, domain: str) -> dict[str, object]:
    """What one report adds to `domain`, counted the plain way, one failure detail at a time:
    the reference the tallies must agree with."""
    by_type: dict[str, dict[str, int]] = {}
    by_mx: dict[str, int] = {}
    for result in report.policies:
        if dns_name(result.policy.policy_domain) != domain:
            continue
        for detail in result.failure_details:
            kind = by_type.setdefault(result.policy.policy_type, {})
            if detail.failed_session_count:
                kind[detail.result_type] = (
                    kind.get(detail.result_type, 0) + detail.failed_session_count
                )
                mx = dns_name(detail.receiving_mx_hostname or "") or UNKNOWN_MX
                by_mx[mx] = by_mx.get(mx, 0) + detail.failed_session_count
    return {"by_type": by_type, "by_mx": by_mx}


def bench_reports() -> list[TlsReport]:
    from benchmarks.report_parsing import build_corpus

    return [TlsReport.from_json(gzip.decompress(sample.payload)) for sample in build_corpus()]


def test_tallied_counts_are_the_failure_details_counted_one_by_one() -> None:
    mixed = json.loads(json.dumps(REPORT))
    mixed["policies"][0]["failure-details"] += [
        {
            "result-type": "certificate-expired",
            "receiving-mx-hostname": "MX1.example.com.",
            "failed-session-count": 2,
        },
        {
            "result-type": "validation-failure",
            "receiving-mx-hostname": "",
            "failed-session-count": 0,
        },
        {"result-type": "validation-failure", "failed-session-count": 0},
    ]
    reports = [TlsReport.from_json(json.dumps(mixed).encode()), *bench_reports()]
    for report in reports:
        domains = {dns_name(result.policy.policy_domain) for result in report.policies}
        counts = count_report(report, lambda d: True)
        assert {c.domain for c in counts.contributions} == domains
        for contribution in counts.contributions:
            expected = counted_detail_by_detail(report, contribution.domain)
            assert contribution.failures_by_result_type == expected["by_type"]
            assert contribution.failures_by_mx == expected["by_mx"]
