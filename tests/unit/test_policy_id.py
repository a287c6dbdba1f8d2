"""Policy ids: `YYYYMMDDHHMMSS` in UTC, strictly increasing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mtasts.policy_id import next_policy_id
from mtasts.sts_record import check_policy_id

NOW = datetime(2026, 11, 28, 15, 30, 0, 123456, tzinfo=UTC)


def test_the_id_is_the_utc_timestamp() -> None:
    assert next_policy_id(NOW) == "20261128153000"
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    assert next_policy_id(plus_two) == "20261128153000"


def test_two_changes_in_the_same_second_get_increasing_ids() -> None:
    first = next_policy_id(NOW)
    second = next_policy_id(NOW, first)
    third = next_policy_id(NOW, second)
    assert first < second < third
    assert (second, third) == ("20261128153001", "20261128153002")


def test_a_clock_that_stepped_back_still_gives_a_larger_id() -> None:
    assert next_policy_id(NOW - timedelta(hours=1), "20261128153000") == "20261128153001"


def test_the_increment_rolls_over_minutes_and_days() -> None:
    assert next_policy_id(NOW, "20261231235959") == "20270101000000"


def test_a_hand_written_previous_id_is_simply_replaced() -> None:
    assert next_policy_id(NOW, "manual1") == "20261128153000"
    assert next_policy_id(NOW, "99999999999999") == "20261128153000"


def test_ids_are_valid_sts_ids() -> None:
    assert check_policy_id(next_policy_id(NOW)) == "20261128153000"


def test_a_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError):
        next_policy_id(datetime(2026, 11, 28))
