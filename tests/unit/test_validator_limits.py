"""How many domains the validator keeps in flight: its default, or what the limit on open files
allows (three connections per domain, with room for everything else)."""

from __future__ import annotations

import resource

import pytest

from mtasts.validator import DEFAULT_CONCURRENCY, concurrency_within_open_files


@pytest.mark.parametrize(
    ("soft_limit", "expected"),
    [
        (256, 64),  # macOS's default for a shell
        (1024, DEFAULT_CONCURRENCY),  # Lambda's: (1024 - 64) / 3 = 320, above the default
        (20_000, DEFAULT_CONCURRENCY),
        (resource.RLIM_INFINITY, DEFAULT_CONCURRENCY),
        (40, 1),  # a limit below the reserve still lets one domain through
    ],
)
def test_the_limit_on_open_files_bounds_the_domains_in_flight(
    monkeypatch: pytest.MonkeyPatch, soft_limit: int, expected: int
) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _kind: (soft_limit, resource.RLIM_INFINITY))

    assert concurrency_within_open_files() == expected
