"""Every error the event drivers raise on purpose."""

from __future__ import annotations

from mtasts_local.aws.errors import AwsWorldError


class DriverError(AwsWorldError):
    """An event cannot be sent as asked: nothing in the template routes it, or it is malformed."""


class NoRouteError(DriverError):
    """No receipt rule, schedule or configured route leads where the event was meant to go."""
