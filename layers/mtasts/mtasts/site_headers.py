"""The `_headers` rules the policy host applies to the policy file.

RFC 8461 §3.3 says the media type should be `text/plain`; a short cache lifetime keeps an edge
cache from serving an old policy after a change, because the id is only rotated once the new
bytes are seen, and a long-cached old file would hold the rotation back (and mislead a sender that
refetches through that cache).
"""

from __future__ import annotations

from mtasts.ports import POLICY_PATH

POLICY_CACHE_SECONDS = 300


def policy_headers(cache_seconds: int = POLICY_CACHE_SECONDS) -> bytes:
    lines = [
        f"/{POLICY_PATH}",
        "  Content-Type: text/plain; charset=utf-8",
        f"  Cache-Control: public, max-age={cache_seconds}",
        "  X-Content-Type-Options: nosniff",
    ]
    return ("\n".join(lines) + "\n").encode("ascii")
