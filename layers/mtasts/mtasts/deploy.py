"""Deploy a domain's policy and rotate its id, in the order RFC 8461 §8.1 demands.

    check it is safe -> publish the file -> confirm the exact bytes are served -> choose the id
    -> announce it in `_mta-sts` (and keep `_smtp._tls` right) -> remember what was announced

Each step is idempotent and the store records how far a change got, so an interruption at any
point leaves one of three states: nothing published; the new policy served with the id not yet
rotated (a rerun completes it); or fully done. DNS is never touched before the bytes are served,
so an id never announces a policy that is not there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from mtasts.errors import MtaStsError, UnsafePolicyError
from mtasts.mx_coverage import KNOWN_PROVIDERS, HostedProvider, check_publication_safe
from mtasts.mx_coverage import derive_mx_patterns as derive_patterns
from mtasts.pages_project import headers_file
from mtasts.policy import Mode, Policy, build_policy, content_hash, parse_policy
from mtasts.policy_id import next_policy_id
from mtasts.policy_state import AuditEntry, AuditLog, PolicyStateStore, PublishedPolicy
from mtasts.ports import (
    Clock,
    DnsProvider,
    MxResolver,
    PolicyFetcher,
    PolicyHost,
    RecordChange,
    SiteFiles,
)
from mtasts.sts_record import render_sts_record
from mtasts.tlsrpt_record import render_tlsrpt_record

STS_TAG = "v=STSv1"
TLSRPT_TAG = "v=TLSRPTv1"


class NotPublishedError(MtaStsError):
    """There is no published policy for the domain, so there is no id to announce."""


class DeployRequest(msgspec.Struct, frozen=True):
    domain: str
    mode: Mode
    max_age: int
    rua: tuple[str, ...]
    mx: tuple[str, ...] | None = None  # None: derived from the domain's live MX hosts
    request_id: str = "cli"


class DeployOutcome(msgspec.Struct, frozen=True):
    domain: str
    policy_id: str
    policy_hash: str
    mode: Mode
    mx: tuple[str, ...]
    policy_changed: bool  # the served file changed, so the id rotated
    records: tuple[RecordChange, ...] = ()

    @property
    def changed(self) -> bool:
        return self.policy_changed or any(r.changed for r in self.records)


def sts_name(domain: str) -> str:
    return f"_mta-sts.{domain}"


def tlsrpt_name(domain: str) -> str:
    return f"_smtp._tls.{domain}"


ConfirmServed = Callable[[str, bytes], object]
"""Waits (bounded) until `https://mta-sts.<domain>/...` serves exactly these bytes, or raises."""


class Deployer(msgspec.Struct):
    host: PolicyHost
    dns: DnsProvider
    resolver: MxResolver
    fetcher: PolicyFetcher
    confirm_served: ConfirmServed
    store: PolicyStateStore
    audit: AuditLog
    clock: Clock
    providers: Sequence[HostedProvider] = KNOWN_PROVIDERS
    on_step: Callable[[str], None] = lambda _message: None

    def deploy(self, request: DeployRequest) -> DeployOutcome:
        """Publish then announce: the whole change, safe to rerun after any failure."""
        state, changed = self.publish(request)
        state, records = self._announce(state, request.request_id, already_confirmed=True)
        return _outcome(state, changed, records)

    def publish(self, request: DeployRequest) -> tuple[PublishedPolicy, bool]:
        """Make the host serve the requested policy and choose its id (not yet announced).
        Returns the stored state and whether the served policy changed."""
        domain = request.domain
        live_mx = self.resolver.mx_hosts(domain)
        policy = self._policy_for(request, live_mx)
        current = self.store.load(domain)
        check_publication_safe(policy, live_mx, _policy_of(current))
        self.on_step(f"{domain}: policy is safe to publish ({policy.mode.value}, mx {policy.mx})")
        rendered = policy.render().encode("utf-8")
        digest = content_hash(rendered)
        if current is not None and current.policy_hash == digest:
            self._ensure_served(domain, rendered)
            return self._keep_id(current, request), False
        self._publish_files(domain, rendered)
        state = self._new_id(current, policy, rendered, request)
        self.audit.append(self._entry(domain, "policy-published", current, state, request))
        return state, True

    def announce(self, domain: str, request_id: str) -> DeployOutcome:
        """Put the stored id into DNS after checking its policy is still what is served."""
        state = self.store.load(domain)
        if state is None:
            raise NotPublishedError(f"{domain}: no policy has been published, nothing to announce")
        state, records = self._announce(state, request_id, already_confirmed=False)
        return _outcome(state, False, records)

    # --- steps ----------------------------------------------------------------------------

    def _policy_for(self, request: DeployRequest, live_mx: Sequence[str]) -> Policy:
        if request.mode is Mode.NONE:
            return build_policy(request.mode.value, request.mx or (), request.max_age)
        patterns = request.mx or derive_patterns(live_mx, self.providers)
        if not patterns:
            raise UnsafePolicyError(
                f"{request.domain}: no mx patterns given and the domain has no MX records to "
                "derive them from"
            )
        return build_policy(request.mode.value, patterns, request.max_age)

    def _ensure_served(self, domain: str, rendered: bytes) -> None:
        """The store says this policy is published; republish only if the host lost it."""
        fetched = self.fetcher.fetch(domain)
        if fetched.status == 200 and fetched.body == rendered:
            self.on_step(f"{domain}: the policy is already served; nothing to upload")
            return
        self.on_step(f"{domain}: the stored policy is not what is served; publishing it again")
        self._publish_files(domain, rendered)

    def _publish_files(self, domain: str, rendered: bytes) -> None:
        site = self.host.publish(SiteFiles(domain, rendered, headers_file()))
        self.on_step(
            f"{domain}: deployed to {site.site_name} ({site.uploaded_files} file(s) uploaded)"
        )
        self.confirm_served(domain, rendered)
        self.on_step(f"{domain}: https://{site.host_name}/ serves the new policy")

    def _keep_id(self, current: PublishedPolicy, request: DeployRequest) -> PublishedPolicy:
        if current.rua == request.rua:
            return current
        return self.store.save(current.model_copy(update={"rua": request.rua}))

    def _new_id(
        self,
        current: PublishedPolicy | None,
        policy: Policy,
        rendered: bytes,
        request: DeployRequest,
    ) -> PublishedPolicy:
        now = self.clock.now()
        state = PublishedPolicy(
            domain=request.domain,
            policy_id=next_policy_id(now, current.policy_id if current else None),
            policy_hash=content_hash(rendered),
            policy_text=rendered.decode("utf-8"),
            mode=policy.mode,
            max_age=policy.max_age,
            mx=policy.mx,
            rua=request.rua,
            served_at=now,
            announced_at=None,
            longest_max_age=current.longest_max_age if current else 0,
            version=current.version if current else 0,
        )
        return self.store.save(state)

    def _announce(
        self, state: PublishedPolicy, request_id: str, *, already_confirmed: bool
    ) -> tuple[PublishedPolicy, tuple[RecordChange, ...]]:
        domain = state.domain
        if not already_confirmed:
            self.confirm_served(domain, state.policy_text.encode("utf-8"))
        sts = self.dns.ensure_txt(sts_name(domain), STS_TAG, render_sts_record(state.policy_id))
        tlsrpt = self.dns.ensure_txt(
            tlsrpt_name(domain), TLSRPT_TAG, render_tlsrpt_record(list(state.rua))
        )
        records = (sts, tlsrpt)
        for change in records:
            if change.changed:
                self.on_step(f"{change.name}: {change.before!r} -> {change.after!r}")
                self.audit.append(self._record_entry(domain, change, request_id))
        if not state.announced:
            state = self.store.save(
                state.model_copy(
                    update={
                        "announced_at": self.clock.now(),
                        # A `none` policy tells senders to stop; how long they keep *that* does
                        # not matter to a removal, so it does not stretch the wait (§8.3).
                        "longest_max_age": state.longest_max_age
                        if state.mode is Mode.NONE
                        else max(state.longest_max_age, state.max_age),
                    }
                )
            )
            self.on_step(f"{domain}: id {state.policy_id} announced")
        return state, records

    # --- audit ----------------------------------------------------------------------------

    def _entry(
        self,
        domain: str,
        action: str,
        before: PublishedPolicy | None,
        after: PublishedPolicy,
        request: DeployRequest,
    ) -> AuditEntry:
        return AuditEntry(
            domain=domain,
            action=action,
            before=_summary(before),
            after=_summary(after),
            at=self.clock.now(),
            request_id=request.request_id,
        )

    def _record_entry(self, domain: str, change: RecordChange, request_id: str) -> AuditEntry:
        return AuditEntry(
            domain=domain,
            action="dns-record-changed",
            before={"name": change.name, "content": change.before},
            after={
                "name": change.name,
                "content": change.after,
                "removed_duplicates": list(change.removed_duplicates),
            },
            at=self.clock.now(),
            request_id=request_id,
        )


def _policy_of(state: PublishedPolicy | None) -> Policy | None:
    return parse_policy(state.policy_text) if state is not None else None


def _summary(state: PublishedPolicy | None) -> dict[str, object] | None:
    if state is None:
        return None
    return state.model_dump(
        mode="json", include={"policy_id", "policy_hash", "mode", "max_age", "mx", "rua"}
    )


def _outcome(
    state: PublishedPolicy, changed: bool, records: tuple[RecordChange, ...]
) -> DeployOutcome:
    return DeployOutcome(
        domain=state.domain,
        policy_id=state.policy_id,
        policy_hash=state.policy_hash,
        mode=state.mode,
        mx=state.mx,
        policy_changed=changed,
        records=records,
    )
