"""`mtasts deploy DOMAIN --mode ...`: deploy a policy and rotate its id from a terminal, against
the local world (`--local`) or real Cloudflare (`CLOUDFLARE_API_TOKEN`, `CLOUDFLARE_ACCOUNT_ID`),
printing each step as it happens.

Without AWS, what was published is remembered in a directory (`--state-dir`): the rotation rule
and the removal wait need to know the last id, hash and the longest `max_age` announced.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import msgspec

from mtasts.deploy import DeployOutcome, DeployRequest
from mtasts.domain_names import canonical_domain
from mtasts.errors import MtaStsError
from mtasts.file_store import FilePolicyStore
from mtasts.local_endpoints import DEFAULT_STATE_DIR, ENDPOINTS_FILE, read_endpoints
from mtasts.policy import Mode
from mtasts.settings import Settings, load_settings
from mtasts.wiring import build_deployer

STATE_SUBDIR = "mtasts-autopilot"


class DeployUsageError(MtaStsError):
    """The command line is missing something the deploy needs."""


class DeployOptions(msgspec.Struct, frozen=True):
    domain: str
    mode: Mode
    mx: Sequence[str] | None = None
    max_age: int | None = None
    rua: Sequence[str] | None = None
    local: bool = False
    local_dir: Path = DEFAULT_STATE_DIR
    state_dir: Path | None = None


def default_state_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / STATE_SUBDIR


def settings_for(options: DeployOptions, environ: Mapping[str, str]) -> Settings:
    """The environment's settings, pointed at the local world's endpoints with `--local`."""
    values = dict(environ)
    if options.local:
        world = read_endpoints(options.local_dir / ENDPOINTS_FILE)
        values |= {
            "CLOUDFLARE_API_TOKEN": world.cloudflare_api_token,
            "CLOUDFLARE_ACCOUNT_ID": world.cloudflare_account_id,
            "CLOUDFLARE_BASE_URL": world.cloudflare_base_url,
            "DNS_NAMESERVER": f"{world.dns.host}:{world.dns.port}",
            "POLICY_CONNECT_TO": f"{world.https.host}:{world.https.port}",
            "CA_BUNDLE": world.ca_bundle,
        }
    settings = load_settings(values)
    if settings.cloudflare_api_token is None:
        raise DeployUsageError("set CLOUDFLARE_API_TOKEN (or use --local)")
    settings.require("cloudflare_account_id")
    return settings


def run_deploy(
    options: DeployOptions,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    out = out or sys.stdout  # looked up per call: tests and callers swap sys.stdout
    environ = os.environ if environ is None else environ
    domain = canonical_domain(options.domain)
    settings = settings_for(options, environ)
    rua = tuple(options.rua or settings.report_rua)
    if not rua and options.mode is not Mode.NONE:
        raise DeployUsageError("give --rua (or set REPORT_RUA): where senders mail TLS-RPT reports")
    state_dir = options.state_dir or (
        options.local_dir / "cli-state" if options.local else default_state_dir(environ)
    )
    store = FilePolicyStore(state_dir)

    def step(message: str) -> None:
        out.write(f"{datetime.now(UTC):%H:%M:%S}  {message}\n")
        out.flush()

    deployer = build_deployer(settings, store=store, audit=store, on_step=step)
    max_age = options.max_age
    if max_age is None:
        max_age = (
            settings.enforce_max_age if options.mode is Mode.ENFORCE else settings.testing_max_age
        )
    outcome = deployer.deploy(
        DeployRequest(domain, options.mode, max_age, rua, tuple(options.mx) if options.mx else None)
    )
    out.write(_summary(outcome))
    return 0


def _summary(outcome: DeployOutcome) -> str:
    what = "deployed and announced" if outcome.policy_changed else "already deployed"
    return (
        f"{outcome.domain}: {outcome.mode.value} policy {what}; id {outcome.policy_id}; "
        f"mx {', '.join(outcome.mx) or '-'}\n"
    )
