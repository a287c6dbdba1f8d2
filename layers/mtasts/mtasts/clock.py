"""The product's calendar: the wall clock in AWS, a faster one where a demo compresses time.

The promotion rules count days (an observation window of two weeks, reports per UTC day), so a
demo that shows a whole lifecycle in minutes needs days that pass in seconds. Every process that
shares a compressed clock derives it from the same three numbers (the wall-clock instant it
started, the calendar instant that maps to, and the rate), so handlers in separate processes
agree on "now" without talking to one another.

TLS certificate checks keep the wall clock: OpenSSL judges expiry against the real time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from mtasts.errors import ClockSpecError

SECONDS_PER_DAY: Final = 86_400


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class CompressedClock(msgspec.Struct, frozen=True):
    """`rate` calendar seconds pass for every wall-clock second after `origin` (Unix time)."""

    origin: float
    start: datetime
    rate: float

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.origin) * self.rate)

    @classmethod
    def from_now(cls, start: datetime, seconds_per_day: float) -> CompressedClock:
        return cls(time.time(), start, SECONDS_PER_DAY / seconds_per_day)

    def wall_seconds(self, calendar: timedelta) -> float:
        """How long a stretch of the calendar takes on the wall clock."""
        return calendar.total_seconds() / self.rate

    def spec(self) -> str:
        """The text form (the `SIMULATED_CLOCK` setting) another process rebuilds it from."""
        return _ClockSpec(origin=self.origin, start=self.start, rate=self.rate).model_dump_json()


class _ClockSpec(BaseModel):
    # Built on first use: only the demo's processes have a compressed clock.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    origin: float = Field(gt=0)
    start: AwareDatetime
    rate: float = Field(gt=0, le=10_000_000)


Clock = SystemClock | CompressedClock


def clock_from_spec(spec: str | None) -> Clock:
    """The wall clock when no spec is given (always, in AWS)."""
    if not spec:
        return SystemClock()
    try:
        parsed = _ClockSpec.model_validate_json(spec)
    except ValidationError as error:
        raise ClockSpecError(f"not a compressed clock ({error.error_count()} error(s))") from error
    return CompressedClock(parsed.origin, parsed.start.astimezone(UTC), parsed.rate)
