"""The TLS-RPT report (RFC 8460 §4) as real senders send it, normalised; the original is kept.

Real senders differ from the RFC text: `mx-host` for `mx-host-pattern` (sometimes a string),
`additional-info-uri` for `additional-information`, datetimes without a zone, failure details
without `sending-mta-ip`. All are accepted here and normalised; field names follow the RFC with
`_` for `-`. Validation runs in pydantic-core straight from the JSON bytes: no Python code runs
per failure detail, which is what keeps multi-megabyte reports fast.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Self

import orjson
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from mtasts.errors import ReportError

KNOWN_RESULT_TYPES = frozenset(
    {
        "starttls-not-supported",
        "certificate-host-mismatch",
        "certificate-expired",
        "certificate-not-trusted",
        "validation-failure",
        "tlsa-invalid",
        "dnssec-invalid",
        "dane-required",
        "sts-policy-fetch-error",
        "sts-policy-invalid",
        "sts-webpki-invalid",
    }
)
KNOWN_POLICY_TYPES = frozenset({"sts", "tlsa", "no-policy-found"})


def _as_utc(value: datetime) -> datetime:
    """A datetime without a zone is taken as UTC (several big senders omit it)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value


def _as_lines(value: Any) -> Any:
    if isinstance(value, str):
        return value.splitlines()
    return _as_list(value)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
StringList = Annotated[list[str], BeforeValidator(_as_list)]
LineList = Annotated[list[str], BeforeValidator(_as_lines)]


def _alias(*names: str) -> Any:
    """Validate from the RFC name (and variants); the Python name is the RFC name with `_`."""
    return AliasChoices(*names, names[0].replace("-", "_"))


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class FailureDetail(_Model):
    result_type: str = Field(validation_alias=_alias("result-type"))
    sending_mta_ip: str | None = Field(None, validation_alias=_alias("sending-mta-ip"))
    receiving_mx_hostname: str | None = Field(
        None, validation_alias=_alias("receiving-mx-hostname")
    )
    receiving_mx_helo: str | None = Field(None, validation_alias=_alias("receiving-mx-helo"))
    receiving_ip: str | None = Field(None, validation_alias=_alias("receiving-ip"))
    failed_session_count: NonNegativeInt = Field(validation_alias=_alias("failed-session-count"))
    additional_information: str | None = Field(
        None, validation_alias=_alias("additional-information", "additional-info-uri")
    )
    failure_reason_code: str | None = Field(None, validation_alias=_alias("failure-reason-code"))


class PolicyDescriptor(_Model):
    policy_type: str = Field(validation_alias=_alias("policy-type"))
    policy_domain: str = Field(validation_alias=_alias("policy-domain"))
    policy_string: LineList = Field(default_factory=list, validation_alias=_alias("policy-string"))
    mx_host_pattern: StringList = Field(
        default_factory=list, validation_alias=_alias("mx-host-pattern", "mx-host")
    )


class Summary(_Model):
    total_successful_session_count: NonNegativeInt = Field(
        validation_alias=_alias("total-successful-session-count")
    )
    total_failure_session_count: NonNegativeInt = Field(
        validation_alias=_alias("total-failure-session-count")
    )


class PolicyResult(_Model):
    policy: PolicyDescriptor
    summary: Summary
    failure_details: Annotated[list[FailureDetail], BeforeValidator(_as_list)] = Field(
        default_factory=list, validation_alias=_alias("failure-details")
    )


class DateRange(_Model):
    start_datetime: UtcDatetime = Field(validation_alias=_alias("start-datetime"))
    end_datetime: UtcDatetime = Field(validation_alias=_alias("end-datetime"))

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end_datetime < self.start_datetime:
            raise ValueError("end-datetime is before start-datetime")
        return self


class TlsReport(_Model):
    report_id: str = Field(min_length=1, validation_alias=_alias("report-id"))
    organization_name: str = Field(min_length=1, validation_alias=_alias("organization-name"))
    contact_info: str | None = Field(None, validation_alias=_alias("contact-info"))
    date_range: DateRange = Field(validation_alias=_alias("date-range"))
    policies: list[PolicyResult]

    _original_json: bytes = PrivateAttr(default=b"")

    @classmethod
    def from_json(cls, data: bytes) -> TlsReport:
        """Validate the JSON bytes of one report; ReportError with a one-line reason if invalid."""
        try:
            report = cls.model_validate_json(data)
        except ValidationError as exc:
            raise ReportError(f"invalid report: {_first_problem(exc)}") from None
        report._original_json = data
        return report

    def original(self) -> dict[str, Any]:
        """The report exactly as the sender wrote it (unknown fields included)."""
        if not self._original_json:
            return self.model_dump(mode="json")
        parsed: dict[str, Any] = orjson.loads(self._original_json)
        return parsed

    @property
    def total_successful_sessions(self) -> int:
        return sum(p.summary.total_successful_session_count for p in self.policies)

    @property
    def total_failed_sessions(self) -> int:
        return sum(p.summary.total_failure_session_count for p in self.policies)


def _first_problem(exc: ValidationError) -> str:
    problem = exc.errors(include_url=False, include_input=False)[0]
    kind, location = problem["type"], ".".join(str(part) for part in problem["loc"])
    if kind == "json_invalid":
        return f"not valid JSON ({problem['msg'].removeprefix('Invalid JSON: ')})"
    if kind == "model_type" and not location:
        return "the report is not a JSON object"
    message = problem["msg"].removeprefix("Value error, ")
    return f"{location}: {message}" if location else message
