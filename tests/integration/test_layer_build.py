"""The layer as `sam build` makes it (layers/mtasts/Makefile), built here for this machine's
platform: every module ships compiled, in bytecode that loads without its source, so that a cold
start on Lambda's read-only /opt compiles nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.import_time import LAMBDA_ENV, build_layer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = getattr(sys, "_base_executable", sys.executable)
    return build_layer(python, tmp_path_factory.mktemp("layer"))


def pyc_flags(pyc: Path) -> int:
    return int.from_bytes(pyc.read_bytes()[4:8], "little")


def test_every_module_ships_as_unchecked_hash_bytecode_for_python_313(site: Path) -> None:
    sources = sorted(site.rglob("*.py"))
    assert len(sources) > 1000 and (site / "mtasts" / "validator.py") in sources
    uncompiled, checked = [], []
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        if not pyc.exists():
            uncompiled.append(source)
        elif pyc_flags(pyc) != UNCHECKED_HASH:
            checked.append(pyc)
    assert uncompiled == [] and checked == []
    assert not (site / "bin").exists()
    assert {p.name for p in (site / "mtasts").rglob("*.pyc")} == {
        f"{p.stem}.cpython-313.pyc" for p in (site / "mtasts").rglob("*.py")
    }


def test_the_validate_handler_imports_without_reading_a_source(site: Path) -> None:
    # Every source of the product's package is replaced by one that cannot be imported: the
    # handler still imports, so nothing was compiled (or even read) from source.
    for source in (site / "mtasts").rglob("*.py"):
        source.write_text("raise ImportError('read from source')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(LAMBDA_ENV, PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(
        [getattr(sys, "_base_executable", sys.executable), "-s", "-c", "import app"],
        cwd=ROOT / "functions" / "validate",
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
