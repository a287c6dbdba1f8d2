"""The TLS-RPT report model: what real senders send, normalised (RFC 8460 §4)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from mtasts import report as report_module
from mtasts.errors import ReportError
from mtasts.report import (
    KNOWN_RESULT_TYPES,
    FailureDetail,
    FailureDetailFields,
    FailureDetails,
    TlsReport,
)

BASE: dict[str, Any] = {
    "organization-name": "Example Mail Co",
    "date-range": {
        "start-datetime": "2026-11-01T00:00:00Z",
        "end-datetime": "2026-11-01T23:59:59Z",
    },
    "contact-info": "smtp-tls-reporting@mail.example",
    "report-id": "r-1",
    "policies": [
        {
            "policy": {
                "policy-type": "sts",
                "policy-string": ["version: STSv1", "mode: enforce"],
                "policy-domain": "example.com",
                "mx-host-pattern": ["*.example.com"],
            },
            "summary": {"total-successful-session-count": 100, "total-failure-session-count": 3},
            "failure-details": [
                {
                    "result-type": "certificate-host-mismatch",
                    "sending-mta-ip": "2001:db8::1",
                    "receiving-mx-hostname": "mx1.example.com",
                    "receiving-mx-helo": "mx1.example.com",
                    "receiving-ip": "192.0.2.25",
                    "failed-session-count": 3,
                    "additional-information": "https://mail.example/tlsrpt/1",
                    "failure-reason-code": "X509_V_ERR_HOSTNAME_MISMATCH",
                }
            ],
        }
    ],
}


def parse(report: dict[str, Any]) -> TlsReport:
    return TlsReport.from_json(orjson.dumps(report))


def variant(**changes: Any) -> dict[str, Any]:
    """BASE with dotted paths replaced; a value of `...` deletes the key."""
    report = copy.deepcopy(BASE)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node: Any = report
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part.replace("_", "-")]
        key = last.replace("_", "-")
        if value is ...:
            del node[key]
        else:
            node[key] = value
    return report


def test_rfc_names_map_to_snake_case() -> None:
    report = parse(BASE)
    detail = report.policies[0].failure_details[0]
    assert (report.organization_name, report.report_id, report.contact_info) == (
        "Example Mail Co",
        "r-1",
        "smtp-tls-reporting@mail.example",
    )
    assert detail.result_type == "certificate-host-mismatch"
    assert detail.failure_reason_code == "X509_V_ERR_HOSTNAME_MISMATCH"
    assert (report.total_successful_sessions, report.total_failed_sessions) == (100, 3)


def test_mx_host_is_accepted_for_mx_host_pattern_even_as_a_string() -> None:
    as_list = variant(policies__0__policy__mx_host_pattern=..., policies__0__policy__mx_host=["a"])
    as_str = variant(policies__0__policy__mx_host_pattern=..., policies__0__policy__mx_host="a")
    assert parse(as_list).policies[0].policy.mx_host_pattern == ["a"]
    assert parse(as_str).policies[0].policy.mx_host_pattern == ["a"]


def test_additional_info_uri_is_accepted_for_additional_information() -> None:
    report = variant(
        policies__0__failure_details__0__additional_information=...,
        policies__0__failure_details__0__additional_info_uri="https://x.example/why",
    )
    assert parse(report).policies[0].failure_details[0].additional_information == (
        "https://x.example/why"
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-11-01T00:00:00Z", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T00:00:00", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T02:00:00+02:00", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T00:00:00.250Z", datetime(2026, 11, 1, 0, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_datetimes_become_utc_and_zoneless_ones_are_taken_as_utc(
    given: str, expected: datetime
) -> None:
    report = parse(variant(date_range__start_datetime=given))
    assert report.date_range.start_datetime == expected
    assert report.date_range.start_datetime.tzinfo is UTC


def test_failure_details_without_sending_mta_ip_are_accepted() -> None:
    report = parse(variant(policies__0__failure_details__0__sending_mta_ip=...))
    assert report.policies[0].failure_details[0].sending_mta_ip is None


def test_unknown_result_types_are_kept_not_rejected() -> None:
    report = parse(variant(policies__0__failure_details__0__result_type="quantum-failure"))
    assert report.policies[0].failure_details[0].result_type == "quantum-failure"
    assert "quantum-failure" not in KNOWN_RESULT_TYPES


def test_optional_parts_default_sensibly() -> None:
    report = parse(
        variant(
            contact_info=...,
            policies__0__failure_details=...,
            policies__0__policy__policy_string=...,
            policies__0__policy__mx_host_pattern=...,
        )
    )
    policy = report.policies[0]
    assert report.contact_info is None
    details = list(policy.failure_details)  # a read-only sequence of views, not a list
    assert (details, policy.policy.policy_string, policy.policy.mx_host_pattern) == ([], [], [])
    assert policy.failure_details == []


def test_null_failure_details_and_string_counts_are_normalised() -> None:
    report = parse(
        variant(
            policies__0__failure_details=None,
            policies__0__summary__total_successful_session_count="42",
        )
    )
    assert report.policies[0].failure_details == []
    assert report.policies[0].summary.total_successful_session_count == 42


def test_a_policy_string_sent_as_one_string_becomes_lines() -> None:
    report = parse(variant(policies__0__policy__policy_string="version: STSv1\r\nmode: testing"))
    assert report.policies[0].policy.policy_string == ["version: STSv1", "mode: testing"]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"report_id": ...}, "report-id"),
        ({"organization_name": ""}, "organization-name"),
        ({"policies": ...}, "policies"),
        ({"date_range__end_datetime": "2026-10-01T00:00:00Z"}, "before"),
        ({"date_range__start_datetime": "yesterday"}, "start-datetime"),
        ({"policies__0__summary__total_failure_session_count": -1}, "greater than or equal"),
        ({"policies__0__failure_details__0__failed_session_count": ...}, "failed-session-count"),
        ({"policies__0__policy__policy_domain": ...}, "policy-domain"),
    ],
)
def test_invalid_reports_get_a_one_line_reason(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(ReportError) as caught:
        parse(variant(**changes))
    message = str(caught.value)
    assert reason in message and "\n" not in message


def test_the_normalised_report_reloads_from_its_own_json() -> None:
    report = parse(BASE)
    reloaded = TlsReport.from_json(report.model_dump_json().encode())
    assert reloaded.model_dump() == report.model_dump()


# --- failure details: checked in place, read through typed views ---------------------------------

DETAIL: dict[str, Any] = BASE["policies"][0]["failure-details"][0]


def detail_variant(**changes: Any) -> dict[str, Any]:
    """DETAIL with RFC keys (`_` for `-`) replaced; a value of `...` deletes the key."""
    detail = dict(DETAIL)
    for key, value in changes.items():
        if value is ...:
            del detail[key.replace("_", "-")]
        else:
            detail[key.replace("_", "-")] = value
    return detail


def test_failure_details_are_typed_views_made_when_read() -> None:
    details = parse(BASE).policies[0].failure_details
    assert isinstance(details, FailureDetails) and len(details) == 1
    (detail,) = details
    assert isinstance(detail, FailureDetail)
    assert (detail.sending_mta_ip, detail.receiving_mx_hostname, detail.receiving_ip) == (
        "2001:db8::1",
        "mx1.example.com",
        "192.0.2.25",
    )
    assert (detail.failed_session_count, detail.receiving_mx_helo) == (3, "mx1.example.com")
    assert detail.additional_information == "https://mail.example/tlsrpt/1"
    assert details[0] == detail and details[-1:] == [detail] and details == [detail]
    assert details != [] and hash(detail) == hash(details[0])


# Each is accepted; the in-place check must read it exactly as the pydantic rules do.
EQUIVALENT_DETAILS = [
    DETAIL,
    detail_variant(sending_mta_ip=..., receiving_mx_helo=..., receiving_ip=...),
    detail_variant(additional_information=..., additional_info_uri="https://x.example/why"),
    detail_variant(additional_information=None, additional_info_uri="https://x.example/why"),
    detail_variant(additional_info_uri="https://x.example/ignored"),
    detail_variant(sending_mta_ip=None, failure_reason_code=None),
    detail_variant(failed_session_count="7"),
    detail_variant(failed_session_count=7.0),
    detail_variant(failed_session_count=True),
    detail_variant(x_vendor_field={"nested": [1, 2]}),
    {"result_type": "dane-required", "failed_session_count": 1, "receiving_ip": "192.0.2.9"},
    {**DETAIL, "sending_mta_ip": "192.0.2.77"},
    {"result-type": "tlsa-invalid", "failed-session-count": 0},
]


@pytest.mark.parametrize("detail", EQUIVALENT_DETAILS)
def test_a_detail_reads_as_the_pydantic_rules_say(detail: dict[str, Any]) -> None:
    expected = FailureDetailFields.model_validate(detail).model_dump()
    around = FailureDetailFields.model_validate(DETAIL).model_dump()
    report = variant(policies__0__failure_details=[DETAIL, detail, DETAIL])
    details = parse(report).policies[0].failure_details
    assert [d.as_dict() for d in details] == [around, expected, around]


def test_details_already_in_normal_form_skip_the_pydantic_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = [dict(DETAIL), detail_variant(receiving_ip=...)]
    expected = [FailureDetailFields.model_validate(detail).model_dump() for detail in raw]
    with monkeypatch.context() as patched:
        patched.setattr(report_module, "_DETAIL_LIST", None)  # any use would raise
        kept = FailureDetails.validate(raw)
    assert [detail.as_dict() for detail in kept] == expected
    normalised = FailureDetails.validate([*raw, detail_variant(failed_session_count="2")])
    assert normalised[2].failed_session_count == 2


@pytest.mark.parametrize(
    ("detail", "reason"),
    [
        ("certificate-expired", "valid dictionary"),
        (detail_variant(sending_mta_ip=25), "sending-mta-ip"),
        (detail_variant(additional_information=["a"]), "additional-information"),
        (detail_variant(failed_session_count=-2), "greater than or equal"),
        (detail_variant(failed_session_count=4.5), "fractional part"),
        (detail_variant(result_type=...), "result-type"),
        (detail_variant(result_type=None), "result-type"),
    ],
)
def test_an_invalid_detail_is_refused_with_where_it_is(detail: Any, reason: str) -> None:
    with pytest.raises(ReportError) as caught:
        parse(variant(policies__0__failure_details=[DETAIL, DETAIL, detail]))
    message = str(caught.value)
    assert reason in message and "\n" not in message
    assert "policies.0.failure-details.2" in message


def test_failure_details_that_are_not_a_list_are_refused() -> None:
    with pytest.raises(ReportError, match="failure-details"):
        parse(variant(policies__0__failure_details={"result-type": "x"}))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"report-id": NaN}', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"", "not valid JSON"),
        (b'"just a string"', "not a JSON object"),
    ],
)
def test_bytes_that_are_no_report_object_get_a_report_error(data: bytes, reason: str) -> None:
    with pytest.raises(ReportError, match=reason):
        TlsReport.from_json(data)


def test_the_dump_lists_every_detail_field_under_its_python_name() -> None:
    report = parse(variant(policies__0__failure_details__0__receiving_mx_helo=...))
    (dumped,) = report.model_dump(mode="json")["policies"][0]["failure_details"]
    assert dumped == {
        "result_type": "certificate-host-mismatch",
        "sending_mta_ip": "2001:db8::1",
        "receiving_mx_hostname": "mx1.example.com",
        "receiving_mx_helo": None,
        "receiving_ip": "192.0.2.25",
        "failed_session_count": 3,
        "additional_information": "https://mail.example/tlsrpt/1",
        "failure_reason_code": "X509_V_ERR_HOSTNAME_MISMATCH",
    }
