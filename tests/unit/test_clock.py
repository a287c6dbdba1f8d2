from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mtasts.clock import CompressedClock, SystemClock, clock_from_spec
from mtasts.errors import SettingsError
from mtasts.settings import load_settings

START = datetime(2026, 12, 1, tzinfo=UTC)


def test_no_spec_is_the_wall_clock() -> None:
    clock = clock_from_spec(None)
    assert isinstance(clock, SystemClock)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_compressed_day_passes_in_the_given_wall_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    wall = [1_000.0]
    monkeypatch.setattr("mtasts.clock.time.time", lambda: wall[0])
    clock = CompressedClock.from_now(START, seconds_per_day=4)
    assert clock.now() == START
    wall[0] += 4
    assert clock.now() == START + timedelta(days=1)
    wall[0] += 1
    assert clock.now() == START + timedelta(days=1, hours=6)
    assert clock.wall_seconds(timedelta(days=3)) == pytest.approx(12)


def test_another_process_rebuilds_the_same_clock_from_its_spec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("mtasts.clock.time.time", lambda: 5_000.0)
    clock = CompressedClock.from_now(START, seconds_per_day=5)
    monkeypatch.setattr("mtasts.clock.time.time", lambda: 5_010.0)
    rebuilt = clock_from_spec(clock.spec())
    assert rebuilt == clock
    assert rebuilt.now() == START + timedelta(days=2)


def test_the_setting_gives_the_clock_and_a_bad_one_is_a_settings_error() -> None:
    spec = CompressedClock(1_000.0, START, 17_280.0).spec()
    assert load_settings({"SIMULATED_CLOCK": spec}).clock() == CompressedClock(
        1_000.0, START, 17_280.0
    )
    assert isinstance(load_settings({}).clock(), SystemClock)
    for bad in ('{"origin": 1, "start": "2026-12-01T00:00:00", "rate": 2}', "fast", '{"rate": 0}'):
        with pytest.raises(SettingsError, match="SIMULATED_CLOCK"):
            load_settings({"SIMULATED_CLOCK": bad})
