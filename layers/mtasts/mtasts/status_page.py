"""The status page: one self-contained HTML document (no scripts, no external files) showing, per
domain, its mode over time, its daily successful and failed sessions as a chart, and the
findings of its last validation. Written by the demo and served by the API at `/dashboard`.

Charts are inline SVG drawn here, so the page renders the same in a mail client, a browser
without network and a headless test. Everything from outside is escaped. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from html import escape

import msgspec

from mtasts.findings import Finding

CHART_WIDTH, CHART_HEIGHT, BAR_GAP = 560, 120, 2
MODE_COLOURS = {"none": "#9ca3af", "testing": "#f59e0b", "enforce": "#16a34a"}
OK_COLOUR, FAILED_COLOUR = "#60a5fa", "#dc2626"


class ModeChange(msgspec.Struct, frozen=True):
    at: datetime
    mode: str  # none | testing | enforce
    policy_id: str


class DaySessions(msgspec.Struct, frozen=True):
    day: date
    successful: int
    failed: int


class DomainStatus(msgspec.Struct, frozen=True):
    domain: str
    mode: str
    state: str  # the lifecycle state (testing, enforce, blocked, ...)
    reason: str | None
    modes: Sequence[ModeChange] = ()
    days: Sequence[DaySessions] = ()
    findings: Sequence[Finding] = msgspec.field(default_factory=tuple)


def render_status_page(
    domains: Sequence[DomainStatus], generated_at: datetime, next_page: str | None = None
) -> str:
    """The page; `next_page` is the link to the fleet's next domains when there are more."""
    sections = "\n".join(_domain_section(d, generated_at) for d in domains)
    generated = escape(f"{len(domains)} domain(s), generated {generated_at:%Y-%m-%d %H:%M UTC}")
    more = (
        f'<nav><a rel="next" href="{escape(next_page)}">Next domains</a></nav>' if next_page else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>MTA-STS autopilot status</title>
<style>{_STYLE}</style>
</head>
<body>
<header><h1>MTA-STS autopilot</h1>
<p class="generated">{generated}</p>
</header>
<main>
{sections or '<p class="empty">No managed domains yet.</p>'}
{more}
</main>
</body>
</html>
"""


def _domain_section(status: DomainStatus, now: datetime) -> str:
    reason = (
        f'<p class="reason reason-{escape(status.state)}">{escape(status.reason)}</p>'
        if status.reason
        else ""
    )
    mode = escape(status.mode)
    return f"""<section class="domain" data-domain="{escape(status.domain)}">
<h2>{escape(status.domain)} <span class="mode mode-{mode}">{mode}</span>
<span class="state">{escape(status.state)}</span></h2>
{reason}
<h3>Mode over time</h3>
{_mode_timeline(status.modes, now)}
<h3>Daily sessions (TLS-RPT)</h3>
{_sessions_chart(status.days)}
<h3>Findings</h3>
{_findings(status.findings)}
</section>"""


def _mode_timeline(changes: Sequence[ModeChange], now: datetime) -> str:
    """Each mode as a band as long as it lasted, from the first publication to now."""
    if not changes:
        return '<p class="empty">No policy published yet.</p>'
    start = changes[0].at
    span = max((now - start).total_seconds(), 1.0)
    ends = [c.at for c in changes[1:]] + [now]
    blocks = []
    for change, end in zip(changes, ends, strict=True):
        x = CHART_WIDTH * (change.at - start).total_seconds() / span
        width = max(CHART_WIDTH * (end - change.at).total_seconds() / span, 1.0)
        colour = MODE_COLOURS.get(change.mode, "#6b7280")
        label = f"{change.mode} from {change.at:%Y-%m-%d %H:%M} (id {change.policy_id})"
        blocks.append(
            f'<rect class="mode-block" x="{x:.1f}" y="0" width="{width:.1f}" '
            f'height="24" fill="{colour}"><title>{escape(label)}</title></rect>'
        )
    return (
        f'<svg class="timeline" role="img" aria-label="mode over time" '
        f'width="{CHART_WIDTH}" height="24" viewBox="0 0 {CHART_WIDTH} 24">{"".join(blocks)}</svg>'
        f'<p class="legend">{start:%Y-%m-%d} to {now:%Y-%m-%d}: '
        + ", ".join(f"{escape(c.mode)} from {c.at:%Y-%m-%d}" for c in changes)
        + "</p>"
    )


def _sessions_chart(days: Sequence[DaySessions]) -> str:
    if not days:
        return '<p class="empty">No reports received yet.</p>'
    top = max(max(d.successful + d.failed for d in days), 1)
    width = CHART_WIDTH / len(days)
    bars = []
    for index, day in enumerate(days):
        x = index * width + BAR_GAP / 2
        ok_height = CHART_HEIGHT * day.successful / top
        failed_height = CHART_HEIGHT * day.failed / top
        label = f"{day.day}: {day.successful} successful, {day.failed} failed"
        bars.append(
            f'<g class="day"><title>{escape(label)}</title>'
            f'<rect class="ok" x="{x:.1f}" y="{CHART_HEIGHT - ok_height:.1f}" '
            f'width="{width - BAR_GAP:.1f}" height="{ok_height:.1f}" fill="{OK_COLOUR}"/>'
            f'<rect class="failed" x="{x:.1f}" y="{CHART_HEIGHT - ok_height - failed_height:.1f}" '
            f'width="{width - BAR_GAP:.1f}" height="{failed_height:.1f}" fill="{FAILED_COLOUR}"/>'
            "</g>"
        )
    return (
        f'<svg class="sessions" role="img" aria-label="daily sessions" width="{CHART_WIDTH}" '
        f'height="{CHART_HEIGHT}" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}">{"".join(bars)}</svg>'
        f'<p class="legend">{days[0].day} to {days[-1].day}: '
        f'<span class="key ok">successful</span> <span class="key failed">failed</span> '
        f"(peak {top} sessions a day)</p>"
    )


def _findings(findings: Sequence[Finding]) -> str:
    if not findings:
        return '<p class="clean">No findings: a strict sender sees nothing wrong.</p>'
    rows = "".join(
        f'<tr class="finding {escape(f.severity.value)}"><td>{escape(f.severity.value)}</td>'
        f"<td><code>{escape(f.code.value)}</code></td><td>{escape(f.message)}"
        + (f'<br><span class="hint">{escape(f.hint)}</span>' if f.hint else "")
        + "</td></tr>"
        for f in findings
    )
    return f'<table class="findings"><tbody>{rows}</tbody></table>'


_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#111827;background:#f9fafb}
header{background:#111827;color:#f9fafb;padding:1rem 2rem}h1{margin:0;font-size:1.4rem}
.generated{margin:.25rem 0 0;color:#d1d5db}main{padding:1rem 2rem;display:grid;gap:1rem}
.domain{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:1rem 1.5rem}
h2{margin:0 0 .5rem;font-size:1.2rem}h3{font-size:.95rem;margin:1rem 0 .25rem;color:#374151}
.mode{font-size:.8rem;padding:.1rem .5rem;border-radius:999px;color:#fff;background:#6b7280}
.mode-enforce{background:#16a34a}.mode-testing{background:#f59e0b}.mode-none{background:#9ca3af}
.state{font-size:.8rem;color:#6b7280;margin-left:.5rem}.reason{margin:.25rem 0;color:#92400e}
.reason-enforce,.reason-testing,.reason-promoting{color:#374151}
.legend{font-size:.8rem;color:#6b7280}.key.ok{color:#2563eb}.key.failed{color:#dc2626}
.findings{border-collapse:collapse;width:100%}.findings td{border-top:1px solid #e5e7eb;
padding:.3rem .5rem;vertical-align:top}.finding.error td:first-child{color:#dc2626}
.finding.warning td:first-child{color:#b45309}.hint{color:#4b5563;font-size:.85rem}
.clean{color:#166534}.empty{color:#6b7280}
"""
