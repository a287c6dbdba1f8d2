"""How a running local world is reached: the `endpoints.json` that `mtasts local up` writes.

The file's keys are a public interface (scripts, the demo and `--local` flags read them). The
model lives in the core so that commands like `mtasts check --local` can read the file without
importing the local world itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mtasts.errors import MtaStsError

ENDPOINTS_FILE = "endpoints.json"
DEFAULT_STATE_DIR = Path(".mtasts-local")


class LocalWorldNotRunningError(MtaStsError):
    """No readable endpoints file: the local world is not up (or was started elsewhere)."""


class HostPort(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: int = Field(ge=1, le=65535)


class Endpoints(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    aws_endpoint_url: str
    cloudflare_base_url: str
    cloudflare_api_token: str
    cloudflare_account_id: str
    dns: HostPort
    https: HostPort
    smtp: dict[str, HostPort]  # MX host name -> where its SMTP server listens
    ca_bundle: str  # absolute path of the local CA's PEM
    api_url: str
    api_key: str

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def describe(self) -> str:
        """The endpoints for a person to read."""
        lines = [
            f"AWS (moto)          {self.aws_endpoint_url}",
            f"Cloudflare API      {self.cloudflare_base_url}",
            f"  account / token   {self.cloudflare_account_id} / {self.cloudflare_api_token}",
            f"DNS (UDP+TCP)       {self.dns.host} port {self.dns.port}",
            f"HTTPS (Pages edge)  {self.https.host} port {self.https.port}",
            f"API                 {self.api_url}  (x-api-key: {self.api_key})",
            f"CA bundle           {self.ca_bundle}",
            "SMTP (MX hosts)",
            *(f"  {name:<30} {hp.host} port {hp.port}" for name, hp in self.smtp.items()),
        ]
        return "\n".join(lines)

    def smtp_targets(self) -> dict[str, tuple[str, int]]:
        return {name: (hp.host, hp.port) for name, hp in self.smtp.items()}

    def https_target(self) -> tuple[str, int]:
        return (self.https.host, self.https.port)


def read_endpoints(path: Path) -> Endpoints:
    try:
        return Endpoints.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise LocalWorldNotRunningError(
            f"{path} does not exist: start the local world with `mtasts local up` first"
        ) from error
    except (OSError, ValidationError) as error:
        message = f"{path} is not a usable endpoints file: {error}"
        raise LocalWorldNotRunningError(message) from error
