"""`make demo`: the hands-off lifecycle of a small fleet on the local world, a day in seconds.

    python -m mtasts_local.demo [--seconds-per-day S] [--state-dir DIR]

The default world's four domains are onboarded through the API as a ticketing system would.
From then on nothing is scripted but the world itself: its senders deliver mail under whatever
policy each domain publishes and mail TLS-RPT reports about it through the SES path; the
validator runs on its schedule; the promotion workflow (Step Functions, in moto) deploys,
observes, promotes and heals. Midway an admin adds a backup MX to moving.example, as admins do.
The demo prints what happens as it happens and ends with the fleet as a strict sender sees it
(served policy, `_mta-sts` id). It exits 1 unless: the clean domains reach `enforce`,
expired.example is held in `testing` for its expired MX certificate, and the new MX is in
moving.example's policy under a new id. The status page (`GET /dashboard`) is written to the
state directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TextIO

from mtasts.clock import CompressedClock
from mtasts_local.config import WorldConfigError, load_world
from mtasts_local.demo_api import DemoError
from mtasts_local.demo_outcome import DomainView, expected_outcomes
from mtasts_local.demo_timeline import Timeline
from mtasts_local.endpoints import DEFAULT_STATE_DIR
from mtasts_local.world import LocalWorld, LocalWorldError

EXIT_OK, EXIT_FAILED = 0, 1
WINDOW_DAYS: Final = 3
MESSAGES_PER_DAY: Final = 4  # per sender and domain
STEPS_PER_DAY: Final = 4
SECONDS_PER_DAY: Final = 6.0
MAX_DAYS: Final = 14
BACKUP_MX: Final = ("moving.example", "mx2.moving.example", 20)
# The fleet's rules as a template parameter: the world's three senders mail a few messages a day,
# so 30 sessions in the window is the evidence the demo asks for (the default is 100).
DEMO_PARAMETERS: Final = {"MinSessions": "30"}
LOG_FILE: Final = "demo-functions.log"
STATUS_PAGE: Final = "status.html"


@dataclass(frozen=True, slots=True)
class DemoSettings:
    seconds_per_day: float = SECONDS_PER_DAY
    state_dir: Path = DEFAULT_STATE_DIR
    max_days: int = MAX_DAYS


@dataclass
class DemoResult:
    views: dict[str, DomainView]
    problems: list[str]
    status_page: Path | None
    days: float
    timeline: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def run_demo(settings: DemoSettings, out: TextIO) -> DemoResult:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    # Day 0 starts at midnight UTC today; the world takes a few simulated hours to come up.
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    clock = CompressedClock.from_now(start, settings.seconds_per_day)
    timeline = Timeline(out, clock, start)
    out.write(_intro(settings))
    log = settings.state_dir / LOG_FILE
    with _functions_log(log), _world(settings, clock) as world:
        from mtasts_local.demo_fleet import DemoFleet  # imports the SDKs the world needs

        timeline.event("world", f"ready: API at {world.api.url}; the functions log to {log}")
        fleet = DemoFleet(world, clock, timeline, WINDOW_DAYS, MESSAGES_PER_DAY, BACKUP_MX)
        try:
            fleet.onboard()
            _live(fleet, clock, settings)
            fleet.validate_now()
            views = fleet.final_views()
            page = fleet.write_status_page(settings.state_dir / STATUS_PAGE)
        finally:
            fleet.close()
    problems = [problem for view in views.values() for problem in expected_outcomes(view)]
    days = (clock.now() - start) / timedelta(days=1)
    return DemoResult(views, problems, page, days, timeline.lines)


def _intro(settings: DemoSettings) -> str:
    return (
        "MTA-STS autopilot demo on the local world: moto running template.yaml and the real\n"
        "state machine, the Cloudflare stand-in, DNS, HTTPS and SMTP servers, three senders.\n"
        f"A day passes every {settings.seconds_per_day:g} s; observation windows are "
        f"{WINDOW_DAYS} days.\n"
        "Expected: hosted/selfhosted/moving.example in enforce; expired.example held in testing\n"
        "(its MX certificate has expired); a backup MX added to moving.example healed into its\n"
        "policy under a new id.\n\n"
    )


def _live(fleet: Any, clock: CompressedClock, settings: DemoSettings) -> None:
    """Step through the days until every outcome is reached, or the days run out."""
    step = settings.seconds_per_day / STEPS_PER_DAY
    deadline = time.monotonic() + settings.max_days * settings.seconds_per_day
    next_step = time.monotonic()
    while time.monotonic() < deadline:
        fleet.step(MESSAGES_PER_DAY // STEPS_PER_DAY)
        if fleet.finished():
            return
        next_step += step
        time.sleep(max(0.0, next_step - time.monotonic()))


@contextmanager
def _world(settings: DemoSettings, clock: CompressedClock) -> Iterator[LocalWorld]:
    from mtasts_local.aws.lambda_runner import InvokeMode  # moto: seconds to import

    timing = {
        # Each observation round a quarter of a day; the watch after promotion the same.
        "observe_seconds": max(1, round(settings.seconds_per_day / 4)),
        "watch_seconds": max(1, round(settings.seconds_per_day / 4)),
        "approval_seconds": 1,
        "watch_rounds": 1000,
    }
    world = LocalWorld(
        load_world(None),
        state_dir=settings.state_dir,
        invoke_mode=InvokeMode.IN_PROCESS,
        template_parameters=dict(DEMO_PARAMETERS),
        function_settings={
            "SIMULATED_CLOCK": clock.spec(),
            "API_EXECUTION_TIMING": json.dumps(timing),
            "VERIFY_BACKOFF_SECONDS": "0.2",
        },
    )
    with world:
        yield world


@contextmanager
def _functions_log(path: Path) -> Iterator[None]:
    """The handlers run in this process and log to stdout, as they do in Lambda; their lines go
    to a file so the timeline stays readable (descriptor 1 itself is redirected, which catches
    loggers made before and after)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with path.open("ab") as log:
        # moto's Step Functions engine logs as it evaluates (an absent JSONPath a Choice tests
        # with IsPresent, say): into the same file, not onto the terminal.
        handler = logging.StreamHandler(open(log.fileno(), "w", closefd=False))  # noqa: SIM115
        logging.getLogger().addHandler(handler)
        os.dup2(log.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            logging.getLogger().removeHandler(handler)
            handler.close()


def _terminal() -> TextIO:
    """The demo's own output: the terminal, even while descriptor 1 points at the log."""
    return os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mtasts-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds-per-day", type=float, default=SECONDS_PER_DAY)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args(argv)
    if not 2 <= args.seconds_per_day <= 600:
        parser.error("--seconds-per-day must be between 2 and 600")
    out = _terminal()
    try:
        result = run_demo(DemoSettings(args.seconds_per_day, args.state_dir), out)
    except (DemoError, LocalWorldError, WorldConfigError, OSError) as error:
        out.write(f"\nThe demo could not run: {error}\n")
        return EXIT_FAILED
    from mtasts_local.demo_timeline import print_summary

    page = result.status_page.resolve() if result.status_page else None
    print_summary(out, result.views, result.problems, page, result.days)
    return EXIT_OK if result.ok else EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
