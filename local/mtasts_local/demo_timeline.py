"""The demo's output: a timeline of events as they happen, stamped with the compressed calendar
(day number and time of day), and the final table."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TextIO

from mtasts.clock import CompressedClock
from mtasts_local.demo_outcome import DomainView
from mtasts_local.tlsrpt_mail import DailyReport

SUBJECT_WIDTH: Final = 19
TEXT_WIDTH: Final = 150


class Timeline:
    def __init__(self, out: TextIO, clock: CompressedClock, start: datetime) -> None:
        self.out = out
        self.clock = clock
        self.start = start
        self.lines: list[str] = []
        self._colour = out.isatty()
        self._lock = threading.Lock()

    def event(self, subject: str, text: str, at: datetime | None = None) -> None:
        moment = at or self.clock.now()
        days = (moment.date() - self.start.date()).days
        line = f"day {days:>2} {moment:%H:%M}  {subject:<{SUBJECT_WIDTH}} {_clip(text)}"
        with self._lock:
            self.lines.append(line)
            self.out.write(self._paint(line) + "\n")
            self.out.flush()

    def _paint(self, line: str) -> str:
        if not self._colour:
            return line
        for word in ("PROMOTED", "BLOCKED", "HEALED", "DEMOTED", "FAILED"):
            if word in line:
                code = "32" if word in ("PROMOTED", "HEALED") else "31"
                return line.replace(word, f"\033[1;{code}m{word}\033[0m")
        return line


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_WIDTH else text[: TEXT_WIDTH - 1] + "…"


def describe_entry(entry: Mapping[str, Any]) -> str | None:
    """An audit entry as one timeline line; None for the ones a person need not see live."""
    after = entry.get("after") or {}
    action = entry["action"]
    if action == "policy-published":
        return (
            f"policy served: mode {after.get('mode')}, max_age {after.get('max_age')}, "
            f"mx {', '.join(after.get('mx', []))} (id {after.get('policy_id')})"
        )
    if action == "dns-record-changed":
        return f"DNS {after.get('name')}: {after.get('content')}"
    if action in ("promoted", "blocked", "demoted", "failed", "drift-healed"):
        word = {"drift-healed": "HEALED"}.get(action, action.upper())
        return f"{word}: {after.get('summary', '')}"
    return None  # the API's own entries: the ticketing system's lines already say it


def describe_reports(organization: str, counted: Sequence[tuple[DailyReport, bool]]) -> str:
    """`Giant Mail: 4 report(s) for 11-30, sessions ok/failed: a.example 4/0, ...`."""
    days = sorted({f"{report.day:%m-%d}" for report, _ in counted})
    parts = []
    for report, was_counted in sorted(counted, key=lambda c: (c[0].domain, c[0].day)):
        ok, failed = report.sessions()
        parts.append(f"{report.domain} {ok}/{failed}" + ("" if was_counted else " (NOT COUNTED)"))
    return (
        f"{organization}: {len(counted)} report(s) for {', '.join(days)}, sessions ok/failed: "
        + ", ".join(parts)
    )


def print_summary(
    out: TextIO,
    views: Mapping[str, DomainView],
    problems: Sequence[str],
    status_page: Path | None,
    days: float,
) -> None:
    header = ("DOMAIN", "SERVED MODE", "STATE", "_mta-sts ID", "POLICY MX", "WHY")
    rows = [header] + [_row(v) for v in views.values()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    out.write("\n")
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
    out.write(f"\n{days:.1f} simulated days.")
    if status_page is not None:
        out.write(f" Status page: {status_page}\n")
    if problems:
        out.write("\nNOT AS EXPECTED:\n" + "".join(f"  - {p}\n" for p in problems))
    else:
        out.write("\nEvery outcome as expected.\n")
    out.flush()


def _row(view: DomainView) -> tuple[str, ...]:
    why = view.reason if view.served_mode != "enforce" else ""
    if view.id_before_mx_change and view.dns_id != view.id_before_mx_change:
        why = f"MX change healed: id {view.id_before_mx_change} -> {view.dns_id}"
    return (
        view.domain,
        view.served_mode or "-",
        view.state,
        view.dns_id or "-",
        ", ".join(view.served_mx) or "-",
        why[:90],
    )
