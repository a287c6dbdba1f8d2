"""GET /dashboard on the local world: the status page through the API Gateway and the real
handler, with the key, as HTML that allows no script."""

from __future__ import annotations

import httpx

from mtasts_local.drivers.api_gateway import LocalApiGateway
from tests.integration.test_api_world import api, gateway, onboard  # noqa: F401 - fixtures

__all__ = ["api", "gateway"]


def test_the_dashboard_needs_the_key(gateway: LocalApiGateway) -> None:  # noqa: F811
    with httpx.Client(base_url=gateway.url, timeout=30) as anonymous:
        assert anonymous.get("/dashboard").status_code == 403


def test_the_dashboard_is_the_status_page_of_the_managed_domains(api: httpx.Client) -> None:  # noqa: F811
    assert onboard(api, "selfhosted.example").status_code == 202
    assert onboard(api, "hosted.example").status_code == 202

    page = api.get("/dashboard")

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src" not in page.headers["content-security-policy"]
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert html.index('data-domain="hosted.example"') < html.index(
        'data-domain="selfhosted.example"'
    )
    assert "<script" not in html


def test_the_dashboard_pages_through_the_fleet(api: httpx.Client) -> None:  # noqa: F811
    for domain in ("hosted.example", "selfhosted.example", "moving.example"):
        assert onboard(api, domain).status_code == 202

    first = api.get("/dashboard", params={"limit": 2})
    assert first.text.count('<section class="domain"') == 2
    assert 'rel="next"' in first.text
    start = first.text.index('href="', first.text.index('rel="next"')) + len('href="')
    link = first.text[start : first.text.index('"', start)].replace("&amp;", "&")
    second = api.get("/dashboard" + link)
    assert second.text.count('<section class="domain"') == 1
    assert 'data-domain="selfhosted.example"' in second.text
    assert 'rel="next"' not in second.text
    assert api.get("/dashboard", params={"limit": 0}).status_code == 422
