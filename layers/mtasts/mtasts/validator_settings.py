"""The settings the fleet validation reads: where its store and event bus are, how to reach DNS,
the policy hosts and the MX hosts (the local world remaps them), and the product's calendar.

`Settings` (mtasts.settings) extends this model with everything else, so whatever takes these
also takes a full `Settings`. The validate Lambda reads only these: building the schema of the
other thirty-odd fields would cost its cold start about 4 ms for nothing it uses.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mtasts.clock import Clock, clock_from_spec
from mtasts.errors import SettingsError


class ValidatorSettings(BaseModel):
    """Read from an environment mapping when a handler or command starts, never at import."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    environment: str = Field("dev", alias="ENVIRONMENT")
    domains_table: str | None = Field(None, alias="DOMAINS_TABLE")
    aws_endpoint_url: str | None = Field(None, alias="AWS_ENDPOINT_URL")
    event_bus_name: str = Field("default", alias="EVENT_BUS_NAME")
    metrics_namespace: str = Field("MtaStsAutopilot", alias="POWERTOOLS_METRICS_NAMESPACE")
    fetch_timeout_seconds: float = Field(20.0, alias="FETCH_TIMEOUT_SECONDS", gt=0, le=60)
    # The local world: a DNS server to ask instead of the system's, where to connect for
    # `mta-sts.*` fetches and MX hosts (names, SNI and certificate checks stay the real ones),
    # and the CA bundle that signs the world's certificates.
    dns_nameserver: str | None = Field(None, alias="DNS_NAMESERVER")
    policy_connect_to: str | None = Field(None, alias="POLICY_CONNECT_TO")
    # `mx1.example.com=127.0.0.3:2525,...`: where to connect for each MX host's SMTP.
    smtp_connect_to: str | None = Field(None, alias="SMTP_CONNECT_TO")
    ca_bundle: str | None = Field(None, alias="CA_BUNDLE")
    # The local world's demo only: a compressed calendar (see mtasts.clock); unset in AWS.
    simulated_clock: str | None = Field(None, alias="SIMULATED_CLOCK")

    def clock(self) -> Clock:
        """What "now" is for the product's calendar: policy ids, windows, report days."""
        return clock_from_spec(self.simulated_clock)

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


def read_settings[S: ValidatorSettings](model: type[S], environ: Mapping[str, str]) -> S:
    """`model` read from `environ`, or a SettingsError naming every bad variable."""
    try:
        return model.model_validate(dict(environ))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from error


def load_validator_settings(environ: Mapping[str, str]) -> ValidatorSettings:
    return read_settings(ValidatorSettings, environ)
