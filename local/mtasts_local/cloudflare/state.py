"""The Cloudflare account's state, shared by the API stand-in, the DNS server and the HTTPS
server. Everything here is in memory and guarded by one lock; readers get copies.

Derived facts (a custom domain's status, the site a host serves) are computed on read from the
records they depend on, never stored twice.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

PAGES_SUFFIX = "pages.dev"
# The name servers Cloudflare assigns to every zone of the local account (served by the API and
# answered by the local DNS server alike).
NAME_SERVERS = ("ada.ns.cloudflare.com", "bob.ns.cloudflare.com")


def new_id() -> str:
    return uuid.uuid4().hex


def now() -> datetime:
    return datetime.now(UTC)


def canonical(name: str) -> str:
    return name.rstrip(".").lower()


@dataclass(frozen=True, slots=True)
class DnsRecord:
    id: str
    zone_id: str
    zone_name: str
    type: str  # A, AAAA, CNAME, MX, TXT
    name: str  # fully qualified, no trailing dot, lowercase
    content: str  # TXT content exactly as the API received it (usually quoted)
    ttl: int = 1  # 1 = automatic
    proxied: bool = False
    priority: int | None = None
    comment: str | None = None
    created_on: datetime = field(default_factory=now)
    modified_on: datetime = field(default_factory=now)


@dataclass(slots=True)
class Zone:
    id: str
    name: str
    account_id: str
    status: str = "active"
    created_on: datetime = field(default_factory=now)
    records: dict[str, DnsRecord] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Asset:
    content: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class Deployment:
    id: str
    project_name: str
    manifest: dict[str, str]  # "/path" -> asset hash
    headers_file: bytes | None  # the `_headers` part, if sent
    branch: str
    environment: str  # "production" when branch == the project's production branch
    created_on: datetime = field(default_factory=now)
    status: str = "success"  # the latest stage's status: "active" while building, then this


@dataclass(frozen=True, slots=True)
class CustomDomain:
    id: str
    name: str
    project_name: str
    created_on: datetime = field(default_factory=now)


@dataclass(slots=True)
class PagesProject:
    id: str
    name: str
    account_id: str
    production_branch: str = "main"
    created_on: datetime = field(default_factory=now)
    deployments: list[Deployment] = field(default_factory=list)  # newest last
    domains: dict[str, CustomDomain] = field(default_factory=dict)

    @property
    def subdomain(self) -> str:
        return f"{self.name}.{PAGES_SUFFIX}"


@dataclass(frozen=True, slots=True)
class ServedSite:
    """What the HTTPS edge serves for a host: files by path and the `_headers` rules text."""

    project_name: str
    deployment_id: str
    files: dict[str, Asset]
    headers_file: bytes | None


class CloudflareState:
    """One Cloudflare account (its id and API token) plus the zones it manages."""

    def __init__(self, account_id: str, api_token: str) -> None:
        self.account_id = account_id
        self.api_token = api_token
        self.lock = threading.RLock()
        self.zones: dict[str, Zone] = {}
        self.projects: dict[str, PagesProject] = {}
        self.assets: dict[str, Asset] = {}

    # --- zones and records ---------------------------------------------------------------------

    def add_zone(self, name: str, zone_id: str | None = None) -> Zone:
        """A new zone; `zone_id` lets a world seed the same ids again after a reset."""
        with self.lock:
            zone = Zone(id=zone_id or new_id(), name=canonical(name), account_id=self.account_id)
            self.zones[zone.id] = zone
            return zone

    def zone_for(self, name: str) -> Zone | None:
        """The zone with the longest name that `name` is in or under."""
        name = canonical(name)
        with self.lock:
            matches = [
                z for z in self.zones.values() if name == z.name or name.endswith("." + z.name)
            ]
            return max(matches, key=lambda z: len(z.name), default=None)

    def records_named(self, name: str) -> list[DnsRecord]:
        """Every record at exactly `name` (any type), for the DNS server."""
        name = canonical(name)
        zone = self.zone_for(name)
        if zone is None:
            return []
        with self.lock:
            return [r for r in zone.records.values() if r.name == name]

    def name_exists(self, name: str) -> bool:
        """True when `name` owns records or is an empty non-terminal (NODATA, not NXDOMAIN)."""
        name = canonical(name)
        zone = self.zone_for(name)
        if zone is None:
            return False
        if name == zone.name:
            return True
        with self.lock:
            return any(r.name == name or r.name.endswith("." + name) for r in zone.records.values())

    def put_record(self, record: DnsRecord) -> DnsRecord:
        with self.lock:
            self.zones[record.zone_id].records[record.id] = record
            return record

    def delete_record(self, zone_id: str, record_id: str) -> DnsRecord | None:
        with self.lock:
            return self.zones[zone_id].records.pop(record_id, None)

    # --- Pages ---------------------------------------------------------------------------------

    def custom_domain_status(self, domain: CustomDomain) -> str:
        """`active` once a proxied CNAME from the domain to the project's pages.dev name exists."""
        target = f"{domain.project_name}.{PAGES_SUFFIX}"
        for record in self.records_named(domain.name):
            if record.type == "CNAME" and record.proxied and canonical(record.content) == target:
                return "active"
        return "pending"

    def latest_production(self, project: PagesProject) -> Deployment | None:
        with self.lock:
            done = [
                d
                for d in project.deployments
                if d.environment == "production" and d.status == "success"
            ]
            return done[-1] if done else None

    def site_for_host(self, host: str) -> ServedSite | None:
        """The site an HTTPS request for `host` reaches: an active custom domain's (or a
        `<project>.pages.dev` name's) latest successful production deployment."""
        host = canonical(host)
        with self.lock:
            project = self._project_for_host(host)
            if project is None:
                return None
            deployment = self.latest_production(project)
            if deployment is None:
                return None
            files = {
                path: self.assets[digest]
                for path, digest in deployment.manifest.items()
                if digest in self.assets
            }
            return ServedSite(project.name, deployment.id, files, deployment.headers_file)

    def _project_for_host(self, host: str) -> PagesProject | None:
        for project in self.projects.values():
            if host == project.subdomain:
                return project
            domain = project.domains.get(host)
            if domain is not None and self.custom_domain_status(domain) == "active":
                return project
        return None

    # --- test support --------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything but the account (between tests)."""
        with self.lock:
            self.zones.clear()
            self.projects.clear()
            self.assets.clear()

    def replace_record(self, record: DnsRecord, **changes: object) -> DnsRecord:
        updated = replace(record, **changes, modified_on=now())  # type: ignore[arg-type]
        return self.put_record(updated)
