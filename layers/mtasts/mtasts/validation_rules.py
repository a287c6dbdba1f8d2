"""What a strict sender would conclude about a domain, from what was observed: the findings,
each with the record, URL or host it is about and a hint that says what to change.

Pure: the validator's probes (DNS, HTTPS, SMTP) gather an `Observation`; `judge` turns it into
findings. Nothing here touches the network, so every rule is unit-tested on plain data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

import msgspec

from mtasts.findings import Code, Finding, Severity
from mtasts.policy import Mode, Policy, check_policy, content_hash
from mtasts.policy_state import PublishedPolicy
from mtasts.ports import FetchedPolicy
from mtasts.sts_record import select_sts_record
from mtasts.tlsrpt_record import select_tlsrpt_record

EXPIRING_DAYS = 14  # warn this long before an MX certificate expires
LONG_CACHE_SECONDS = 3600  # an edge may serve a policy this old after a change, at most
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d+)", re.IGNORECASE)


class Answer(msgspec.Struct, frozen=True):
    """One DNS question's outcome: the records, or why there is no usable answer (`failure`)."""

    records: tuple[str, ...] = ()
    failure: str | None = None


class MxCheck(msgspec.Struct, frozen=True):
    """What the SMTP probe saw at one MX host."""

    host: str
    error_code: str | None = None
    error: str | None = None
    not_after: datetime | None = None


class Observation(msgspec.Struct, frozen=True):
    domain: str
    sts_txt: Answer
    tlsrpt_txt: Answer
    mx: Answer  # host names, preference order; an empty tuple is "no MX"
    fetched: FetchedPolicy | None  # None when there was no STS record to make a sender fetch
    mx_checks: Mapping[str, MxCheck] = msgspec.field(default_factory=dict)
    expected: PublishedPolicy | None = None  # what the product published, when it manages it


class Verdict(msgspec.Struct, frozen=True):
    domain: str
    findings: tuple[Finding, ...]
    policy: Policy | None
    policy_id: str | None
    nearest_expiry: datetime | None

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)


HINTS: Mapping[Code, str] = {
    Code.STS_RECORD_MISSING: "Publish one TXT record `v=STSv1; id=<timestamp>` at _mta-sts.",
    Code.STS_RECORD_MULTIPLE: "Delete all but one v=STSv1 TXT record; senders ignore them all.",
    Code.STS_RECORD_INVALID: "Rewrite the record as `v=STSv1; id=<1-32 letters or digits>`.",
    Code.TLSRPT_RECORD_MISSING: "Publish `v=TLSRPTv1; rua=mailto:<address>` at _smtp._tls.",
    Code.TLSRPT_RECORD_MULTIPLE: "Delete all but one v=TLSRPTv1 record at _smtp._tls.",
    Code.TLSRPT_RECORD_INVALID: "Rewrite it as `v=TLSRPTv1; rua=mailto:... [, https:...]`.",
    Code.POLICY_FETCH_FAILED: "Make https://mta-sts.<domain>/ resolve and answer over HTTPS.",
    Code.POLICY_CERTIFICATE_INVALID: "Serve a trusted, unexpired certificate for mta-sts.<domain>.",
    Code.POLICY_REDIRECT: "Serve the policy directly with 200; senders never follow redirects.",
    Code.POLICY_HTTP_STATUS: "Serve /.well-known/mta-sts.txt with status 200.",
    Code.POLICY_CONTENT_TYPE: "Serve the policy as Content-Type: text/plain.",
    Code.POLICY_TOO_LARGE: "Keep the policy file under 64 KiB.",
    Code.POLICY_INVALID: "Fix the policy file: version, mode, mx lines and max_age.",
    Code.POLICY_CACHE_LONG: "Lower Cache-Control max-age so a changed policy is seen quickly.",
    Code.POLICY_ID_STALE: "Redeploy: the id must change whenever the served policy changes.",
    Code.MX_NOT_COVERED: "Add the host (or its provider's wildcard) as an mx line, then a new id.",
    Code.MX_STARTTLS_MISSING: "Enable STARTTLS on this MX host.",
    Code.MX_CERTIFICATE_INVALID: "Install a certificate for this MX name from a public CA.",
    Code.MX_CERTIFICATE_EXPIRED: "Renew this MX host's certificate now.",
    Code.MX_CERTIFICATE_EXPIRING: "Renew this MX host's certificate before it expires.",
    Code.MX_UNREACHABLE: "Check the host accepts SMTP on port 25 from the internet.",
}


def finding(code: Code, severity: Severity, message: str, subject: str) -> Finding:
    return Finding(
        code=code, severity=severity, message=message, subject=subject, hint=HINTS.get(code)
    )


def judge(observation: Observation, now: datetime) -> Verdict:
    """Every finding a strict sender's view of the domain supports."""
    domain = observation.domain
    findings: list[Finding] = []
    policy_id = _judge_sts_record(observation, findings)
    findings += _judge_tlsrpt_record(observation)
    policy = _judge_fetch(observation, findings)
    findings += _judge_coverage(observation, policy)
    mx_findings, nearest = _judge_mx_hosts(observation, now)
    findings += mx_findings
    if policy is not None:  # an invalid policy is the problem to report, not its id
        findings += _judge_staleness(observation, policy_id)
    return Verdict(domain, tuple(findings), policy, policy_id, nearest)


# --- DNS records --------------------------------------------------------------------------------


def _judge_sts_record(observation: Observation, findings: list[Finding]) -> str | None:
    subject = f"_mta-sts.{observation.domain}"
    answer = observation.sts_txt
    if answer.failure:
        findings.append(_dns_failed(Code.STS_RECORD_MISSING, subject, answer.failure))
        return None
    checked = select_sts_record(answer.records)
    if checked.value is not None:
        return checked.value.id
    findings.append(_summarised(checked.findings, Code.STS_RECORD_INVALID, subject))
    return None


def _judge_tlsrpt_record(observation: Observation) -> list[Finding]:
    subject = f"_smtp._tls.{observation.domain}"
    answer = observation.tlsrpt_txt
    if answer.failure:
        return [_dns_failed(Code.TLSRPT_RECORD_MISSING, subject, answer.failure)]
    checked = select_tlsrpt_record(answer.records)
    if checked.value is not None:
        return []
    return [_summarised(checked.findings, Code.TLSRPT_RECORD_INVALID, subject)]


def _summarised(grammar: Sequence[Finding], invalid: Code, subject: str) -> Finding:
    """One finding per record: missing and multiple keep their codes, any other grammar error
    becomes the record's `-invalid` code with every reason in the message."""
    errors = [f for f in grammar if f.severity is Severity.ERROR]
    first = errors[0]
    if first.code.value.endswith(("-missing", "-multiple")) and len(errors) == 1:
        return finding(first.code, Severity.ERROR, first.message, subject)
    return finding(invalid, Severity.ERROR, "; ".join(f.message for f in errors), subject)


def _dns_failed(code: Code, subject: str, failure: str) -> Finding:
    # A sender that cannot read the record has no policy: it is missing as far as mail goes.
    return finding(code, Severity.ERROR, f"DNS did not answer for {subject}: {failure}", subject)


# --- policy fetch -------------------------------------------------------------------------------


def _judge_fetch(observation: Observation, findings: list[Finding]) -> Policy | None:
    fetched = observation.fetched
    if fetched is None:
        return None
    if fetched.error_code is not None or fetched.body is None:
        code = _fetch_code(fetched.error_code)
        findings.append(finding(code, Severity.ERROR, fetched.error or "no body", fetched.url))
        return None
    findings += _judge_headers(fetched)
    checked = check_policy(fetched.body)
    if checked.value is None:
        reasons = "; ".join(f.message for f in checked.errors)
        findings.append(finding(Code.POLICY_INVALID, Severity.ERROR, reasons, fetched.url))
    return checked.value


def _fetch_code(error_code: str | None) -> Code:
    try:
        return Code(error_code or Code.POLICY_FETCH_FAILED.value)
    except ValueError:
        return Code.POLICY_FETCH_FAILED


def _judge_headers(fetched: FetchedPolicy) -> list[Finding]:
    findings: list[Finding] = []
    media = (fetched.content_type or "").split(";")[0].strip().lower()
    if media != "text/plain":
        message = f"served as {fetched.content_type or 'no content type'}, not text/plain"
        findings.append(finding(Code.POLICY_CONTENT_TYPE, Severity.WARNING, message, fetched.url))
    cache_seconds = cache_lifetime(fetched.cache_control)
    if cache_seconds is not None and cache_seconds > LONG_CACHE_SECONDS:
        message = f"Cache-Control allows caches to keep the policy for {cache_seconds} s"
        findings.append(finding(Code.POLICY_CACHE_LONG, Severity.WARNING, message, fetched.url))
    return findings


def cache_lifetime(cache_control: str | None) -> int | None:
    """The longest lifetime `Cache-Control` grants a cache (max-age or s-maxage), if any."""
    if not cache_control or "no-store" in cache_control.lower():
        return None
    values = [int(v) for v in _MAX_AGE.findall(cache_control)]
    return max(values) if values else None


# --- MX hosts -----------------------------------------------------------------------------------


def _judge_coverage(observation: Observation, policy: Policy | None) -> list[Finding]:
    if policy is None or policy.mode is Mode.NONE or observation.mx.failure:
        return []
    severity = Severity.ERROR if policy.mode is Mode.ENFORCE else Severity.WARNING
    return [
        finding(
            Code.MX_NOT_COVERED,
            severity,
            f"MX host {host} matches no mx pattern of the {policy.mode.value} policy",
            host,
        )
        for host in observation.mx.records
        if policy.match(host) is None
    ]


def _judge_mx_hosts(
    observation: Observation, now: datetime
) -> tuple[list[Finding], datetime | None]:
    findings: list[Finding] = []
    expiries: list[datetime] = []
    for host in observation.mx.records:
        check = observation.mx_checks.get(host)
        if check is None:
            continue
        if check.error_code is not None:
            findings.append(_mx_failure(check))
        elif check.not_after is not None:
            expiries.append(check.not_after)
            findings += _expiry(check.host, check.not_after, now)
    return findings, min(expiries, default=None)


def _mx_failure(check: MxCheck) -> Finding:
    try:
        code = Code(check.error_code or Code.MX_UNREACHABLE.value)
    except ValueError:
        code = Code.MX_UNREACHABLE
    # Unreachable from here is not proof senders cannot reach it (networks block port 25).
    severity = Severity.WARNING if code is Code.MX_UNREACHABLE else Severity.ERROR
    return finding(code, severity, check.error or code.value, check.host)


def _expiry(host: str, not_after: datetime, now: datetime) -> list[Finding]:
    days = (not_after - now).days
    if days >= EXPIRING_DAYS:
        return []
    message = f"the certificate of {host} expires in {days} day(s), on {not_after:%Y-%m-%d}"
    return [finding(Code.MX_CERTIFICATE_EXPIRING, Severity.WARNING, message, host)]


# --- the product's own bookkeeping --------------------------------------------------------------


def _judge_staleness(observation: Observation, policy_id: str | None) -> list[Finding]:
    """The id in DNS must be the one published for the bytes being served (RFC 8461 §8.1):
    otherwise senders holding the old policy never refetch the new one."""
    expected, fetched = observation.expected, observation.fetched
    if expected is None or policy_id is None or fetched is None or fetched.body is None:
        return []
    served_hash = content_hash(fetched.body)
    if policy_id == expected.policy_id and served_hash == expected.policy_hash:
        return []
    if policy_id == expected.policy_id:
        message = f"id {policy_id} was published for another policy than the one served"
    else:
        message = f"DNS announces id {policy_id}, but the served policy has id {expected.policy_id}"
    return [
        finding(Code.POLICY_ID_STALE, Severity.ERROR, message, f"_mta-sts.{observation.domain}")
    ]
