"""Window evaluation: clean only on enough, clean evidence; reasons fit for a ticket."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import msgspec
import pytest

from mtasts.policy import build_policy
from mtasts.promotion_rules import (
    DayCounts,
    Evidence,
    PromotionRules,
    ValidatorRun,
    WindowVerdict,
    evaluate_window,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=15)
MX = ("mx1.example.com", "mx2.example.com")
RULES = PromotionRules(window_days=14, min_reporters=2, min_sessions=100)


def day(offset: int, ok: int = 20, failures: dict[str, int] | None = None) -> DayCounts:
    failures = failures or {}
    return DayCounts(
        day=(START + timedelta(days=offset)).date(),
        successful_sessions=ok,
        failed_sessions=sum(failures.values()),
        failures_by_result_type=failures,
        reporters=frozenset({"google.com", "microsoft.com"} if offset % 2 else {"google.com"}),
    )


def evidence(**changes: object) -> Evidence:
    base = Evidence(
        now=NOW,
        window_start=START,
        days=[day(i) for i in range(15)],
        validator_runs=[ValidatorRun(START + timedelta(days=i), True) for i in range(15)],
        policy=build_policy("testing", MX, 86400),
        live_mx=MX,
    )
    return msgspec.structs.replace(base, **changes)


def test_enough_clean_evidence_is_clean_with_a_summary() -> None:
    result = evaluate_window(evidence(), RULES)
    assert result.verdict is WindowVerdict.CLEAN and result.clean
    assert result.reporters == 2 and result.successful_sessions == 300
    assert result.reasons == (
        "clean for 15 day(s): 300 successful session(s) reported by 2 organisation(s) "
        "(google.com, microsoft.com), no failures, validator green, every MX covered",
    )


def test_certificate_failures_make_it_dirty_and_say_which() -> None:
    days = [day(i) for i in range(14)] + [day(14, failures={"certificate-expired": 3})]
    result = evaluate_window(evidence(days=days), RULES)
    assert result.verdict is WindowVerdict.DIRTY
    assert result.failures_by_result_type == {"certificate-expired": 3}
    assert result.reasons == (
        "senders reported 3 failed session(s) of 303 (0.99%, allowed 0.00%): 3 certificate-expired",
    )


def test_ignored_result_types_and_a_tolerated_ratio() -> None:
    days = [day(i, failures={"sts-policy-fetch-error": 1}) for i in range(15)]
    assert evaluate_window(evidence(days=days), RULES).verdict is WindowVerdict.DIRTY
    ignoring = RULES.with_overrides({"ignore_result_types": ("sts-policy-fetch-error",)})
    assert evaluate_window(evidence(days=days), ignoring).verdict is WindowVerdict.CLEAN
    tolerant = RULES.with_overrides({"max_failure_ratio": 0.05})
    assert evaluate_window(evidence(days=days), tolerant).verdict is WindowVerdict.CLEAN


def test_silence_is_not_success_unless_the_domain_opted_in() -> None:
    silent = evidence(days=[])
    result = evaluate_window(silent, RULES)
    assert result.verdict is WindowVerdict.INSUFFICIENT
    assert result.reasons == (
        "0 reporting organisation(s) so far, 2 needed (silence is not success)",
        "0 successful session(s) reported, 100 needed",
    )
    opted_in = RULES.with_overrides({"allow_without_reports": True})
    assert evaluate_window(silent, opted_in).verdict is WindowVerdict.CLEAN


def test_a_young_window_is_insufficient_with_the_time_left() -> None:
    young = evidence(window_start=NOW - timedelta(days=3, hours=5))
    result = evaluate_window(young, RULES)
    assert result.verdict is WindowVerdict.INSUFFICIENT
    assert result.reasons[0] == "observed for 3 of 14 day(s); 10 day(s) 19 hour(s) to go"


def test_days_before_the_window_do_not_count() -> None:
    changed = NOW - timedelta(days=14, hours=1)  # the policy changed: the window starts again
    old_failures = [day(0, failures={"starttls-not-supported": 50})] + [
        day(i) for i in range(1, 15)
    ]
    result = evaluate_window(evidence(window_start=changed, days=old_failures), RULES)
    assert result.verdict is WindowVerdict.CLEAN


def test_validator_errors_in_the_window_and_a_red_last_run() -> None:
    runs = [ValidatorRun(START, False, ("mx-certificate-expired",)), ValidatorRun(NOW, True)]
    result = evaluate_window(evidence(validator_runs=runs), RULES)
    assert result.verdict is WindowVerdict.DIRTY
    assert result.reasons == (
        "the validator found errors in 1 of 2 run(s) in the window (mx-certificate-expired)",
    )
    red_last = [ValidatorRun(NOW, False)]
    assert (
        "the last validator run (2026-11-29 12:00 UTC) failed"
        in evaluate_window(evidence(validator_runs=red_last), RULES).reasons
    )
    unchecked = evaluate_window(evidence(validator_runs=[]), RULES)
    assert unchecked.verdict is WindowVerdict.INSUFFICIENT
    assert unchecked.reasons == ("the validator has not checked the domain in the window yet",)


def test_an_uncovered_live_mx_blocks_promotion() -> None:
    result = evaluate_window(evidence(live_mx=(*MX, "mx3.example.com")), RULES)
    assert result.verdict is WindowVerdict.DIRTY
    assert result.reasons == ("MX host(s) not covered by the policy: mx3.example.com",)


def test_dirty_outranks_insufficient_and_lists_both() -> None:
    result = evaluate_window(
        evidence(window_start=NOW - timedelta(days=1), days=[day(14, failures={"x": 1})]), RULES
    )
    assert result.verdict is WindowVerdict.DIRTY and len(result.reasons) == 4


def test_overrides_are_validated() -> None:
    with pytest.raises(ValueError, match="max_failure_ratio"):
        RULES.with_overrides({"max_failure_ratio": 2})
    assert RULES.with_overrides({"unknown": 1}) == RULES
    assert day(0).day == date(2026, 11, 14)
