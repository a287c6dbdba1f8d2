"""The ports between the use cases and the outside world.

Use cases (deploy, rotate, validate, promote) talk only to these protocols. Adapters implement
them for Cloudflare, DNS, HTTPS and DynamoDB; tests pass in-memory fakes. Everything here is
plain data: no network, no SDK types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import msgspec

POLICY_PATH = ".well-known/mta-sts.txt"


class SiteFiles(msgspec.Struct, frozen=True):
    """What the policy host must serve for one domain: the policy file's bytes and the
    `_headers` rules that give it its content type and caching."""

    domain: str
    policy: bytes
    headers: bytes


class HostedSite(msgspec.Struct, frozen=True):
    """Where a domain's policy is hosted and what was done to put it there."""

    domain: str
    site_name: str  # the host's own name for the site (a Pages project)
    host_name: str  # `mta-sts.<domain>`
    deployment_id: str | None
    uploaded_files: int  # 0 when the host already held every file
    active: bool  # the custom host name answers (certificate issued, routing in place)


class TxtRecord(msgspec.Struct, frozen=True):
    """One TXT record as the DNS provider holds it, its strings already joined and unquoted."""

    record_id: str
    name: str
    content: str


class RecordChange(msgspec.Struct, frozen=True):
    """What ensuring a record did: the content before (None if absent), after, and the ids of
    stray duplicates that were removed."""

    name: str
    before: str | None
    after: str | None
    removed_duplicates: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.before != self.after or bool(self.removed_duplicates)


class PolicyHost(Protocol):
    """Serves `https://mta-sts.<domain>/.well-known/mta-sts.txt` (Cloudflare Pages in
    production)."""

    def publish(self, files: SiteFiles) -> HostedSite:
        """Deploy the files and make `mta-sts.<domain>` serve them; idempotent, and uploads
        nothing the host already holds."""
        ...

    def describe(self, domain: str) -> HostedSite | None:
        """The site as it stands (None if there is none), in as few API calls as possible."""
        ...

    def remove(self, domain: str) -> None:
        """Detach the custom host name, delete its DNS record and the site; a missing site is
        fine."""
        ...


class DnsProvider(Protocol):
    """The authoritative DNS of the domain (Cloudflare DNS in production)."""

    def txt_records(self, name: str) -> list[TxtRecord]:
        """Every TXT record at exactly `name`."""
        ...

    def ensure_txt(self, name: str, version_tag: str, content: str) -> RecordChange:
        """Leave exactly one TXT record at `name` whose content starts with `version_tag`
        (`v=STSv1` or `v=TLSRPTv1`), holding `content`; remove duplicates of that kind, leave
        every other TXT record alone. Lists before it creates, so a retried call never leaves
        two."""
        ...

    def delete_txt(self, name: str, version_tag: str) -> RecordChange:
        """Remove every TXT record at `name` whose content starts with `version_tag`."""
        ...


class MxResolver(Protocol):
    """Live DNS as a sending MTA sees it."""

    def mx_hosts(self, domain: str) -> list[str]:
        """The domain's MX host names, lowercase, without the trailing dot (empty for none)."""
        ...


class FetchedPolicy(msgspec.Struct, frozen=True):
    """The outcome of one fetch of the policy URL the way RFC 8461 §3.3 says a sender fetches it."""

    url: str
    status: int | None
    body: bytes | None
    content_type: str | None
    cache_control: str | None
    error: str | None  # why the fetch did not yield a 200 body (certificate, redirect, size, ...)
    error_code: str | None  # a finding code (`policy-redirect`, `policy-too-large`, ...)


class PolicyFetcher(Protocol):
    def fetch(self, domain: str) -> FetchedPolicy: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
