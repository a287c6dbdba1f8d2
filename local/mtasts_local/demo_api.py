"""The demo's ticketing system: a plain HTTP client of the product's API, holding only its URL
and key, and retrying a POST with the same `Idempotency-Key` as a careful caller does."""

from __future__ import annotations

import uuid
from typing import Any, Final

import httpx

TIMEOUT: Final = 60.0


class DemoError(Exception):
    """The demo cannot go on: the world or the API did something it cannot work with."""


class DemoApiError(DemoError):
    """The API answered something other than what the call expects."""


class TicketingClient:
    def __init__(self, base_url: str, api_key: str) -> None:
        self._http = httpx.Client(
            base_url=base_url, headers={"x-api-key": api_key}, timeout=TIMEOUT, trust_env=False
        )

    def close(self) -> None:
        self._http.close()

    def onboard(self, domain: str, window_days: int) -> dict[str, Any]:
        body = {"domain": domain, "window_days": window_days}
        key = {"Idempotency-Key": f"demo-onboard-{uuid.uuid4()}"}
        answer: dict[str, Any] = self._json(
            self._http.post("/domains", json=body, headers=key), 202
        )
        return answer

    def domains(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = self._json(self._http.get("/domains", params=params), 200)
            found += page["domains"]
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    def status(self, domain: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._json(self._http.get(f"/domains/{domain}"), 200)
        return answer

    def history(self, domain: str, limit: int = 50) -> list[dict[str, Any]]:
        answer = self._json(self._http.get(f"/domains/{domain}/history?limit={limit}"), 200)
        entries: list[dict[str, Any]] = answer["entries"]
        return entries

    def dashboard(self) -> str:
        response = self._http.get("/dashboard", params={"limit": 50})
        if response.status_code != 200 or not response.headers["content-type"].startswith(
            "text/html"
        ):
            raise DemoApiError(f"GET /dashboard answered {response.status_code}")
        return response.text

    @staticmethod
    def _json(response: httpx.Response, expected: int) -> Any:
        if response.status_code != expected:
            raise DemoApiError(
                f"{response.request.method} {response.request.url.path} answered "
                f"{response.status_code}: {response.text[:300]}"
            )
        return response.json()
