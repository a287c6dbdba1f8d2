"""`mtasts local up` and `mtasts local down`: run the local world until told to stop.

    mtasts local up [--config FILE] [--bind IP] [--standard-ports] [--state-dir DIR]
                    [--background | --foreground] [--schedule-interval SECONDS]
    mtasts local down [--state-dir DIR]

Foreground (the default): start, print the endpoints, write `<state dir>/endpoints.json`, serve
until SIGINT or SIGTERM, stop everything and remove the file. Background: start a detached
foreground world (log in `world.log`, pid in `world.pid`) and return once its `endpoints.json`
exists, i.e. once it is ready; `down` signals it and waits until it is gone. Lambda handlers run
as subprocesses, as they would in their own sandboxes.

The core CLI (`mtasts.cli`) hands `mtasts local ...` to `main` here, importing this module only
then: the product never depends on the local world.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from mtasts_local.config import WorldConfigError, load_world
from mtasts_local.endpoints import DEFAULT_STATE_DIR, ENDPOINTS_FILE, write_endpoints

if TYPE_CHECKING:
    from mtasts_local.world import LocalWorld

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PID_FILE: Final = "world.pid"
LOG_FILE: Final = "world.log"
READY_TIMEOUT: Final = 60.0  # seconds a background world may take to write endpoints.json
STOP_TIMEOUT: Final = 30.0  # seconds `down` waits after SIGTERM before SIGKILL
LOG_TAIL_LINES: Final = 20
_POLL: Final = 0.05


class LocalCommandError(Exception):
    """The command cannot do what was asked; the message says why (exit status 1)."""


# --- up, in the foreground -----------------------------------------------------------------------


def _world(args: argparse.Namespace) -> LocalWorld:
    # Imported here: moto and the SAM translator take seconds, which `down` need not wait for.
    from mtasts_local.aws.lambda_runner import InvokeMode
    from mtasts_local.aws.template import REPO_TEMPLATE
    from mtasts_local.world import LocalWorld

    return LocalWorld(
        load_world(args.config),
        bind=args.bind,
        standard_ports=args.standard_ports,
        state_dir=args.state_dir,
        invoke_mode=InvokeMode.SUBPROCESS,
        template=args.template or REPO_TEMPLATE,
        schedule_interval=args.schedule_interval or None,
    )


def up_foreground(args: argparse.Namespace) -> int:
    world = _world(args)  # a bad config fails here, before anything listens
    endpoints_file = args.state_dir / ENDPOINTS_FILE
    stopping = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stopping.set())
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with world:
            endpoints = world.endpoints()
            write_endpoints(endpoints, endpoints_file)
            print(f"The local world is up (pid {os.getpid()}):\n{endpoints.describe()}", flush=True)
            # A timed wait, so a signal's handler gets to run promptly whatever the platform.
            while not stopping.wait(0.5):
                pass
            print("Stopping the local world...", flush=True)
    finally:
        endpoints_file.unlink(missing_ok=True)
        _forget_pid(args.state_dir, os.getpid())
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("The local world is down.", flush=True)
    return EXIT_OK


# --- up, in the background -----------------------------------------------------------------------


def _child_command(args: argparse.Namespace) -> list[str]:
    command = [sys.executable, "-m", "mtasts_local.cli", "up", "--foreground"]
    command += ["--bind", args.bind, "--state-dir", str(args.state_dir)]
    if args.template is not None:
        command += ["--template", str(args.template)]
    command += ["--schedule-interval", str(args.schedule_interval)]
    if args.config is not None:
        command += ["--config", str(args.config)]
    if args.standard_ports:
        command.append("--standard-ports")
    return command


def up_background(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    running = running_pid(state_dir)
    if running is not None:
        raise LocalCommandError(
            f"a local world is already running from {state_dir} (pid {running}); "
            "run 'mtasts local down' first"
        )
    load_world(args.config)  # report a bad config here, not as a child's log line
    endpoints_file = state_dir / ENDPOINTS_FILE
    endpoints_file.unlink(missing_ok=True)
    log_path = state_dir / LOG_FILE
    with log_path.open("wb") as log:
        child = subprocess.Popen(
            _child_command(args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # detached: a Ctrl-C in this terminal does not reach it
        )
    (state_dir / PID_FILE).write_text(f"{child.pid}\n", encoding="ascii")
    _wait_until_ready(child, endpoints_file, log_path, args.ready_timeout)
    print(endpoints_file.read_text(encoding="utf-8"), end="", flush=True)
    print(f"The local world runs in the background (pid {child.pid}); log: {log_path}")
    return EXIT_OK


def _wait_until_ready(
    child: subprocess.Popen[bytes], endpoints_file: Path, log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not endpoints_file.exists():
        if child.poll() is not None:
            raise LocalCommandError(
                f"the local world exited with status {child.returncode} before it was ready; "
                f"the end of {log_path}:\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            _stop_process(child.pid)
            child.wait()
            raise LocalCommandError(
                f"the local world was not ready after {timeout:.0f} s and was stopped; "
                f"the end of {log_path}:\n{_tail(log_path)}"
            )
        time.sleep(_POLL)
    # Popen would warn that the child it spawned still runs: it is meant to, detached.
    child.returncode = 0


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-LOG_TAIL_LINES:])


# --- down ----------------------------------------------------------------------------------------


def down(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir
    pid = running_pid(state_dir)
    if pid is None:
        print(f"No local world is running from {state_dir}.")
    else:
        _stop_process(pid)
        print(f"The local world (pid {pid}) is down.")
    (state_dir / PID_FILE).unlink(missing_ok=True)
    (state_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
    return EXIT_OK


def _stop_process(pid: int) -> None:
    """SIGTERM, wait for a clean stop, SIGKILL only if it never comes."""
    for signum, timeout in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                break
            time.sleep(_POLL)
        else:
            return
    raise LocalCommandError(f"the local world (pid {pid}) did not stop")


def running_pid(state_dir: Path) -> int | None:
    """The pid in `world.pid` if that process is alive and is a local world (not a reused pid)."""
    try:
        pid = int((state_dir / PID_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) and _is_world(pid) else None


def _alive(pid: int) -> bool:
    # A detached child that has exited may stay a zombie when nothing reaps it (a container's
    # init may not): it is gone for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _is_world(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"mtasts_local.cli" in command


def _forget_pid(state_dir: Path, pid: int) -> None:
    pid_file = state_dir / PID_FILE
    try:
        if int(pid_file.read_text(encoding="ascii").strip()) == pid:
            pid_file.unlink()
    except (OSError, ValueError):
        pass


# --- arguments -----------------------------------------------------------------------------------


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError("seconds cannot be negative")
    return value


def _add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=lambda text: Path(text).absolute(),
        default=DEFAULT_STATE_DIR.absolute(),
        metavar="DIR",
        help="where the CA bundle, endpoints.json, world.log and world.pid go "
        "(default: ./%(default)s)",
    )


def _up_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = commands.add_parser("up", help="start the local world")
    up.add_argument("--config", type=Path, metavar="FILE", help="world file (default: built in)")
    up.add_argument("--bind", default="127.0.0.1", metavar="IP", help="(default: %(default)s)")
    up.add_argument(
        "--standard-ports",
        action="store_true",
        help="DNS on 53, HTTPS on 443, SMTP on 25 (needs root; each MX host gets its own "
        "loopback address after --bind)",
    )
    mode = up.add_mutually_exclusive_group()
    mode.add_argument("--background", action="store_true", help="detach once ready")
    mode.add_argument("--foreground", action="store_true", help="stay attached (the default)")
    up.add_argument(
        "--template",
        type=lambda t: Path(t).absolute(),
        default=None,
        metavar="FILE",
        help="SAM template (default: the repository's)",
    )
    up.add_argument(
        "--schedule-interval",
        type=_seconds,
        default=300.0,
        metavar="SECONDS",
        help="fire every schedule this often; 0: never (default: %(default)s)",
    )
    up.add_argument(
        "--ready-timeout",
        type=_seconds,
        default=READY_TIMEOUT,
        metavar="SECONDS",
        help="--background: how long to wait for the world (default: %(default)s)",
    )
    _add_state_dir(up)
    up.set_defaults(handler=lambda a: up_background(a) if a.background else up_foreground(a))


def build_parser(prog: str = "mtasts local") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Run the local world: AWS, Cloudflare, DNS, HTTPS, SMTP, API."
    )
    commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    _up_parser(commands)
    down_parser = commands.add_parser("down", help="stop a background local world")
    _add_state_dir(down_parser)
    down_parser.set_defaults(handler=down)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except WorldConfigError as error:
        print(f"mtasts local: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - one line, never a traceback (as `mtasts` does)
        print(f"mtasts local: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
