"""Finding codes are a public interface: their spelling is pinned here."""

from __future__ import annotations

import re

from pydantic import TypeAdapter

from mtasts.findings import Code, Finding, Severity, error

PUBLISHED_CODES = {
    "sts-record-missing",
    "sts-record-multiple",
    "sts-record-invalid",
    "sts-record-id-invalid",
    "sts-record-id-missing",
    "sts-record-id-duplicate",
    "policy-invalid",
    "policy-not-utf8",
    "policy-too-large",
    "policy-syntax",
    "policy-blank-line",
    "policy-version-missing",
    "policy-version-invalid",
    "policy-mode-missing",
    "policy-mode-invalid",
    "policy-max-age-missing",
    "policy-max-age-invalid",
    "policy-max-age-short",
    "policy-mx-missing",
    "policy-mx-invalid",
    "policy-mx-trailing-dot",
    "policy-field-duplicate",
    "policy-field-unknown",
    "tlsrpt-record-missing",
    "tlsrpt-record-multiple",
    "tlsrpt-record-invalid",
    "tlsrpt-rua-missing",
    "tlsrpt-rua-invalid",
    "tlsrpt-rua-unsupported-scheme",
    "tlsrpt-rua-duplicate",
    # the validator's (issue: strict RFC checks over the fleet)
    "policy-fetch-failed",
    "policy-certificate-invalid",
    "policy-redirect",
    "policy-http-status",
    "policy-content-type",
    "policy-cache-long",
    "policy-id-stale",
    "mx-not-covered",
    "mx-starttls-missing",
    "mx-certificate-invalid",
    "mx-certificate-expired",
    "mx-certificate-expiring",
    "mx-unreachable",
}


def test_no_published_code_disappears_or_changes_spelling() -> None:
    assert PUBLISHED_CODES <= {code.value for code in Code}


def test_codes_are_lowercase_and_hyphenated() -> None:
    for code in Code:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", code.value), code


def test_a_finding_serialises_to_code_severity_message() -> None:
    finding = error(Code.POLICY_SYNTAX, "line 1")
    assert finding.model_dump(mode="json") == {
        "code": "policy-syntax",
        "severity": "error",
        "message": "line 1",
    }
    assert Finding.model_validate_json(finding.model_dump_json()) == finding
    assert {s.value for s in Severity} == {"error", "warning", "info"}


def test_subject_and_hint_appear_only_when_set_also_inside_other_models() -> None:
    bare = error(Code.MX_UNREACHABLE, "no answer")
    full = bare.model_copy(update={"subject": "mx1.example.com", "hint": "open port 25"})
    assert full.model_dump(mode="json") == {
        "code": "mx-unreachable",
        "severity": "error",
        "message": "no answer",
        "subject": "mx1.example.com",
        "hint": "open port 25",
    }
    listed = TypeAdapter(list[Finding]).dump_python([bare, full], mode="json")
    assert [set(item) for item in listed] == [
        {"code", "severity", "message"},
        {"code", "severity", "message", "subject", "hint"},
    ]
    assert Finding.model_validate_json(full.model_dump_json()) == full
