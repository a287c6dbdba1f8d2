"""Settings: one pydantic model, read from an environment mapping when a handler or command
starts (never at import time), with a clear error naming every bad or missing variable."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from mtasts.clock import Clock, clock_from_spec
from mtasts.errors import MtaStsError

ApiAuth = Literal["API_KEY", "AWS_IAM"]
DEFAULT_TESTING_MAX_AGE = 86_400
DEFAULT_ENFORCE_MAX_AGE = 604_800


class SettingsError(MtaStsError):
    """The environment does not hold a usable configuration."""


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


# Built on first use: only the API reads API_EXECUTION_TIMING.
_TIMING: TypeAdapter[dict[str, int]] = TypeAdapter(
    dict[str, int], config=ConfigDict(defer_build=True)
)


class Settings(BaseModel):
    """Everything the handlers and the CLI need to reach the outside world."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    environment: str = Field("dev", alias="ENVIRONMENT")
    domains_table: str | None = Field(None, alias="DOMAINS_TABLE")
    aws_endpoint_url: str | None = Field(None, alias="AWS_ENDPOINT_URL")
    cloudflare_account_id: str | None = Field(None, alias="CLOUDFLARE_ACCOUNT_ID")
    # In AWS the token lives in Secrets Manager; a plain token is for the CLI and the local world.
    cloudflare_token_secret: str | None = Field(None, alias="CLOUDFLARE_TOKEN_SECRET")
    cloudflare_api_token: SecretStr | None = Field(None, alias="CLOUDFLARE_API_TOKEN")
    cloudflare_base_url: str | None = Field(None, alias="CLOUDFLARE_BASE_URL")
    report_rua: tuple[str, ...] = Field((), alias="REPORT_RUA")
    # The local world: a DNS server to ask instead of the system's, where to connect for
    # `mta-sts.*` fetches and MX hosts (names, SNI and certificate checks stay the real ones),
    # and the CA bundle that signs the world's certificates.
    dns_nameserver: str | None = Field(None, alias="DNS_NAMESERVER")
    policy_connect_to: str | None = Field(None, alias="POLICY_CONNECT_TO")
    # `mx1.example.com=127.0.0.3:2525,...`: where to connect for each MX host's SMTP.
    smtp_connect_to: str | None = Field(None, alias="SMTP_CONNECT_TO")
    ca_bundle: str | None = Field(None, alias="CA_BUNDLE")
    report_bucket: str | None = Field(None, alias="REPORT_BUCKET")
    inbound_prefix: str = Field("inbound/", alias="INBOUND_PREFIX")
    count_unsigned_reports: bool = Field(True, alias="COUNT_UNSIGNED_REPORTS")
    report_size_limit_mib: int = Field(64, alias="REPORT_SIZE_LIMIT_MIB", ge=1, le=1024)
    event_bus_name: str = Field("default", alias="EVENT_BUS_NAME")
    metrics_namespace: str = Field("MtaStsAutopilot", alias="POWERTOOLS_METRICS_NAMESPACE")
    verify_attempts: int = Field(10, alias="VERIFY_ATTEMPTS", ge=1, le=100)
    verify_backoff_seconds: float = Field(2.0, alias="VERIFY_BACKOFF_SECONDS", ge=0, le=60)
    fetch_timeout_seconds: float = Field(20.0, alias="FETCH_TIMEOUT_SECONDS", gt=0, le=60)
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

    # The local world's demo only: a compressed calendar (see mtasts.clock); unset in AWS.
    simulated_clock: str | None = Field(None, alias="SIMULATED_CLOCK")

    def clock(self) -> Clock:
        """What "now" is for the product's calendar: policy ids, windows, report days."""
        return clock_from_spec(self.simulated_clock)

    _lists = field_validator("report_rua", mode="before")(_split_list)

    @field_validator("simulated_clock")
    @classmethod
    def _clock_spec(cls, value: str | None) -> str | None:
        clock_from_spec(value)  # a ClockSpecError is a ValueError: reported as a bad setting
        return value

    @field_validator("dns_nameserver", "policy_connect_to")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value and ":" in value and not value.rpartition(":")[2].isdigit():
            raise ValueError(f"{value!r} is not ADDRESS[:PORT]")
        return value

    @field_validator("smtp_connect_to")
    @classmethod
    def _host_targets(cls, value: str | None) -> str | None:
        for entry in filter(None, (value or "").split(",")):
            host, equals, target = entry.partition("=")
            if not (host.strip() and equals and target.rpartition(":")[2].isdigit()):
                raise ValueError(f"{entry!r} is not HOST=ADDRESS:PORT")
        return value

    def nameserver(self) -> tuple[str | None, int]:
        """(address, port) of the DNS server to ask; (None, 53) for the system's."""
        if not self.dns_nameserver:
            return None, 53
        host, _, port = self.dns_nameserver.rpartition(":")
        return (host, int(port)) if host else (self.dns_nameserver, 53)

    def policy_targets(self) -> dict[str, tuple[str, int]]:
        """Where every `mta-sts.*` fetch connects instead of what DNS says (the local edge)."""
        if not self.policy_connect_to:
            return {}
        host, _, port = self.policy_connect_to.rpartition(":")
        return {"*": (host, int(port))}

    def smtp_targets(self) -> dict[str, tuple[str, int]]:
        """MX host -> where its SMTP listens, from `host=address:port,...`."""
        targets: dict[str, tuple[str, int]] = {}
        for entry in filter(None, (self.smtp_connect_to or "").split(",")):
            host, _, target = entry.partition("=")
            address, _, port = target.rpartition(":")
            targets[host.strip().lower()] = (address, int(port))
        return targets

    def require(self, *names: str) -> None:
        """Raise SettingsError naming each listed setting that is unset."""
        missing = [n for n in names if getattr(self, n) in (None, "", ())]
        if missing:
            aliases = [str(type(self).model_fields[n].alias) for n in missing]
            raise SettingsError(f"missing settings: {', '.join(aliases)}")


def load_settings(environ: Mapping[str, str]) -> Settings:
    try:
        return Settings.model_validate(dict(environ))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from error
