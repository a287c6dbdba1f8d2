"""Settings: the one pydantic model every handler and the CLI read from an environment mapping
when they start (never at import time), with a clear error naming every bad or missing variable.
It extends the validator's own settings (mtasts.validator_settings), which the validate Lambda
reads alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import ConfigDict, Field, SecretStr, TypeAdapter, ValidationError, field_validator

from mtasts.errors import SettingsError
from mtasts.validator_settings import ValidatorSettings, read_settings

ApiAuth = Literal["API_KEY", "AWS_IAM"]
DEFAULT_TESTING_MAX_AGE = 86_400
DEFAULT_ENFORCE_MAX_AGE = 604_800


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


# Built on first use: only the API reads API_EXECUTION_TIMING.
_TIMING: TypeAdapter[dict[str, int]] = TypeAdapter(
    dict[str, int], config=ConfigDict(defer_build=True)
)


class Settings(ValidatorSettings):
    """Everything the handlers and the CLI need to reach the outside world."""

    cloudflare_account_id: str | None = Field(None, alias="CLOUDFLARE_ACCOUNT_ID")
    # In AWS the token lives in Secrets Manager; a plain token is for the CLI and the local world.
    cloudflare_token_secret: str | None = Field(None, alias="CLOUDFLARE_TOKEN_SECRET")
    cloudflare_api_token: SecretStr | None = Field(None, alias="CLOUDFLARE_API_TOKEN")
    cloudflare_base_url: str | None = Field(None, alias="CLOUDFLARE_BASE_URL")
    report_rua: tuple[str, ...] = Field((), alias="REPORT_RUA")
    report_bucket: str | None = Field(None, alias="REPORT_BUCKET")
    inbound_prefix: str = Field("inbound/", alias="INBOUND_PREFIX")
    count_unsigned_reports: bool = Field(True, alias="COUNT_UNSIGNED_REPORTS")
    report_size_limit_mib: int = Field(64, alias="REPORT_SIZE_LIMIT_MIB", ge=1, le=1024)
    verify_attempts: int = Field(10, alias="VERIFY_ATTEMPTS", ge=1, le=100)
    verify_backoff_seconds: float = Field(2.0, alias="VERIFY_BACKOFF_SECONDS", ge=0, le=60)
    testing_max_age: int = Field(DEFAULT_TESTING_MAX_AGE, alias="TESTING_MAX_AGE", ge=0)
    enforce_max_age: int = Field(DEFAULT_ENFORCE_MAX_AGE, alias="ENFORCE_MAX_AGE", ge=0)
    # The promotion workflow: the fleet's default rules (template parameters; a domain's
    # configuration and each execution's input may override them) and where it notifies.
    window_days: int = Field(14, alias="WINDOW_DAYS", ge=1, le=365)
    min_reporters: int = Field(2, alias="MIN_REPORTERS", ge=0)
    min_sessions: int = Field(100, alias="MIN_SESSIONS", ge=0)
    max_failure_ratio: float = Field(0.0, alias="MAX_FAILURE_RATIO", ge=0.0, le=1.0)
    allow_without_reports: bool = Field(False, alias="ALLOW_WITHOUT_REPORTS")
    notify_topic_arn: str | None = Field(None, alias="NOTIFY_TOPIC_ARN")
    # Signed status callbacks to a domain's callback_url: the HMAC secret's ARN (Secrets
    # Manager) and how long delivery may take; attempts, waits and all must fit in the notify
    # Lambda's timeout with room for its other calls.
    callback_secret_arn: str | None = Field(None, alias="CALLBACK_SECRET_ARN")
    callback_attempts: int = Field(4, alias="CALLBACK_ATTEMPTS", ge=1, le=10)
    callback_timeout_seconds: float = Field(5.0, alias="CALLBACK_TIMEOUT_SECONDS", gt=0, le=30)
    callback_budget_seconds: float = Field(15.0, alias="CALLBACK_BUDGET_SECONDS", gt=0, le=60)
    # The API: the workflow it starts and stops, where retried requests are remembered, and
    # (tests and the demo only) the waits its executions use instead of the definition's.
    api_auth: ApiAuth = Field("API_KEY", alias="API_AUTH")  # the template's ApiAuth
    promotion_state_machine_arn: str | None = Field(None, alias="PROMOTION_STATE_MACHINE_ARN")
    removal_state_machine_arn: str | None = Field(None, alias="REMOVAL_STATE_MACHINE_ARN")
    idempotency_table: str | None = Field(None, alias="IDEMPOTENCY_TABLE")
    idempotency_ttl_seconds: int = Field(
        86_400, alias="IDEMPOTENCY_TTL_SECONDS", ge=60, le=30 * 86_400
    )
    # JSON, like {"observe_seconds": 5}; kept as text so that Settings stays hashable (the
    # deployer is cached per settings).
    api_execution_timing: str | None = Field(None, alias="API_EXECUTION_TIMING")

    def execution_timing(self) -> dict[str, int] | None:
        if not self.api_execution_timing:
            return None
        try:
            timing = _TIMING.validate_json(self.api_execution_timing)
        except ValidationError as error:
            message = f"API_EXECUTION_TIMING is not a JSON object of seconds: {error}"
            raise SettingsError(message) from error
        return timing

    _lists = field_validator("report_rua", mode="before")(_split_list)


def load_settings(environ: Mapping[str, str]) -> Settings:
    return read_settings(Settings, environ)
