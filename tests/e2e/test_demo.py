"""The whole lifecycle, end to end: `make demo`'s scenario on the local world (the real template in
moto, the real state machine, the real handlers, the Cloudflare stand-in, real DNS, HTTPS and
SMTP), then its status page in a real browser.

One run of the scenario (about a minute) serves every test here.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from mtasts_local.demo import DemoResult, DemoSettings, run_demo
from mtasts_local.demo_timeline import print_summary
from tests.e2e.browser import chromium, render

CLEAN = ("hosted.example", "selfhosted.example", "moving.example")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    out = io.StringIO()
    return run_demo(DemoSettings(state_dir=tmp_path_factory.mktemp("demo")), out)


def test_every_outcome_the_demo_promises_is_reached(demo: DemoResult) -> None:
    assert demo.problems == []
    assert demo.ok


def test_the_clean_domains_are_served_in_enforce_with_the_id_the_product_published(
    demo: DemoResult,
) -> None:
    for domain in CLEAN:
        view = demo.views[domain]
        assert (view.served_mode, view.state) == ("enforce", "enforce"), view
        assert view.dns_id == view.product_id
        assert view.validator_ok is True


def test_the_expired_certificate_holds_its_domain_in_testing_and_says_why(
    demo: DemoResult,
) -> None:
    view = demo.views["expired.example"]
    assert view.served_mode == "testing"
    assert view.state == "blocked"
    assert "certificate-expired" in view.reason
    blocked = [line for line in demo.timeline if "expired.example" in line and "BLOCKED" in line]
    assert blocked, demo.timeline


def test_the_backup_mx_is_healed_into_the_enforce_policy_under_a_new_id(demo: DemoResult) -> None:
    view = demo.views["moving.example"]
    assert "mx2.moving.example" in view.served_mx
    assert view.id_before_mx_change is not None
    assert view.dns_id != view.id_before_mx_change
    lines = "\n".join(demo.timeline)
    assert lines.index("admin adds a backup MX") < lines.index("HEALED")


def test_the_timeline_shows_the_evidence_arriving(demo: DemoResult) -> None:
    reports = [line for line in demo.timeline if " reports " in line]
    organisations = {"Giant Mail", "Blue Corp", "Purple Mail"}
    assert organisations <= {org for org in organisations for line in reports if org in line}
    assert not any("NOT COUNTED" in line for line in reports)
    assert sum("PROMOTED" in line for line in demo.timeline) == len(CLEAN)
    assert any("scheduled run" in line for line in demo.timeline)


def test_the_summary_table_lists_every_domain(demo: DemoResult) -> None:
    out = io.StringIO()
    print_summary(out, demo.views, demo.problems, demo.status_page, demo.days)
    text = out.getvalue()
    for domain in (*CLEAN, "expired.example"):
        assert domain in text
    assert "Every outcome as expected." in text


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed (.ci/run does)")
def test_the_status_page_renders_its_charts_in_headless_chromium(
    demo: DemoResult, tmp_path: Path
) -> None:
    assert demo.status_page is not None
    rendered = render(demo.status_page, tmp_path)
    domains = {d["domain"]: d for d in rendered.measured["domains"]}
    assert set(domains) == {*CLEAN, "expired.example"}
    for name in CLEAN:
        page = domains[name]
        assert page["mode"] == "enforce"
        assert len(page["timeline"]) >= 2  # testing, then enforce: both drawn
        assert all(width > 0 and height > 0 for width, height in page["timeline"])
        drawn_ok = [height for kind, _, height in page["bars"] if kind == "ok" and height > 0]
        assert len(drawn_ok) >= 3  # a bar for each day the senders reported
    expired = domains["expired.example"]
    assert any(kind == "failed" and height > 0 for kind, _, height in expired["bars"])
    assert "mx-certificate-expired" in expired["findings"]
    width, height = _png_size(rendered.screenshot)
    assert (width, height) == (1280, 2400)
    assert rendered.screenshot.stat().st_size > 20_000  # a page of charts, not a blank one


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height
