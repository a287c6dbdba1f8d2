"""Cloudflare Pages as the `PolicyHost`: one project per domain, deployed by direct upload the
way wrangler does it (see ../shared/cloudflare/wrangler-pages-deploy-wire.jsonl), served on the
custom domain `mta-sts.<domain>` through a proxied CNAME.

    publish: create (or reuse) the project -> upload token -> check-missing -> upload what is
             missing -> upsert-hashes -> deployment (manifest + `_headers`) -> poll to success
             -> CNAME -> attach the custom domain -> wait for it to be active

Call economy, since every call counts against Cloudflare's rate limit and the Lambda's time:
a project created a moment ago holds no files, so check-missing is skipped for it and every
file is uploaded; upsert-hashes only refreshes files that were already held; the CNAME goes in
before the domain is attached, so the attach answer is already `active`; the zone id is learnt
once (or from the custom domain's `zone_tag`) and shared with the DNS adapter.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping

import msgspec
from cloudflare import Cloudflare
from cloudflare.types.pages import Deployment
from cloudflare.types.pages.asset_upload_params import Body as UploadEntry

from mtasts.cloudflare_client import calling
from mtasts.cloudflare_dns import CloudflareDns
from mtasts.cloudflare_errors import (
    CloudflareNotFoundError,
    CloudflarePermanentError,
    CloudflareTransientError,
    DeploymentFailedError,
    DeploymentTimeoutError,
)
from mtasts.pages_project import custom_host, manifest_hash, manifest_path, project_name
from mtasts.ports import POLICY_PATH, HostedSite, SiteFiles

PRODUCTION_BRANCH = "main"
PAGES_SUFFIX = "pages.dev"
POLICY_ASSET_TYPE = "text/plain"  # what wrangler uploads a .txt as; `_headers` adds the charset
CODE_PROJECT_EXISTS = 8000002
CODE_DOMAIN_EXISTS = 8000019
_FAILED_STAGES = frozenset({"failure", "canceled", "skipped"})


class PollLimits(msgspec.Struct, frozen=True):
    """How long to wait for a deployment and a custom domain, and how often to ask."""

    deployment_timeout: float = 120.0  # seconds
    domain_timeout: float = 60.0
    first_delay: float = 0.5
    max_delay: float = 5.0


class _Project(msgspec.Struct, frozen=True):
    name: str
    subdomain: str | None  # `<name>.pages.dev`, or another name if that one was taken
    created: bool  # by this call: it holds nothing yet


class _Asset(msgspec.Struct, frozen=True):
    content: bytes
    content_type: str


class CloudflarePagesHost:
    """`PolicyHost` over Cloudflare Pages in the account `account_id`."""

    def __init__(
        self,
        client: Cloudflare,
        account_id: str,
        dns: CloudflareDns,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        limits: PollLimits | None = None,
    ) -> None:
        self._client = client
        self._account_id = account_id
        self._dns = dns
        self._clock = clock
        self._sleep = sleep
        self._limits = limits or PollLimits()

    # --- PolicyHost ----------------------------------------------------------------------------

    def publish(self, files: SiteFiles) -> HostedSite:
        name, host = project_name(files.domain), custom_host(files.domain)
        project = self._ensure_project(name)
        digest = manifest_hash(files.policy, POLICY_PATH)
        assets = {digest: _Asset(files.policy, POLICY_ASSET_TYPE)}
        uploaded = self._upload(name, assets, fresh=project.created)
        deployment_id = self._deploy(name, {manifest_path(POLICY_PATH): digest}, files.headers)
        active = self._serve_on(files.domain, host, project)
        return HostedSite(files.domain, name, host, deployment_id, uploaded, active)

    def describe(self, domain: str) -> HostedSite | None:
        """One call when there is no project or no custom domain, two otherwise."""
        name, host = project_name(domain), custom_host(domain)
        try:
            with calling(f"reading the Pages project {name}"):
                project = self._client.pages.projects.get(name, account_id=self._account_id)
        except CloudflareNotFoundError:
            return None
        live = project.canonical_deployment
        active = host in (project.domains or []) and self._domain_status(domain, name) == "active"
        return HostedSite(domain, name, host, live.id if live else None, 0, active)

    def remove(self, domain: str) -> None:
        name, host = project_name(domain), custom_host(domain)
        try:
            with calling(f"reading the Pages project {name}"):
                project = self._client.pages.projects.get(name, account_id=self._account_id)
        except CloudflareNotFoundError:
            project = None
        if project is not None and host in (project.domains or []):
            self._ignoring_missing(
                f"detaching {host} from {name}",
                lambda: self._client.pages.projects.domains.delete(
                    host, account_id=self._account_id, project_name=name
                ),
            )
        subdomain = project.subdomain if project is not None else None
        self._dns.delete_cname(domain, host, subdomain or f"{name}.{PAGES_SUFFIX}")
        if project is not None:
            self._ignoring_missing(
                f"deleting the Pages project {name}",
                lambda: self._client.pages.projects.delete(name, account_id=self._account_id),
            )

    # --- project and files ---------------------------------------------------------------------

    def _ensure_project(self, name: str) -> _Project:
        # Create first, reuse on "exists": one call either way, and a create the SDK retries
        # after a lost answer lands in the "exists" branch instead of failing.
        try:
            with calling(f"creating the Pages project {name}"):
                created = self._client.pages.projects.create(
                    account_id=self._account_id, name=name, production_branch=PRODUCTION_BRANCH
                )
            return _Project(name, created.subdomain, created=True)
        except CloudflarePermanentError as error:
            if CODE_PROJECT_EXISTS not in error.codes:
                raise
        return _Project(name, None, created=False)

    def _upload(self, name: str, assets: Mapping[str, _Asset], *, fresh: bool) -> int:
        """Upload the files Pages lacks; the number uploaded."""
        with calling(f"getting an upload token for the Pages project {name}"):
            jwt = self._client.pages.projects.get_upload_token(
                name, account_id=self._account_id
            ).jwt
        uploader = self._client.with_options(api_token=jwt)  # the asset endpoints take the JWT
        hashes = list(assets)
        missing = hashes if fresh else self._missing(uploader, hashes)
        if missing:
            entries: list[UploadEntry] = [
                {
                    "key": digest,
                    "value": base64.b64encode(assets[digest].content).decode("ascii"),
                    "metadata": {"content_type": assets[digest].content_type},
                    "base64": True,
                }
                for digest in missing
            ]
            with calling(f"uploading {len(entries)} file(s) to Pages"):
                uploader.pages.assets.upload(body=entries)
        held = [digest for digest in hashes if digest not in missing]
        if held:
            self._refresh(uploader, held)
        return len(missing)

    def _missing(self, uploader: Cloudflare, hashes: list[str]) -> list[str]:
        with calling("asking Pages which files it lacks"):
            lacking = set(uploader.pages.assets.check_missing(hashes=hashes).result)
        return [digest for digest in hashes if digest in lacking]

    def _refresh(self, uploader: Cloudflare, held: list[str]) -> None:
        # upsert-hashes only keeps already-held files known to check-missing for later
        # deployments; the deployment does not depend on it. Like wrangler, a transient
        # failure here costs at most a re-upload next time, so it does not fail the publish.
        try:
            with calling("refreshing the files Pages already held"):
                uploader.pages.assets.upsert_hashes(hashes=held)
        except CloudflareTransientError:
            pass

    # --- deployment ----------------------------------------------------------------------------

    def _deploy(self, name: str, manifest: dict[str, str], headers: bytes) -> str:
        # A deployment the SDK retries after a lost answer is a second, identical deployment:
        # harmless, the newest one is served.
        with calling(f"creating a deployment of the Pages project {name}"):
            deployment = self._client.pages.projects.deployments.create(
                name,
                account_id=self._account_id,
                manifest=json.dumps(manifest),
                branch=PRODUCTION_BRANCH,
                _headers=("_headers", headers),  # not an asset: a part of this request only
            )
        return self._await_deployment(name, deployment)

    def _await_deployment(self, name: str, deployment: Deployment) -> str:
        limits = self._limits
        deadline = self._clock() + limits.deployment_timeout
        delay = limits.first_delay
        while not _deployed(deployment, name):
            if self._clock() + delay > deadline:
                raise DeploymentTimeoutError(
                    f"The Pages deployment {deployment.id} of {name} had not finished after "
                    f"{limits.deployment_timeout:g} s; it may still finish. Publish again later."
                )
            self._sleep(delay)
            delay = min(delay * 2, limits.max_delay)
            with calling(f"checking the deployment {deployment.id} of {name}"):
                deployment = self._client.pages.projects.deployments.get(
                    deployment.id, account_id=self._account_id, project_name=name
                )
        return deployment.id

    # --- custom domain -------------------------------------------------------------------------

    def _serve_on(self, domain: str, host: str, project: _Project) -> bool:
        """Make `host` reach the project; whether it is active (certificate and routing)."""
        status = None if project.created else self._domain_status(domain, project.name)
        if status == "active":
            return True
        subdomain = project.subdomain or self._subdomain(project.name)
        # The CNAME goes first: Pages does not create it, and with it in place the domain is
        # active from the moment it is attached, which saves polling.
        self._dns.ensure_cname(domain, host, subdomain)
        if status is None:
            status = self._attach(domain, host, project.name)
        return status == "active" or self._await_active(domain, project.name)

    def _subdomain(self, name: str) -> str:
        with calling(f"reading the Pages project {name}"):
            project = self._client.pages.projects.get(name, account_id=self._account_id)
        return project.subdomain or f"{name}.{PAGES_SUFFIX}"

    def _attach(self, domain: str, host: str, name: str) -> str | None:
        try:
            with calling(f"attaching {host} to the Pages project {name}"):
                attached = self._client.pages.projects.domains.create(
                    name, account_id=self._account_id, name=host
                )
        except CloudflarePermanentError as error:
            if CODE_DOMAIN_EXISTS not in error.codes:  # a retried attach that had landed
                raise
            return self._domain_status(domain, name)
        self._dns.remember_zone(domain, attached.zone_tag)
        return attached.status

    def _domain_status(self, domain: str, name: str) -> str | None:
        """The custom domain's status; None when it is not attached (or there is no project).
        Its `zone_tag` is handed to the DNS adapter, which then needs no zone lookup."""
        host = custom_host(domain)
        try:
            with calling(f"reading the custom domain {host}"):
                found = self._client.pages.projects.domains.get(
                    host, account_id=self._account_id, project_name=name
                )
        except CloudflareNotFoundError:
            return None
        self._dns.remember_zone(domain, found.zone_tag)
        return found.status

    def _await_active(self, domain: str, name: str) -> bool:
        """Poll, bounded, until the domain is active. Running out is not an error: the
        certificate can take minutes, and the caller confirms the policy is served anyway."""
        limits = self._limits
        deadline = self._clock() + limits.domain_timeout
        delay = limits.first_delay
        while self._clock() + delay <= deadline:
            self._sleep(delay)
            delay = min(delay * 2, limits.max_delay)
            if self._domain_status(domain, name) == "active":
                return True
        return False

    def _ignoring_missing(self, action: str, call: Callable[[], object]) -> None:
        try:
            with calling(action):
                call()
        except CloudflareNotFoundError:
            pass  # already gone: removing is idempotent


def _deployed(deployment: Deployment, name: str) -> bool:
    stage = deployment.latest_stage
    if stage.status in _FAILED_STAGES:
        raise DeploymentFailedError(
            f"The Pages deployment {deployment.id} of {name} ended with '{stage.status}' in "
            f"its '{stage.name}' stage; see the project's deployments in the dashboard."
        )
    return stage.name == "deploy" and stage.status == "success"
