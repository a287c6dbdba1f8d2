"""How the demo judges its end: each domain as a strict sender sees it (the served policy, the
`_mta-sts` id in DNS) beside what the product's API says, and what the default world's four
domains must have come to."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from mtasts.policy import check_policy, mx_matches
from mtasts.policy_fetch import HttpsPolicyFetcher
from mtasts.sts_record import select_sts_record


class _Api(Protocol):
    def status(self, domain: str) -> dict[str, object]: ...


class _Dns(Protocol):
    def txt(self, name: str) -> list[str]: ...


class _Network(Protocol):
    @property
    def https(self) -> tuple[str, int]: ...

    @property
    def ca_bundle(self) -> object: ...


@dataclass(frozen=True, slots=True)
class DomainView:
    domain: str
    state: str  # the product's lifecycle state
    reason: str  # why, when the product holds the domain back
    served_mode: str | None  # the policy a sender fetches now
    served_mx: tuple[str, ...]
    dns_id: str | None  # the `_mta-sts` id a sender sees now
    product_id: str | None  # the id the product says it published
    validator_ok: bool | None = None  # the product's last validation of it
    id_before_mx_change: str | None = None  # moving.example: the id before the admin's change


def observe_domain(
    api: _Api, dns: _Dns, network: _Network, domain: str, id_before: str | None
) -> DomainView:
    status = api.status(domain)
    window = status.get("window") or {}
    validation = status.get("last_validation")
    assert isinstance(window, dict)
    reasons = window.get("reasons") or []
    mode, mx = _served(network, domain)
    record = select_sts_record(dns.txt(f"_mta-sts.{domain}")).value
    return DomainView(
        domain=domain,
        state=str(status["state"]),
        reason="; ".join(str(r) for r in reasons) if isinstance(reasons, list) else "",
        served_mode=mode,
        served_mx=mx,
        dns_id=record.id if record else None,
        product_id=str(status["policy_id"]) if status.get("policy_id") else None,
        validator_ok=bool(validation["ok"]) if isinstance(validation, dict) else None,
        id_before_mx_change=id_before,
    )


def _served(network: _Network, domain: str) -> tuple[str | None, tuple[str, ...]]:
    connect_to = {"*": network.https}
    with HttpsPolicyFetcher(ca_bundle=str(network.ca_bundle), connect_to=connect_to) as fetcher:
        body = fetcher.fetch(domain).body
    policy = check_policy(body).value if body is not None else None
    return (policy.mode.value, policy.mx) if policy else (None, ())


# --- what the default world's domains must come to -----------------------------------------------


def _in_enforce(view: DomainView) -> list[str]:
    problems = []
    if view.served_mode != "enforce" or view.state != "enforce":
        problems.append(
            f"{view.domain}: expected enforce, served {view.served_mode} in state {view.state}"
        )
    if view.dns_id is None or view.dns_id != view.product_id:
        problems.append(
            f"{view.domain}: DNS id {view.dns_id} is not the product's {view.product_id}"
        )
    if view.validator_ok is not True:
        problems.append(f"{view.domain}: the validator's last run did not pass")
    return problems


def _held_for_expired_certificate(view: DomainView) -> list[str]:
    if view.served_mode == "testing" and "certificate-expired" in view.reason:
        return []
    return [
        f"{view.domain}: expected testing held for certificate-expired, served "
        f"{view.served_mode} ({view.reason or 'no reason given'})"
    ]


def _mx_change_healed(view: DomainView) -> list[str]:
    problems = _in_enforce(view)
    if not any(mx_matches(p, "mx2.moving.example") for p in view.served_mx):
        problems.append(f"{view.domain}: the new MX is not in the served policy {view.served_mx}")
    if view.id_before_mx_change is None or view.dns_id == view.id_before_mx_change:
        problems.append(f"{view.domain}: no new id since the MX change ({view.dns_id})")
    return problems


EXPECTED: Mapping[str, Callable[[DomainView], list[str]]] = {
    "hosted.example": _in_enforce,
    "selfhosted.example": _in_enforce,
    "expired.example": _held_for_expired_certificate,
    "moving.example": _mx_change_healed,
}


def expected_outcomes(view: DomainView) -> list[str]:
    """What is not yet as the demo promises for this domain (empty: as promised)."""
    judge = EXPECTED.get(view.domain)
    return judge(view) if judge else []
