"""Cold start of the validate Lambda: how long `import app` (functions/validate/app.py) takes.

    .venv/bin/python -m benchmarks.import_time [--python PATH] [--runs N] [--outside-lambda]

Each run is a fresh interpreter started in `functions/validate` with the layer's directory on
`PYTHONPATH`, as Lambda puts `/opt/python` there. Two figures, each the median over the runs:
`-X importtime`'s cumulative time of `app`, and the wall time of `python -c "import app"` minus
that of `python -c pass` (interpreter start-up and `site`). One untimed run first fills the
bytecode caches, as the layer's `.pyc` files are in a deployed function.

By default the environment is Lambda's as far as imports care: `LAMBDA_TASK_ROOT` and
`AWS_LAMBDA_FUNCTION_NAME` are set, so the X-Ray SDK sets itself up as it does in Lambda (there it
builds no botocore client for sampling rules, which it does elsewhere, for about 100 ms), and the
template's Globals environment (`POWERTOOLS_*`) is set; with `Tracing: Active`, Powertools'
Tracer is enabled and patches the libraries it traces at import. `--outside-lambda` leaves all
of these out.

`--python` picks the interpreter: the default is this one (the development environment, which
also holds the test tools; `httpx` imports `rich` when it is installed, which the layer does not
ship). For the layer's own package set, build an environment from
`layers/mtasts/requirements.txt` alone and pass its python.

`--stack-only` measures what the product's chosen stack alone costs to import, used as the
handler uses it: Powertools' Logger, Metrics and Tracer (patching botocore and httpx), botocore,
pydantic, httpx/httpcore and dnspython's name module, and none of the product's code. The figure
is the sum of every top-level import's cumulative time: the floor under `import app`.

Exit status 1 when the median `-X importtime` figure is over the target (300 ms).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_MS = 300.0
ROOT = Path(__file__).resolve().parent.parent
HANDLER_DIR = ROOT / "functions" / "validate"
LAYER_DIR = ROOT / "layers" / "mtasts"
LAMBDA_ENV = {
    "LAMBDA_TASK_ROOT": str(HANDLER_DIR),
    "AWS_LAMBDA_FUNCTION_NAME": "mtasts-validate",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "POWERTOOLS_SERVICE_NAME": "mtasts-autopilot",
    "POWERTOOLS_METRICS_NAMESPACE": "MtaStsAutopilot",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}
STACK_ONLY = (
    "from aws_lambda_powertools import Logger, Metrics, Tracer\n"
    "import botocore.session, dns.name, dns.rcode, httpcore, httpx, pydantic\n"
    "Logger(); Metrics(); Tracer(patch_modules=('botocore', 'httpx'))\n"
)
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


# Left out of the runs' environment: PYTHONDONTWRITEBYTECODE (set in some shells) would stop the
# untimed first run from writing the `.pyc` files, and every run would compile the layer's
# modules from source (about 40 ms more).
NOT_INHERITED = {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"}


def environment(in_lambda: bool, layer: Path = LAYER_DIR) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAMBDA_ENV and k not in NOT_INHERITED}
    env["PYTHONPATH"] = str(layer.resolve())
    if in_lambda:
        env.update(LAMBDA_ENV)
    return env


def run(python: str, code: str, env: dict[str, str], importtime: bool = False) -> str:
    flags = ["-X", "importtime"] if importtime else []
    done = subprocess.run(
        [python, *flags, "-c", code],
        cwd=HANDLER_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{python} -c {code!r} failed: {done.stderr.strip()[-2000:]}")
    return done.stderr


def parse(stderr: str) -> list[tuple[int, int, int, str]]:
    """(self µs, cumulative µs, depth, module) per `-X importtime` line."""
    rows = []
    for line in stderr.splitlines():
        found = _LINE.match(line)
        if found:
            depth = len(found[3]) // 2
            rows.append((int(found[1]), int(found[2]), depth, found[4]))
    return rows


def children_of_app(rows: list[tuple[int, int, int, str]]) -> list[tuple[int, str]]:
    """(cumulative µs, module) of each import `app` made directly (a child is printed before
    its parent)."""
    children: list[tuple[int, str]] = []
    for _, total, depth, module in rows:
        if depth == 0:
            if module == "app":
                return children
            children = []
        elif depth == 1:
            children.append((total, module))
    return []


def total_ms(rows: list[tuple[int, int, int, str]], every_top_level: bool) -> float:
    """`app`'s cumulative time, or the sum of every top-level import's."""
    if every_top_level:
        return sum(total for _, total, depth, _ in rows if depth == 0) / 1000
    return next(total for _, total, depth, module in rows if module == "app" and depth == 0) / 1000


def wall(python: str, code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    run(python, code, env)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.import_time")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--outside-lambda", action="store_true")
    parser.add_argument(
        "--layer", type=Path, default=LAYER_DIR, help="the layer's python/ directory (A/B runs)"
    )
    parser.add_argument(
        "--stack-only", action="store_true", help="the third-party stack alone: the floor"
    )
    args = parser.parse_args(argv)
    env = environment(not args.outside_lambda, args.layer)
    code = STACK_ONLY if args.stack_only else "import app"
    run(args.python, code, env)  # bytecode caches
    cumulative, walls, rows = [], [], []
    for _ in range(args.runs):
        rows = parse(run(args.python, code, env, importtime=True))
        cumulative.append(total_ms(rows, args.stack_only))
        bare = wall(args.python, "pass", env)
        walls.append((wall(args.python, code, env) - bare) * 1000)
    if args.stack_only:
        print(f"the stack alone, {args.runs} fresh processes: median ", end="")
        print(f"{statistics.median(cumulative):.0f} ms (min {min(cumulative):.0f})")
        print(f"wall, minus `pass`: median {statistics.median(walls):.0f} ms")
        return 0
    where = "outside Lambda" if args.outside_lambda else "Lambda's environment"
    print(f"{args.python} ({where}), {args.runs} fresh processes, {os.cpu_count()} cores")
    print("largest imports under app in the last run (cumulative ms):")
    for total, module in sorted(children_of_app(rows), reverse=True)[:8]:
        print(f"  {total / 1000:7.1f}  {module}")
    median = statistics.median(cumulative)
    print(
        f"-X importtime, app cumulative: median {median:.0f} ms "
        f"(min {min(cumulative):.0f}, max {max(cumulative):.0f})"
    )
    print(f"wall, `import app` minus `pass`: median {statistics.median(walls):.0f} ms")
    met = median <= TARGET_MS
    print(f"target <= {TARGET_MS:.0f} ms: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
