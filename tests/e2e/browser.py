"""Headless Chromium (Debian's `chromium`) as a test instrument: render a page as a browser
does and read back what its layout produced, and take a screenshot.

The page under test has no scripts (the API serves it with a CSP forbidding them); the test
works on a copy with one measuring script appended, which records the drawn size of every
chart element in the DOM that `--dump-dom` prints once the page has loaded.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

CHROMIUM: Final = "chromium"
TIMEOUT: Final = 60.0
# Flags for a closed network and a root user: no sandbox, no GPU, nothing fetched in the
# background (the machine refuses those connections), a fresh profile per run.
FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
_MEASURE: Final = """
<script>
addEventListener("load", () => {
  const box = (e) => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
  const domains = [...document.querySelectorAll("section.domain")].map((s) => ({
    domain: s.dataset.domain,
    mode: s.querySelector(".mode").textContent,
    timeline: [...s.querySelectorAll("svg.timeline rect.mode-block")].map(box),
    bars: [...s.querySelectorAll("svg.sessions rect")]
      .map((r) => [r.getAttribute("class"), ...box(r)]),
    findings: [...s.querySelectorAll("tr.finding code")].map((c) => c.textContent),
  }));
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify({domains, width: document.body.scrollWidth});
  document.body.append(out);
});
</script>
"""


def chromium() -> str | None:
    return shutil.which(CHROMIUM)


@dataclass(frozen=True, slots=True)
class Rendered:
    measured: dict[str, Any]
    screenshot: Path


def render(page: Path, work_dir: Path) -> Rendered:
    measured_copy = work_dir / "measured.html"
    measured_copy.write_text(page.read_text(encoding="utf-8") + _MEASURE, encoding="utf-8")
    dom = _run(work_dir, "--dump-dom", "--virtual-time-budget=5000", measured_copy.as_uri())
    start = dom.index('<pre id="measured">') + len('<pre id="measured">')
    text = dom[start : dom.index("</pre>", start)]
    screenshot = work_dir / "status-page.png"
    _run(work_dir, f"--screenshot={screenshot}", "--window-size=1280,2400", page.as_uri())
    return Rendered(json.loads(_unescape(text)), screenshot)


def _run(work_dir: Path, *arguments: str) -> str:
    binary = chromium()
    assert binary is not None, "chromium is not installed"
    profile = work_dir / f"profile-{len(list(work_dir.glob('profile-*')))}"
    completed = subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def _unescape(text: str) -> str:
    return html.unescape(text)
