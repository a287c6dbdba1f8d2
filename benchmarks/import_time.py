"""Cold start of the validate Lambda: how long `import app` (functions/validate/app.py) takes
with the layer as it ships.

    .venv/bin/python -m benchmarks.import_time [--runs N] [--layer DIR] [--stack-only]
                                               [--function NAME] [--outside-lambda] [--python PATH]

The layer is built the way `sam build` builds it (layers/mtasts/Makefile: the pinned wheels and
every module compiled to unchecked-hash bytecode), for this machine's platform instead of arm64,
into a temporary directory; `--layer DIR` measures one built before (the directory holding
`python/`), for A/B runs. Each run is a fresh interpreter started in `functions/validate` with
the layer's `python/` on `PYTHONPATH`, as Lambda puts `/opt/python` there, and with
`PYTHONDONTWRITEBYTECODE` set: `/opt` is read-only, so what the layer does not ship compiled is
compiled again on every cold start. The interpreter is that of an empty virtual environment made
from the Python 3.13 this environment was made from (`--python` picks another 3.13): neither the
development environment's packages (`httpx` imports `rich` when it is installed, which the layer
does not ship) nor anything the base installation imports at start-up can stand in for what the
handler imports.

Two figures, each the median over the runs: `-X importtime`'s cumulative time of `app`, and the
wall time of `python -c "import app"` minus that of `python -c pass` (interpreter start-up and
`site`).

By default the environment is Lambda's as far as imports care: `LAMBDA_TASK_ROOT` and
`AWS_LAMBDA_FUNCTION_NAME` are set, so the X-Ray SDK sets itself up as it does in Lambda (there it
builds no botocore client for sampling rules, which it does elsewhere, for about 100 ms), and the
template's Globals environment (`POWERTOOLS_*`) is set; with `Tracing: Active`, Powertools'
Tracer is enabled and patches the libraries it traces at import. `--outside-lambda` leaves all
of these out.

`--stack-only` measures what the product's chosen stack alone costs to import, used as the
handler uses it: Powertools' Logger, Metrics and Tracer (patching botocore and httpx), botocore,
pydantic with one model built, httpx/httpcore and dnspython's name module, and none of the
product's code. Its figure is that module's cumulative time, as `app`'s is: the floor under
`import app`.

`--function NAME` measures another Lambda's handler the same way (`functions/NAME/app.py`).

Exit status 1 when the validate handler's median `-X importtime` figure is over the target
(300 ms).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 300.0
ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
LAMBDA_ENV = {
    "LAMBDA_TASK_ROOT": str(FUNCTIONS / "validate"),
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
    "class One(pydantic.BaseModel):\n"
    "    a: int = pydantic.Field(0, ge=0)\n"
)
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


# Left out of the runs' environment: the layer is all they import from, and they write no bytecode.
NOT_INHERITED = {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONHOME"}
HOST_PLATFORMS = {
    "x86_64": "manylinux2014_x86_64 manylinux_2_28_x86_64 manylinux_2_34_x86_64",
    "aarch64": "manylinux2014_aarch64 manylinux_2_28_aarch64 manylinux_2_34_aarch64",
}


def environment(in_lambda: bool, site: Path, function: str = "validate") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAMBDA_ENV and k not in NOT_INHERITED}
    env["PYTHONPATH"] = str(site.resolve())
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if in_lambda:
        env.update(LAMBDA_ENV)
        env["LAMBDA_TASK_ROOT"] = str(FUNCTIONS / function)
        env["AWS_LAMBDA_FUNCTION_NAME"] = f"mtasts-{function}"
    return env


def build_layer(python: str, into: Path) -> Path:
    """The layer as `sam build` makes it, for this machine; its `python/` directory."""
    platforms = HOST_PLATFORMS.get(platform.machine())
    if platforms is None:
        raise SystemExit(f"no wheel platform known for {platform.machine()}")
    subprocess.run(
        [
            "make",
            "--silent",
            "--makefile",
            str(ROOT / "layers" / "mtasts" / "Makefile"),
            "build-MtaStsLayer",
            f"ARTIFACTS_DIR={into}",
            f"PYTHON={python}",
            f"PIP_PLATFORMS={platforms}",
        ],
        cwd=ROOT,
        check=True,
    )
    return into / "python"


def run(python: str, code: str, env: dict[str, str], importtime: bool = False) -> str:
    """`python -c code` in the function's directory (its `LAMBDA_TASK_ROOT`); its stderr."""
    flags = ["-X", "importtime"] if importtime else []
    done = subprocess.run(
        [python, "-s", *flags, "-c", code],
        cwd=env.get("LAMBDA_TASK_ROOT", LAMBDA_ENV["LAMBDA_TASK_ROOT"]),
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


def total_ms(rows: list[tuple[int, int, int, str]], module: str) -> float:
    """The cumulative time of the top-level import of `module`."""
    return next(t for _, t, depth, name in rows if name == module and depth == 0) / 1000


def wall(python: str, code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    run(python, code, env)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.import_time")
    base = getattr(sys, "_base_executable", sys.executable)  # outside this virtual environment
    parser.add_argument("--python", default=base, help="a Python 3.13")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--outside-lambda", action="store_true")
    parser.add_argument("--layer", type=Path, help="a layer built before: the dir holding python/")
    parser.add_argument(
        "--stack-only", action="store_true", help="the third-party stack alone: the floor"
    )
    handlers = sorted(p.parent.name for p in FUNCTIONS.glob("*/app.py"))
    parser.add_argument(
        "--function", choices=handlers, default="validate", help="another Lambda's handler"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mtasts-layer-") as scratch:
        site = args.layer / "python" if args.layer else build_layer(args.python, Path(scratch))
        env = environment(not args.outside_lambda, site, args.function)
        if args.stack_only:
            # An importable module, so that its figure is one import's, like `app`'s.
            (Path(scratch) / "stack_only.py").write_text(STACK_ONLY)
            env["PYTHONPATH"] = os.pathsep.join((scratch, env["PYTHONPATH"]))
        return measure(args, empty_environment(args.python, Path(scratch)), env)


def empty_environment(python: str, scratch: Path) -> str:
    """The Python of an empty virtual environment made from `python`: its `site` runs as Lambda's
    does and finds nothing. The base installation's own site-packages may hold `.pth` files that
    import modules at start-up (this machine's imports `certifi`, and with it `importlib.resources`,
    `tempfile`, `inspect`...), which the handler's import would then find loaded and not pay for:
    about 25 ms."""
    subprocess.run([python, "-m", "venv", "--without-pip", str(scratch / "runtime")], check=True)
    return str(scratch / "runtime" / "bin" / "python")


def measure(args: argparse.Namespace, python: str, env: dict[str, str]) -> int:
    module = "stack_only" if args.stack_only else "app"
    code = f"import {module}"
    cumulative, walls, rows = [], [], []
    for _ in range(args.runs):
        rows = parse(run(python, code, env, importtime=True))
        cumulative.append(total_ms(rows, module))
        bare = wall(python, "pass", env)
        walls.append((wall(python, code, env) - bare) * 1000)
    if args.stack_only:
        print(f"the stack alone, {args.runs} fresh processes: median ", end="")
        print(f"{statistics.median(cumulative):.0f} ms (min {min(cumulative):.0f})")
        print(f"wall, minus `pass`: median {statistics.median(walls):.0f} ms")
        return 0
    where = "outside Lambda" if args.outside_lambda else "Lambda's environment"
    print(f"functions/{args.function}: {args.python} ({where}), {args.runs} fresh processes")
    print("largest imports under app in the last run (cumulative ms):")
    for total, module in sorted(children_of_app(rows), reverse=True)[:8]:
        print(f"  {total / 1000:7.1f}  {module}")
    median = statistics.median(cumulative)
    print(
        f"-X importtime, app cumulative: median {median:.0f} ms "
        f"(min {min(cumulative):.0f}, max {max(cumulative):.0f})"
    )
    print(f"wall, `import app` minus `pass`: median {statistics.median(walls):.0f} ms")
    if args.function != "validate":
        return 0  # the target is the validate handler's
    met = median <= TARGET_MS
    print(f"target <= {TARGET_MS:.0f} ms: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
