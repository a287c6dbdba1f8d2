"""A managed domain's configuration and where it stands in its lifecycle.

This is what a ticketing system sets through the API (onboard, change) and what the promotion
workflow reads (approval, rule overrides) and moves forward (state, reason, generation). Pure.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl

from mtasts.domain_names import DomainName
from mtasts.policy import MAX_AGE_LIMIT


class Lifecycle(StrEnum):
    ONBOARDING = "onboarding"  # first deploy under way
    TESTING = "testing"  # testing published; the observation window runs
    PROMOTING = "promoting"  # switching to enforce
    ENFORCE = "enforce"  # enforce published; watched, then kept
    DEMOTED = "demoted"  # back to testing after failures; observing again
    BLOCKED = "blocked"  # evidence of failures; a person should look
    REMOVING = "removing"  # mode none published; waiting out the longest max_age
    FAILED = "failed"  # the workflow stopped on an error (the reason says which)


class RuleOverrides(BaseModel):
    """Per-domain overrides of the fleet's promotion rules (None: the fleet default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_days: int | None = Field(None, ge=1, le=365)
    min_reporters: int | None = Field(None, ge=0, le=1000)
    min_sessions: int | None = Field(None, ge=0)
    max_failure_ratio: float | None = Field(None, ge=0.0, le=1.0)
    ignore_result_types: tuple[str, ...] | None = None
    allow_without_reports: bool | None = None

    def given(self) -> dict[str, object]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class DomainConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    domain: DomainName
    mx: tuple[str, ...] | None = None  # None: derived from the live MX hosts
    rua: tuple[str, ...] | None = None  # None: the product's report address
    enforce_max_age: int | None = Field(None, ge=86_400, le=MAX_AGE_LIMIT)
    auto_promote: bool = True
    approval: Literal["auto", "manual"] = "auto"
    approved: bool = False  # a person approved the promotion (manual approval)
    rules: RuleOverrides = Field(default_factory=RuleOverrides)
    callback_url: HttpUrl | None = None
    state: Lifecycle = Lifecycle.ONBOARDING
    state_reason: str | None = None
    generation: int = Field(1, ge=1)  # bumped by every change that restarts the workflow
    created_at: AwareDatetime
    updated_at: AwareDatetime
    version: int = Field(0, ge=0)  # optimistic concurrency, bumped by every save

    def execution_name(self) -> str:
        """The workflow execution for this domain and generation: starting it twice is harmless
        (Step Functions refuses a second execution with the same name)."""
        return f"{self.domain.replace('.', '-')}-g{self.generation}"[:80]

    def moved_to(self, state: Lifecycle, reason: str | None, at: datetime) -> DomainConfig:
        return self.model_copy(update={"state": state, "state_reason": reason, "updated_at": at})


class DomainConfigStore(Protocol):
    def get(self, domain: str) -> DomainConfig | None: ...

    def create(self, config: DomainConfig) -> DomainConfig:
        """Store a new domain; `DomainExistsError` if it is already managed."""
        ...

    def save(self, config: DomainConfig) -> DomainConfig:
        """Store if the version is unchanged since read (`StoreConflictError` otherwise)."""
        ...

    def page(
        self, limit: int, after: str | None = None, state: Lifecycle | None = None
    ) -> tuple[list[DomainConfig], str | None]:
        """Domains in name order after `after`, optionally in one state; and the next cursor."""
        ...
