"""`mtasts check DOMAIN ...`: the validator for a person at a terminal or a script.

A table (coloured on a terminal) with a progress line for many domains, or JSON
`{"DOMAIN": {"ok": bool, "findings": [...]}}`. Exit 0 when no domain has an error finding.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import msgspec

from mtasts.dns_lookup import AsyncDnsLookup
from mtasts.domain_names import canonical_domain
from mtasts.errors import MtaStsError
from mtasts.findings import Severity
from mtasts.local_endpoints import DEFAULT_STATE_DIR, ENDPOINTS_FILE, read_endpoints
from mtasts.policy_fetch import AsyncHttpsPolicyFetcher, ConnectTargets
from mtasts.smtp_probe import strict_client_context
from mtasts.validation_rules import Verdict
from mtasts.validator import Validator

EXIT_OK, EXIT_FINDINGS = 0, 1
_COLOURS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}


class CheckUsageError(MtaStsError):
    """The command line asks for something impossible (a bad name server, a bad domain)."""


class CheckOptions(msgspec.Struct, frozen=True):
    domains: Sequence[str]
    as_json: bool = False
    nameserver: str | None = None
    ca_bundle: str | None = None
    local: bool = False
    state_dir: Path = DEFAULT_STATE_DIR


class _Targets(msgspec.Struct, frozen=True):
    nameserver: tuple[str, int] | None
    ca_bundle: str | None
    https: ConnectTargets
    smtp: ConnectTargets


def parse_nameserver(text: str) -> tuple[str, int]:
    """`IP`, `IP:PORT` or `[IPv6]:PORT`."""
    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        address = str(ipaddress.ip_address(host))
        number = int(port)
    except ValueError as error:
        raise CheckUsageError(f"--nameserver {text!r}: expected IP[:PORT]") from error
    if not 0 < number < 65536:
        raise CheckUsageError(f"--nameserver {text!r}: port out of range")
    return address, number


def _targets(options: CheckOptions) -> _Targets:
    nameserver = parse_nameserver(options.nameserver) if options.nameserver else None
    if not options.local:
        return _Targets(nameserver, options.ca_bundle, {}, {})
    world = read_endpoints(options.state_dir / ENDPOINTS_FILE)
    return _Targets(
        nameserver or (world.dns.host, world.dns.port),
        options.ca_bundle or world.ca_bundle,
        {"*": world.https_target()},
        world.smtp_targets(),
    )


def run_check(options: CheckOptions, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr  # looked up per call, not at import
    try:
        domains = [canonical_domain(d) for d in options.domains]
    except MtaStsError as error:
        raise CheckUsageError(str(error)) from error
    targets = _targets(options)
    progress = _Progress(err, len(domains))
    verdicts = asyncio.run(_validate(domains, targets, progress))
    progress.done()
    if options.as_json:
        out.write(json.dumps(as_json(verdicts), indent=2) + "\n")
    else:
        out.write(render_table(verdicts, colour=out.isatty()))
    return EXIT_OK if all(v.ok for v in verdicts) else EXIT_FINDINGS


async def _validate(domains: list[str], targets: _Targets, progress: _Progress) -> list[Verdict]:
    host, port = targets.nameserver or (None, 53)
    async with AsyncHttpsPolicyFetcher(
        ca_bundle=targets.ca_bundle, connect_to=targets.https
    ) as fetcher:
        validator = Validator(
            lookup=AsyncDnsLookup(host, port),
            fetcher=fetcher,
            smtp_context=strict_client_context(targets.ca_bundle),
            smtp_connect_to=targets.smtp,
            on_verdict=progress.tick,
        )
        return await validator.validate(domains)


def as_json(verdicts: Sequence[Verdict]) -> dict[str, object]:
    return {
        v.domain: {"ok": v.ok, "findings": [f.model_dump(mode="json") for f in v.findings]}
        for v in verdicts
    }


def render_table(verdicts: Sequence[Verdict], *, colour: bool) -> str:
    lines: list[str] = []
    for verdict in verdicts:
        status = "ok" if verdict.ok else "FAIL"
        mode = verdict.policy.mode.value if verdict.policy else "no policy"
        lines.append(
            f"{_paint(status, '32' if verdict.ok else '31', colour)}  {verdict.domain}"
            f"  ({mode}{', id ' + verdict.policy_id if verdict.policy_id else ''})"
        )
        for found in verdict.findings:
            label = _paint(f"{found.severity.value:<7}", _COLOURS[found.severity], colour)
            lines.append(f"    {label} {found.code.value:<28} {found.message}")
            if found.hint:
                lines.append(f"            {'':<28} fix: {found.hint}")
    failing = sum(1 for v in verdicts if not v.ok)
    lines.append(f"{len(verdicts)} domain(s) checked, {failing} with errors")
    return "\n".join(lines) + "\n"


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if colour else text


class _Progress:
    """`checked 12/1000` on a terminal's stderr, for more than one domain; silent otherwise."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream, self.total, self.count = stream, total, 0
        self.active = total > 1 and stream.isatty()

    def tick(self, _verdict: Verdict) -> None:
        self.count += 1
        if self.active:
            self.stream.write(f"\rchecked {self.count}/{self.total}")
            self.stream.flush()

    def done(self) -> None:
        if self.active:
            self.stream.write("\r\033[K")
            self.stream.flush()
