"""Keeping a policy's `mx` patterns in step with the domain's live MX hosts.

An MX host added to DNS that the published policy does not cover makes strict senders with a
cached `enforce` policy refuse to deliver to it until they refetch (RFC 8461 §8): so a new host
is added to the policy at once (exact, or its provider's wildcard). A pattern whose hosts have
left is removed only once the longest `max_age` ever published has passed since it last matched a
live host: until then a sender may still act on a cached MX answer and a cached policy. A pattern
too many is harmless; a pattern too few bounces mail. Patterns never seen matching (an admin's
pattern for a host still to come) are kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import msgspec

from mtasts.domain_names import dns_name
from mtasts.mx_coverage import KNOWN_PROVIDERS, HostedProvider, derive_mx_patterns
from mtasts.policy import mx_matches


class DriftPlan(msgspec.Struct, frozen=True):
    patterns: tuple[str, ...]  # what the policy's mx lines should be
    added: tuple[str, ...]
    removed: tuple[str, ...]
    last_seen: Mapping[str, datetime]  # pattern -> last time it matched a live MX host

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def plan_mx_drift(
    patterns: Sequence[str],
    live_mx: Sequence[str],
    last_seen: Mapping[str, datetime],
    now: datetime,
    longest_max_age: int,
    providers: Sequence[HostedProvider] = KNOWN_PROVIDERS,
) -> DriftPlan:
    hosts = [h for h in map(dns_name, live_mx) if h]
    uncovered = [h for h in hosts if not any(mx_matches(p, h) for p in patterns)]
    added = tuple(p for p in derive_mx_patterns(uncovered, providers) if p not in patterns)
    current = (*patterns, *added)
    seen = dict(last_seen)
    for pattern in current:
        if any(mx_matches(pattern, h) for h in hosts):
            seen[pattern] = now
    grace = timedelta(seconds=longest_max_age)
    removed = tuple(p for p in patterns if _gone_long_enough(p, hosts, seen, now, grace))
    if len(removed) == len(current):
        removed = ()  # a policy keeps at least one mx line; with no MX left, change nothing
    for pattern in removed:
        seen.pop(pattern, None)
    kept = tuple(p for p in current if p not in removed)
    return DriftPlan(kept, added, removed, seen)


def _gone_long_enough(
    pattern: str,
    hosts: Sequence[str],
    seen: Mapping[str, datetime],
    now: datetime,
    grace: timedelta,
) -> bool:
    if any(mx_matches(pattern, h) for h in hosts):
        return False
    last = seen.get(pattern)
    return last is not None and now - last >= grace
