"""Policy ids: the conventional UTC timestamp `YYYYMMDDHHMMSS`, strictly increasing.

Senders refetch the policy only when the id changes, so two changes in the same second (or a
clock that stepped back) must still produce a new, larger id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

ID_FORMAT = "%Y%m%d%H%M%S"


def _as_timestamp(policy_id: str) -> datetime | None:
    if len(policy_id) != 14 or not policy_id.isdigit():
        return None
    try:
        return datetime.strptime(policy_id, ID_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def next_policy_id(now: datetime, previous: str | None = None) -> str:
    """The id for a change made at `now` (timezone-aware), greater than `previous` when that is a
    timestamp id. An id of another form (set by hand) cannot equal a timestamp id, so the new one
    still differs from it, which is all a sender needs."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    candidate = now.astimezone(UTC).replace(microsecond=0)
    last = _as_timestamp(previous) if previous else None
    if last is not None and candidate <= last:
        candidate = last + timedelta(seconds=1)
    return candidate.strftime(ID_FORMAT)
