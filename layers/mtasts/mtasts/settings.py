"""Settings: one pydantic model, read from an environment mapping when a handler or command
starts (never at import time), with a clear error naming every bad or missing variable."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from mtasts.errors import MtaStsError

DEFAULT_TESTING_MAX_AGE = 86_400
DEFAULT_ENFORCE_MAX_AGE = 604_800


class SettingsError(MtaStsError):
    """The environment does not hold a usable configuration."""


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


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
    verify_attempts: int = Field(10, alias="VERIFY_ATTEMPTS", ge=1, le=100)
    verify_backoff_seconds: float = Field(2.0, alias="VERIFY_BACKOFF_SECONDS", ge=0, le=60)
    fetch_timeout_seconds: float = Field(20.0, alias="FETCH_TIMEOUT_SECONDS", gt=0, le=60)
    testing_max_age: int = Field(DEFAULT_TESTING_MAX_AGE, alias="TESTING_MAX_AGE", ge=0)
    enforce_max_age: int = Field(DEFAULT_ENFORCE_MAX_AGE, alias="ENFORCE_MAX_AGE", ge=0)

    _lists = field_validator("report_rua", mode="before")(_split_list)

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
