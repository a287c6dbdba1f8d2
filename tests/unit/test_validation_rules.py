"""The validator's judgement on plain observations: one test per finding code, and silence for a
healthy domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from msgspec.structs import replace

from mtasts.findings import Code, Severity
from mtasts.policy import Mode, build_policy, content_hash
from mtasts.policy_state import PublishedPolicy
from mtasts.ports import FetchedPolicy
from mtasts.validation_rules import (
    Answer,
    MxCheck,
    Observation,
    cache_lifetime,
    judge,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
DOMAIN = "example.com"
URL = f"https://mta-sts.{DOMAIN}/.well-known/mta-sts.txt"
MX = ("mx1.example.com", "mx2.example.com")
POLICY = build_policy("enforce", MX, 604800).render().encode()
POLICY_ID = "20261129110000"


def served(body: bytes | None = POLICY, **changes: object) -> FetchedPolicy:
    fetched = FetchedPolicy(URL, 200, body, "text/plain; charset=utf-8", "max-age=300", None, None)
    return replace(fetched, **changes)


def healthy(**changes: object) -> Observation:
    observation = Observation(
        domain=DOMAIN,
        sts_txt=Answer((f"v=STSv1; id={POLICY_ID}", "google-site-verification=abc")),
        tlsrpt_txt=Answer(("v=TLSRPTv1; rua=mailto:tlsrpt@example.net",)),
        mx=Answer(MX),
        fetched=served(),
        mx_checks={h: MxCheck(h, not_after=NOW + timedelta(days=80)) for h in MX},
        expected=PublishedPolicy(
            domain=DOMAIN,
            policy_id=POLICY_ID,
            policy_hash=content_hash(POLICY),
            policy_text=POLICY.decode(),
            mode=Mode.ENFORCE,
            max_age=604800,
            mx=MX,
            rua=("mailto:tlsrpt@example.net",),
            served_at=NOW,
            announced_at=NOW,
        ),
    )
    return replace(observation, **changes)


def codes(observation: Observation) -> dict[str, str]:
    return {f.code.value: f.severity.value for f in judge(observation, NOW).findings}


def test_a_healthy_domain_has_no_findings_at_all() -> None:
    verdict = judge(healthy(), NOW)
    assert verdict.findings == () and verdict.ok
    assert verdict.policy_id == POLICY_ID and verdict.policy is not None
    assert verdict.nearest_expiry == NOW + timedelta(days=80)


@pytest.mark.parametrize(
    ("changes", "code", "severity"),
    [
        ({"sts_txt": Answer(("unrelated",))}, "sts-record-missing", "error"),
        ({"sts_txt": Answer(failure="SERVFAIL")}, "sts-record-missing", "error"),
        (
            {"sts_txt": Answer(("v=STSv1; id=1", "v=STSv1; id=2"))},
            "sts-record-multiple",
            "error",
        ),
        ({"sts_txt": Answer(("v=STSv1; id=has-dash",))}, "sts-record-invalid", "error"),
        ({"tlsrpt_txt": Answer(())}, "tlsrpt-record-missing", "error"),
        (
            {"tlsrpt_txt": Answer(("v=TLSRPTv1; rua=a@b", "v=TLSRPTv1; rua=mailto:a@b"))},
            "tlsrpt-record-multiple",
            "error",
        ),
        ({"tlsrpt_txt": Answer(("v=TLSRPTv1; rua=ftp://x",))}, "tlsrpt-record-invalid", "error"),
        (
            {
                "fetched": served(
                    None, status=None, error="refused", error_code="policy-fetch-failed"
                )
            },
            "policy-fetch-failed",
            "error",
        ),
        (
            {"fetched": served(None, error="bad cert", error_code="policy-certificate-invalid")},
            "policy-certificate-invalid",
            "error",
        ),
        (
            {"fetched": served(None, status=301, error="301", error_code="policy-redirect")},
            "policy-redirect",
            "error",
        ),
        (
            {"fetched": served(None, status=404, error="404", error_code="policy-http-status")},
            "policy-http-status",
            "error",
        ),
        (
            {"fetched": served(None, error="over 64 KiB", error_code="policy-too-large")},
            "policy-too-large",
            "error",
        ),
        ({"fetched": served(content_type="text/html")}, "policy-content-type", "warning"),
        ({"fetched": served(b"version: STSv1\r\nmode: enforce\r\n")}, "policy-invalid", "error"),
        (
            {"fetched": served(cache_control="public, max-age=86400")},
            "policy-cache-long",
            "warning",
        ),
        ({"mx": Answer((*MX, "mx3.example.com"))}, "mx-not-covered", "error"),
        (
            {
                "mx_checks": {
                    "mx1.example.com": MxCheck("mx1.example.com", "mx-starttls-missing", "no")
                }
            },
            "mx-starttls-missing",
            "error",
        ),
        (
            {
                "mx_checks": {
                    "mx1.example.com": MxCheck("mx1.example.com", "mx-certificate-invalid", "x")
                }
            },
            "mx-certificate-invalid",
            "error",
        ),
        (
            {
                "mx_checks": {
                    "mx1.example.com": MxCheck("mx1.example.com", "mx-certificate-expired", "x")
                }
            },
            "mx-certificate-expired",
            "error",
        ),
        (
            {"mx_checks": {"mx1.example.com": MxCheck("mx1.example.com", "mx-unreachable", "x")}},
            "mx-unreachable",
            "warning",
        ),
        (
            {
                "mx_checks": {
                    "mx1.example.com": MxCheck("mx1.example.com", not_after=NOW + timedelta(days=3))
                }
            },
            "mx-certificate-expiring",
            "warning",
        ),
        ({"sts_txt": Answer(("v=STSv1; id=20261129100000",))}, "policy-id-stale", "error"),
        (
            {"fetched": served(build_policy("enforce", MX, 86400).render().encode())},
            "policy-id-stale",
            "error",
        ),
    ],
)
def test_each_problem_gets_its_code(changes: dict[str, object], code: str, severity: str) -> None:
    assert codes(healthy(**changes)) == {code: severity}


def test_an_uncovered_mx_in_testing_is_a_warning() -> None:
    testing = build_policy("testing", MX, 86400).render().encode()
    observation = healthy(
        fetched=served(testing), mx=Answer((*MX, "mx3.example.com")), expected=None
    )
    assert codes(observation) == {"mx-not-covered": "warning"}


def test_findings_carry_subject_and_hint() -> None:
    (found,) = judge(healthy(mx=Answer((*MX, "mx3.example.com"))), NOW).findings
    assert found.subject == "mx3.example.com"
    assert found.hint and "mx line" in found.hint
    assert found.model_dump(mode="json").keys() == {
        "code",
        "severity",
        "message",
        "subject",
        "hint",
    }
    assert found.code is Code.MX_NOT_COVERED and found.severity is Severity.ERROR


def test_without_an_sts_record_nothing_else_about_the_policy_is_claimed() -> None:
    observation = healthy(sts_txt=Answer(()), fetched=None, expected=None)
    assert codes(observation) == {"sts-record-missing": "error"}


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("no-cache", None),
        ("public, max-age=300", 300),
        ("max-age=60, s-maxage=86400", 86400),
        ('max-age="120"', 120),
        ("no-store, max-age=99999", None),
    ],
)
def test_cache_lifetime(header: str | None, seconds: int | None) -> None:
    assert cache_lifetime(header) == seconds
