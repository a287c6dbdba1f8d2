"""Which `mx` patterns a domain needs, and whether a policy is safe to publish.

A policy in `enforce` that does not cover one of the domain's live MX hosts makes every strict
sender refuse to deliver there (RFC 8461 §4.1, §5): the safety gate below is what stands between
a wrong MX list and bounced mail. Pure: callers bring the live MX hosts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from mtasts.domain_names import dns_name
from mtasts.errors import UnsafePolicyError
from mtasts.policy import Mode, Policy, mx_matches


class HostedProvider(msgspec.Struct, frozen=True):
    """A mail provider whose MX hosts all sit one label under `suffix`, so `*.<suffix>` covers
    whichever of them the provider hands out next (they rotate and add hosts without notice)."""

    name: str
    suffix: str

    @property
    def pattern(self) -> str:
        return f"*.{self.suffix}"


# Providers whose MX host names are one label under a fixed suffix. An exact host list for them
# would break the day the provider adds a host; the wildcard does not. Only suffixes the provider
# alone controls belong here (a shared suffix would let another tenant's host match).
KNOWN_PROVIDERS: tuple[HostedProvider, ...] = (
    HostedProvider("Microsoft 365", "mail.protection.outlook.com"),
    HostedProvider("Google Workspace", "aspmx.l.google.com"),
    HostedProvider("Google Workspace (legacy)", "googlemail.com"),
    HostedProvider("Proofpoint", "pphosted.com"),
    HostedProvider("Proofpoint Essentials", "ppe-hosted.com"),
    HostedProvider("Mimecast", "mimecast.com"),
    HostedProvider("Barracuda", "ess.barracudanetworks.com"),
    HostedProvider("Fastmail", "messagingengine.com"),
    HostedProvider("Zoho Mail", "zoho.com"),
    HostedProvider("Zoho Mail (EU)", "zoho.eu"),
    HostedProvider("iCloud Mail", "mail.icloud.com"),
)


def _provider_for(host: str, providers: Sequence[HostedProvider]) -> HostedProvider | None:
    return next((p for p in providers if mx_matches(p.pattern, host)), None)


def derive_mx_patterns(
    mx_hosts: Iterable[str], providers: Sequence[HostedProvider] = KNOWN_PROVIDERS
) -> tuple[str, ...]:
    """The `mx` lines for a domain's live MX hosts: each host exactly, except hosts of a known
    provider, folded into its wildcard. Order follows the hosts' order; no duplicates.

    A provider's bare suffix (`aspmx.l.google.com` itself) is not matched by its wildcard (§4.1:
    `*` is exactly one label), so it stays an exact line beside the wildcard."""
    patterns: list[str] = []
    for host in map(dns_name, mx_hosts):
        if not host:
            continue
        provider = _provider_for(host, providers)
        pattern = provider.pattern if provider else host
        if pattern not in patterns:
            patterns.append(pattern)
    return tuple(patterns)


def uncovered_hosts(policy: Policy, mx_hosts: Iterable[str]) -> tuple[str, ...]:
    """Live MX hosts that no `mx` pattern of the policy matches, in the order given."""
    hosts = dict.fromkeys(dns_name(h) for h in mx_hosts if dns_name(h))
    return tuple(host for host in hosts if policy.match(host) is None)


def check_publication_safe(
    policy: Policy, live_mx: Sequence[str], current: Policy | None = None
) -> None:
    """Refuse, with the hosts named, a policy that could make strict senders bounce mail:

    - in `enforce`, every live MX host must be covered, and there must be live MX hosts at all
      (with none, a sender falls back to the A record, which no `mx` line can vouch for);
    - in any mode but `none`, a change must not drop coverage of a live MX host the current
      policy covers (testing today is enforce tomorrow; losing a host is never intended).
    `mode: none` tells senders to stop using the policy and is always safe."""
    if policy.mode is Mode.NONE:
        return
    if policy.mode is Mode.ENFORCE:
        if not live_mx:
            raise UnsafePolicyError(
                "refusing enforce: the domain has no MX records, so no mx pattern can cover "
                "where its mail is delivered"
            )
        missing = uncovered_hosts(policy, live_mx)
        if missing:
            raise UnsafePolicyError(
                f"refusing enforce: live MX host(s) not covered by any mx pattern: "
                f"{', '.join(missing)}; add them (or their provider's wildcard) to mx",
                missing,
            )
    if current is not None and current.mode is not Mode.NONE:
        dropped = _coverage_dropped(policy, current, live_mx)
        if dropped:
            raise UnsafePolicyError(
                f"refusing the change: it stops covering live MX host(s) {', '.join(dropped)}, "
                f"which the current policy covers",
                dropped,
            )


def _coverage_dropped(new: Policy, current: Policy, live_mx: Sequence[str]) -> tuple[str, ...]:
    still_uncovered = set(uncovered_hosts(new, live_mx))
    covered_now = [h for h in map(dns_name, live_mx) if h and current.match(h) is not None]
    return tuple(dict.fromkeys(h for h in covered_now if h in still_uncovered))
