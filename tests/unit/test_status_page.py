"""The status page: self-contained, escaped, one section per domain with both charts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from html.parser import HTMLParser

from mtasts.findings import Code, Finding, Severity
from mtasts.status_page import DaySessions, DomainStatus, ModeChange, render_status_page

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def page() -> str:
    return render_status_page(
        [
            DomainStatus(
                domain="selfhosted.example",
                mode="enforce",
                state="enforce",
                reason=None,
                modes=[
                    ModeChange(datetime(2026, 11, 1, tzinfo=UTC), "testing", "20261101000000"),
                    ModeChange(datetime(2026, 11, 15, tzinfo=UTC), "enforce", "20261115000000"),
                ],
                days=[DaySessions(date(2026, 11, d), 100 + d, d % 3) for d in range(1, 15)],
            ),
            DomainStatus(
                domain="expired.example",
                mode="testing",
                state="blocked",
                reason="senders reported 3 certificate-expired <b>failures</b>",
                findings=[
                    Finding(
                        code=Code.MX_CERTIFICATE_EXPIRED,
                        severity=Severity.ERROR,
                        message="certificate not accepted: certificate has expired",
                        subject="mail.expired.example",
                        hint="Renew this MX host's certificate now.",
                    )
                ],
            ),
        ],
        NOW,
    )


def test_the_page_is_self_contained_and_escapes_what_it_is_given() -> None:
    html = page()
    tags = Tags()
    tags.feed(html)
    assert not [t for t, a in tags.tags if t in ("script", "link", "img", "iframe")]
    assert not [a for _, a in tags.tags if any((v or "").startswith("http") for v in a.values())]
    assert "<b>failures</b>" not in html and "&lt;b&gt;failures&lt;/b&gt;" in html


def test_each_domain_has_its_mode_timeline_sessions_chart_and_findings() -> None:
    tags = Tags()
    tags.feed(page())
    sections = [a["data-domain"] for t, a in tags.tags if t == "section"]
    assert sections == ["selfhosted.example", "expired.example"]
    assert sum(1 for t, a in tags.tags if t == "rect" and a.get("class") == "mode-block") == 2
    assert sum(1 for t, a in tags.tags if t == "rect" and a.get("class") == "ok") == 14
    assert sum(1 for t, a in tags.tags if t == "tr" and a.get("class") == "finding error") == 1
    html = page()
    assert "No reports received yet." in html and "No findings" in html


def test_an_empty_fleet_says_so() -> None:
    assert "No managed domains yet." in render_status_page([], NOW)


def test_a_next_page_link_is_given_only_when_there_are_more_domains() -> None:
    assert 'rel="next"' not in page()
    more = render_status_page([], NOW, next_page='?limit=20&cursor=a"b')
    assert '<a rel="next" href="?limit=20&amp;cursor=a&quot;b">' in more
