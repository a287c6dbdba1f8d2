"""`mtasts local up --background` and `mtasts local down`, as a user runs them: a detached world
that is ready when the command returns, reachable at what endpoints.json says, and gone, with
nothing left running, after `down`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dns.resolver
import httpx
import pytest

from mtasts_local.cli import running_pid

from .conftest import WORLD_TEMPLATE
from .test_world import ENDPOINT_KEYS

MTASTS = Path(sys.executable).parent / "mtasts"


def mtasts(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MTASTS), *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if text.encode() in command and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_background_up_is_ready_when_it_returns_and_down_leaves_nothing(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    up = mtasts(
        "local", "up", "--background", "--state-dir", state_dir, "--template", WORLD_TEMPLATE
    )
    try:
        assert up.returncode == 0, up.stderr
        pid = running_pid(state_dir)
        assert pid is not None and pid == int((state_dir / "world.pid").read_text())
        endpoints = json.loads((state_dir / "endpoints.json").read_text())
        assert set(endpoints) == ENDPOINT_KEYS
        assert json.loads(up.stdout[: up.stdout.rindex("}") + 1]) == endpoints

        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = [endpoints["dns"]["host"]], endpoints["dns"]["port"]
        mx = sorted(r.exchange.to_text() for r in resolver.resolve("selfhosted.example", "MX"))
        assert mx == ["mx1.selfhosted.example.", "mx2.selfhosted.example."]

        # The handler runs in a subprocess of the world, through moto's Invoke API.
        answer = httpx.get(
            f"{endpoints['api_url']}/domains/a.example",
            headers={"x-api-key": endpoints["api_key"]},
            timeout=30,
        )
        assert answer.status_code == 200 and answer.json()["pathParameters"] == {
            "domain": "a.example"
        }

        again = mtasts("local", "up", "--background", "--state-dir", state_dir)
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        down = mtasts("local", "down", "--state-dir", state_dir)

    assert down.returncode == 0, down.stderr
    assert not (state_dir / "endpoints.json").exists()
    assert not (state_dir / "world.pid").exists()
    assert processes_mentioning(str(state_dir)) == []
    assert "The local world is down." in (state_dir / "world.log").read_text()


def test_down_without_a_world_says_so(tmp_path: Path) -> None:
    down = mtasts("local", "down", "--state-dir", tmp_path)

    assert down.returncode == 0 and "No local world is running" in down.stdout


def test_a_bad_world_file_fails_before_anything_starts(tmp_path: Path) -> None:
    config = tmp_path / "world.toml"
    config.write_text('[cloudflare]\naccount_id = "nope"\n')

    up = mtasts("local", "up", "--background", "--state-dir", tmp_path, "--config", config)

    assert up.returncode == 2 and "account_id" in up.stderr
    assert not (tmp_path / "world.pid").exists()


@pytest.mark.slow
def test_foreground_up_prints_the_endpoints_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    endpoints_file = state_dir / "endpoints.json"
    world = subprocess.Popen(
        [
            str(MTASTS),
            "local",
            "up",
            "--state-dir",
            str(state_dir),
            "--template",
            str(WORLD_TEMPLATE),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not endpoints_file.exists():
            assert world.poll() is None, world.communicate()[1]
            assert time.monotonic() < deadline, "the world never became ready"
            time.sleep(0.1)
        endpoints = json.loads(endpoints_file.read_text())
    finally:
        world.send_signal(signal.SIGINT)
        out, err = world.communicate(timeout=60)

    assert world.returncode == 0, err
    assert f"DNS (UDP+TCP)       {endpoints['dns']['host']} port {endpoints['dns']['port']}" in out
    assert endpoints["api_key"] in out and "Traceback" not in err
    assert not endpoints_file.exists()
    assert processes_mentioning(str(state_dir)) == []
