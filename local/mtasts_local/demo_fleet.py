"""The demo's world in motion: the ticketing system onboarding the fleet, the senders delivering
and reporting, the validator's schedule, an admin's MX change, and what the product did, read
back through its API as a ticketing system reads it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from mtasts.clock import CompressedClock
from mtasts.tlsrpt_record import select_tlsrpt_record
from mtasts_local.cloudflare.state import DnsRecord
from mtasts_local.demo_api import DemoError, TicketingClient
from mtasts_local.demo_outcome import DomainView, expected_outcomes, observe_domain
from mtasts_local.demo_timeline import Timeline, describe_entry, describe_reports
from mtasts_local.senders import SendingMta, WorldNetwork
from mtasts_local.tlsrpt_mail import DailyReport, Reporter, ReportFormat, daily_reports, report_mail
from mtasts_local.world import LocalWorld

VALIDATE_SCHEDULE: Final = "ValidateFunction"
# The world's senders mail their reports in the three shapes the field uses, one each.
FORMATS: Final = (
    ReportFormat.TLSRPT_GZIP,
    ReportFormat.TLSRPT_JSON,
    ReportFormat.OCTET_STREAM_GZIP,
)


def world_network(world: LocalWorld) -> WorldNetwork:
    return WorldNetwork(
        dns=(world.bind, world.dns.port),
        https=(world.bind, world.https.port),
        smtp={name: (world.addresses[name], server.port) for name, server in world.smtp.items()},
        ca_bundle=world.ca_bundle,
    )


class DemoFleet:
    def __init__(
        self,
        world: LocalWorld,
        clock: CompressedClock,
        timeline: Timeline,
        window_days: int,
        messages_per_day: int,
        backup_mx: tuple[str, str, int],
    ) -> None:
        self.world = world
        self.clock = clock
        self.timeline = timeline
        self.window_days = window_days
        self.messages_per_day = messages_per_day
        self.backup_mx = backup_mx
        self.api = TicketingClient(world.api.url, world.api_key)
        self.network = world_network(world)
        self.domains = [zone.name for zone in world.config.zones]
        self.senders = [
            (
                SendingMta(s.organization, s.submitter, self.network, clock.now),
                Reporter(s.organization, s.submitter, s.contact, FORMATS[i % len(FORMATS)]),
            )
            for i, s in enumerate(world.config.senders)
        ]
        self._seen: dict[str, set[tuple[str, str]]] = {d: set() for d in self.domains}
        self._states: dict[str, tuple[str, str | None]] = {}
        self._validated_day: date | None = None
        self._mx_changed_from: str | None = None  # the policy id before the admin's change
        self._healed = False

    def close(self) -> None:
        self.api.close()

    # --- the ticketing system ------------------------------------------------------------------

    def onboard(self) -> None:
        for domain in self.domains:
            answer = self.api.onboard(domain, self.window_days)
            self.timeline.event(
                domain, f"onboarded through the API: 202, status at {answer['status_url']}"
            )

    # --- one step of a day ----------------------------------------------------------------------

    def step(self, messages: int) -> None:
        today = self.clock.now().date()
        self._mail_reports(today)
        self._validate_once_a_day(today)
        self._deliver(messages)
        self._watch_product()
        self._admin_changes()

    def _deliver(self, messages: int) -> None:
        for sender, _ in self.senders:
            for domain in self.domains:
                sender.send(domain, messages)

    def _mail_reports(self, today: date) -> None:
        """Yesterday's sessions, reported the morning after, as senders do (RFC 8460 §4.1)."""
        for sender, reporter in self.senders:
            reports = daily_reports(reporter, sender.take_sessions(before=today))
            if reports:
                self._mail(sender, reporter, reports)

    def _mail(self, sender: SendingMta, reporter: Reporter, reports: Sequence[DailyReport]) -> None:
        counted = []
        for report in reports:
            for address in _mailto(sender.txt(f"_smtp._tls.{report.domain}")):
                delivery = self.world.ses.deliver(report_mail(reporter, report, address), [address])
                counted.append((report, _counted(delivery.function_error, delivery.payload)))
        self.timeline.event("reports", describe_reports(reporter.organization, counted))

    def _validate_once_a_day(self, today: date) -> None:
        if self._validated_day == today:
            return
        self._validated_day = today
        for invocation in self.world.schedules.fire(VALIDATE_SCHEDULE):
            summary = invocation.payload or {}
            failing = ", ".join(summary.get("failing", [])) or "none"
            self.timeline.event(
                "validator",
                f"scheduled run: {summary.get('checked', 0)} domain(s) checked, failing: {failing}",
            )

    # --- the product, through its API -----------------------------------------------------------

    def _watch_product(self) -> None:
        new: list[tuple[str, str, dict[str, Any]]] = []
        for domain in self.domains:
            for entry in self.api.history(domain, limit=20):
                key = (entry["at"], entry["action"])
                if key not in self._seen[domain]:
                    self._seen[domain].add(key)
                    new.append((entry["at"], domain, entry))
        for _, domain, entry in sorted(new, key=lambda found: found[:2]):
            self._note(domain, entry)
        for summary in self.api.domains():
            state = (summary["state"], summary["mode"])
            if self._states.get(summary["domain"]) != state:
                self._states[summary["domain"]] = state
                mode = summary["mode"] or "no policy yet"
                self.timeline.event(summary["domain"], f"state {state[0]} (mode {mode})")

    def _note(self, domain: str, entry: dict[str, Any]) -> None:
        text = describe_entry(entry)
        if text is not None:
            self.timeline.event(domain, text, at=_at(entry))
        if entry["action"] == "drift-healed" and self._mx_changed_from is not None:
            self._healed = True

    # --- the admin ------------------------------------------------------------------------------

    def _admin_changes(self) -> None:
        domain, host, preference = self.backup_mx
        if self._mx_changed_from is not None or self._states.get(domain, ("",))[0] != "enforce":
            return
        self._mx_changed_from = self.api.status(domain)["policy_id"]
        zone = self.world.cloudflare.zone_for(domain)
        if zone is None:
            raise DemoError(f"{domain} is in no zone of the world's Cloudflare account")
        self.world.cloudflare.put_record(
            DnsRecord(uuid.uuid4().hex, zone.id, zone.name, "MX", domain, host, priority=preference)
        )
        self.timeline.event(
            domain, f"admin adds a backup MX in Cloudflare: {host} (preference {preference})"
        )

    # --- the end --------------------------------------------------------------------------------

    def finished(self) -> bool:
        if not self._healed:
            return False
        return not any(expected_outcomes(view) for view in self.final_views().values())

    def final_views(self) -> dict[str, DomainView]:
        sender = self.senders[0][0]
        return {
            domain: observe_domain(
                self.api,
                sender,
                self.network,
                domain,
                self._mx_changed_from if domain == self.backup_mx[0] else None,
            )
            for domain in self.domains
        }

    def validate_now(self) -> None:
        """One more scheduled run, so the last word on every domain is about its final state."""
        self._validated_day = None
        self._validate_once_a_day(self.clock.now().date())

    def write_status_page(self, path: Path) -> Path:
        path.write_text(self.api.dashboard(), encoding="utf-8")
        self.timeline.event("dashboard", f"status page (GET /dashboard) written to {path}")
        return path


def _mailto(records: Sequence[str]) -> list[str]:
    """The `mailto:` addresses of the domain's one `v=TLSRPTv1` record (RFC 8460 §3)."""
    record = select_tlsrpt_record(records).value
    if record is None:
        return []
    return [uri.removeprefix("mailto:") for uri in record.rua if uri.startswith("mailto:")]


def _counted(function_error: str | None, payload: Any) -> bool:
    """Whether the ingest function counted the report (its answer: one outcome per report)."""
    if function_error is not None or not isinstance(payload, list) or not payload:
        return False
    return all(isinstance(outcome, dict) and outcome.get("counted") for outcome in payload)


def _at(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["at"])
