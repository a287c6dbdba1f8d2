"""World start-up: wall time from `mtasts local up --background` to ready (the command returns
once `endpoints.json` exists), with the repository's template and the default world. Target: at
most 10 s on 2 cores. `mtasts local down` stops each run; its time is reported too.

Run with `.venv/bin/python -m benchmarks.world_startup [--rounds N]`. The first round also pays
for cold caches (bytecode, the OS's page cache); the figure is the median of the rounds. Exit
status 1 when the median misses the target (2: a round failed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 10.0
MTASTS = Path(sys.executable).parent / "mtasts"


def _run(*args: str) -> float:
    started = time.perf_counter()
    completed = subprocess.run(
        [str(MTASTS), "local", *args], capture_output=True, text=True, timeout=120, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"mtasts local {args[0]} failed: {completed.stderr.strip()}")
    return time.perf_counter() - started


def one_round() -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="world-startup-") as state_dir:
        up = _run("up", "--background", "--state-dir", state_dir)
        down = _run("down", "--state-dir", state_dir)
    return up, down


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.world_startup")
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {rounds} rounds")
    ups, downs = [], []
    try:
        for number in range(1, rounds + 1):
            up, down = one_round()
            ups.append(up)
            downs.append(down)
            print(f"  round {number}: up --background ready in {up:.2f} s, down in {down:.2f} s")
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        print(f"world_startup: {error}", file=sys.stderr)
        return 2
    median = statistics.median(ups)
    verdict = "meets" if median <= TARGET_SECONDS else "MISSES"
    print(
        f"world start-up (local up --background to ready): median {median:.2f} s "
        f"(min {min(ups):.2f}, max {max(ups):.2f}); {verdict} the {TARGET_SECONDS:.0f} s target; "
        f"down: median {statistics.median(downs):.2f} s"
    )
    return 0 if median <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
