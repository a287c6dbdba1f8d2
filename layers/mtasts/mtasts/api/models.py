"""The API's request and response bodies. Field names are a public interface (ticketing systems
paste these answers into tickets and parse them): choose once, never rename. Pure."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    UrlConstraints,
)

from mtasts.domain_config import Lifecycle
from mtasts.domain_names import DomainName
from mtasts.policy import MAX_AGE_LIMIT

# An RFC 8461 mx pattern: a host name, or `*.` and a host name; the deploy checks it fully.
MxPattern = Annotated[
    str,
    StringConstraints(
        min_length=3, max_length=253, pattern=r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$"
    ),
]
# An RFC 8460 rua URI: mailto: or https:, nothing else.
RuaUri = Annotated[
    str,
    StringConstraints(min_length=8, max_length=512, pattern=r"^(mailto:[^\s,;!]+|https://\S+)$"),
]
EnforceMaxAge = Annotated[int, Field(ge=86_400, le=MAX_AGE_LIMIT)]
# Where signed status callbacks go: https only, since the body is signed, not encrypted.
CallbackUrl = Annotated[
    HttpUrl,
    UrlConstraints(allowed_schemes=["https"], max_length=2048, host_required=True),
    Field(
        description="https URL that receives signed status changes (README, Callbacks).",
        json_schema_extra={"pattern": "^https://"},
    ),
]
WindowDays = Annotated[int, Field(ge=1, le=365)]
Approval = Literal["auto", "manual"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OnboardRequest(_Request):
    domain: DomainName = Field(description="The mail domain (Unicode or A-labels).")
    mx: list[MxPattern] | None = Field(
        None, max_length=32, description="mx patterns; derived from live MX when omitted."
    )
    rua: list[RuaUri] | None = Field(
        None, max_length=8, description="TLS-RPT addresses; the product's when omitted."
    )
    auto_promote: bool = True
    window_days: WindowDays | None = None
    approval: Approval = "auto"
    enforce_max_age: EnforceMaxAge | None = None
    callback_url: CallbackUrl | None = None


class ChangeRequest(_Request):
    """What PATCH may change; every change restarts the workflow with a new generation."""

    mode: Literal["testing"] | None = Field(
        None, description="`testing` returns the domain to testing; enforce is POST .../promote."
    )
    mx: list[MxPattern] | None = Field(None, max_length=32)
    max_age: EnforceMaxAge | None = Field(None, description="max_age once in enforce.")
    window_days: WindowDays | None = None
    approval: Approval | None = None
    auto_promote: bool | None = None
    callback_url: CallbackUrl | None = None


class PromoteRequest(_Request):
    force: bool = Field(False, description="Promote now, skipping the window (needs a reason).")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None


class DemoteRequest(_Request):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None


class Accepted(BaseModel):
    """202: the change is recorded and the workflow runs it; poll `status_url`."""

    domain: str
    state: Lifecycle
    generation: int
    status_url: str
    execution: str | None = None
    detail: str | None = None


class DomainSummary(BaseModel):
    domain: str
    state: Lifecycle
    mode: str | None
    generation: int
    updated_at: AwareDatetime


class DomainPage(BaseModel):
    domains: list[DomainSummary]
    next_cursor: str | None


class FindingView(BaseModel):
    code: str
    severity: str
    message: str
    subject: str | None = None
    hint: str | None = None


class ValidationView(BaseModel):
    checked_at: AwareDatetime
    ok: bool
    errors: int
    warnings: int
    findings: list[FindingView]


class WindowView(BaseModel):
    start: AwareDatetime
    window_days: int
    days_observed: int
    days_clean: int
    reporters: int
    successful_sessions: int
    failed_sessions: int
    failures_by_result_type: dict[str, int]
    verdict: str | None = None
    reasons: list[str] = Field(default_factory=list)


class NextStep(BaseModel):
    action: str
    at: AwareDatetime | None
    detail: str


class DomainSettings(BaseModel):
    mx: list[str] | None
    rua: list[str] | None
    enforce_max_age: int | None
    auto_promote: bool
    approval: Approval
    approved: bool
    window_days: int | None
    callback_url: str | None


class DomainStatus(BaseModel):
    domain: str
    state: Lifecycle
    state_reason: str | None
    generation: int
    config: DomainSettings
    mode: str | None
    policy_id: str | None
    announced: bool
    last_validation: ValidationView | None
    window: WindowView | None
    next_step: NextStep
    created_at: AwareDatetime
    updated_at: AwareDatetime


class Validated(BaseModel):
    domain: str
    validation: ValidationView | None


class DayView(BaseModel):
    date: date
    successful_sessions: int
    failed_sessions: int
    failures_by_result_type: dict[str, int]
    reporters: list[str]


class ReportDaysView(BaseModel):
    domain: str
    days: list[DayView]


class HistoryEntry(BaseModel):
    action: str
    at: datetime
    request_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class History(BaseModel):
    domain: str
    entries: list[HistoryEntry]


class ReportAccepted(BaseModel):
    counted: list[str]
    duplicates: list[str]
    unmanaged_domains: list[str]


class Health(BaseModel):
    status: Literal["ok"]
