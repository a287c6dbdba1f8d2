"""Findings: what a check concluded, in a shape people and machines both read.

Codes are a public interface (tickets, dashboards and alerts match on them): lowercase,
hyphenated, never renamed. Add new codes; do not change existing ones.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Code(StrEnum):
    # `_mta-sts` TXT record (RFC 8461 §3.1)
    STS_RECORD_MISSING = "sts-record-missing"
    STS_RECORD_MULTIPLE = "sts-record-multiple"
    STS_RECORD_INVALID = "sts-record-invalid"
    STS_RECORD_ID_INVALID = "sts-record-id-invalid"
    STS_RECORD_ID_MISSING = "sts-record-id-missing"
    STS_RECORD_ID_DUPLICATE = "sts-record-id-duplicate"
    # Policy file (RFC 8461 §3.2)
    POLICY_INVALID = "policy-invalid"  # summary code: the validator reports it per domain
    POLICY_NOT_UTF8 = "policy-not-utf8"
    POLICY_TOO_LARGE = "policy-too-large"
    POLICY_SYNTAX = "policy-syntax"
    POLICY_BLANK_LINE = "policy-blank-line"
    POLICY_VERSION_MISSING = "policy-version-missing"
    POLICY_VERSION_INVALID = "policy-version-invalid"
    POLICY_MODE_MISSING = "policy-mode-missing"
    POLICY_MODE_INVALID = "policy-mode-invalid"
    POLICY_MAX_AGE_MISSING = "policy-max-age-missing"
    POLICY_MAX_AGE_INVALID = "policy-max-age-invalid"
    POLICY_MX_MISSING = "policy-mx-missing"
    POLICY_MX_INVALID = "policy-mx-invalid"
    POLICY_MX_TRAILING_DOT = "policy-mx-trailing-dot"
    POLICY_FIELD_DUPLICATE = "policy-field-duplicate"
    POLICY_FIELD_UNKNOWN = "policy-field-unknown"
    POLICY_MAX_AGE_SHORT = "policy-max-age-short"
    # Policy fetch (RFC 8461 §3.3), as the validator sees it
    POLICY_FETCH_FAILED = "policy-fetch-failed"
    POLICY_CERTIFICATE_INVALID = "policy-certificate-invalid"
    POLICY_REDIRECT = "policy-redirect"
    POLICY_HTTP_STATUS = "policy-http-status"
    POLICY_CONTENT_TYPE = "policy-content-type"
    POLICY_CACHE_LONG = "policy-cache-long"
    POLICY_ID_STALE = "policy-id-stale"
    # MX hosts (RFC 8461 §4)
    MX_NOT_COVERED = "mx-not-covered"
    MX_STARTTLS_MISSING = "mx-starttls-missing"
    MX_CERTIFICATE_INVALID = "mx-certificate-invalid"
    MX_CERTIFICATE_EXPIRED = "mx-certificate-expired"
    MX_CERTIFICATE_EXPIRING = "mx-certificate-expiring"
    MX_UNREACHABLE = "mx-unreachable"
    # `_smtp._tls` TXT record (RFC 8460 §3)
    TLSRPT_RECORD_MISSING = "tlsrpt-record-missing"
    TLSRPT_RECORD_MULTIPLE = "tlsrpt-record-multiple"
    TLSRPT_RECORD_INVALID = "tlsrpt-record-invalid"
    TLSRPT_RUA_MISSING = "tlsrpt-rua-missing"
    TLSRPT_RUA_INVALID = "tlsrpt-rua-invalid"
    TLSRPT_RUA_UNSUPPORTED_SCHEME = "tlsrpt-rua-unsupported-scheme"
    TLSRPT_RUA_DUPLICATE = "tlsrpt-rua-duplicate"


def _unset(value: str | None) -> bool:
    return value is None


class Finding(BaseModel):
    """One conclusion: `{code, severity, message}`; the message names the offending input.

    The validator adds `subject` (the record, URL or MX host the finding is about) and `hint`
    (what the admin should change); they are left out of the JSON when unset, so grammar
    findings keep their three keys."""

    model_config = ConfigDict(frozen=True)

    code: Code
    severity: Severity
    message: str
    subject: str | None = Field(None, exclude_if=_unset)
    hint: str | None = Field(None, exclude_if=_unset)


def error(code: Code, message: str) -> Finding:
    return Finding(code=code, severity=Severity.ERROR, message=message)


def warning(code: Code, message: str) -> Finding:
    return Finding(code=code, severity=Severity.WARNING, message=message)


def info(code: Code, message: str) -> Finding:
    return Finding(code=code, severity=Severity.INFO, message=message)


def has_errors(findings: tuple[Finding, ...] | list[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)
