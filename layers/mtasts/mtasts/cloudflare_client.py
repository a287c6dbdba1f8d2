"""The Cloudflare SDK client the adapters are given, and the one place its exceptions become
the library's typed errors (`mtasts.cloudflare_errors`).

Nothing here runs at import time: a handler builds its client from settings when it needs one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import cloudflare
from cloudflare import Cloudflare

from mtasts.cloudflare_errors import (
    CloudflareAuthError,
    CloudflareError,
    CloudflareNotFoundError,
    CloudflarePermanentError,
    CloudflareResponseError,
    CloudflareTransientError,
)

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
DEFAULT_MAX_RETRIES = 2
DEFAULT_TIMEOUT = 30.0  # seconds per request; a Lambda has minutes, not hours
_RETRIED_STATUSES = frozenset({408, 409, 429})  # plus 5xx: what the SDK itself retries


def make_client(
    api_token: str,
    *,
    base_url: str | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    timeout: float = DEFAULT_TIMEOUT,
) -> Cloudflare:
    """A client that authenticates with `api_token` only and checks every answer against the
    SDK's models, so a malformed answer fails loudly instead of being half-read."""
    client = Cloudflare(
        api_token=api_token,
        base_url=base_url or DEFAULT_BASE_URL,
        max_retries=max_retries,
        timeout=timeout,
        _strict_response_validation=True,
    )
    # The SDK fills unset credentials from CLOUDFLARE_API_KEY / CLOUDFLARE_EMAIL and then
    # prefers them over the token: a stray variable in a Lambda's environment would silently
    # change who we act as. Settings hand us the token; nothing else may authenticate.
    client.api_key = None
    client.api_email = None
    client.user_service_key = None
    return client


@contextmanager
def calling(action: str) -> Iterator[None]:
    """Run SDK calls, turning their exceptions into typed errors that say what was being done
    (`action` reads after "while", e.g. "listing TXT records at _mta-sts.example.com")."""
    try:
        yield
    except cloudflare.APIError as error:
        raise translate(error, action) from error


def translate(error: cloudflare.APIError, action: str) -> CloudflareError:
    """The typed error for an SDK exception, with a message a person can act on."""
    if isinstance(error, cloudflare.APITimeoutError):
        return CloudflareTransientError(
            f"Cloudflare did not answer in time while {action}, even after retrying; "
            "try again later."
        )
    if isinstance(error, cloudflare.APIConnectionError):
        return CloudflareTransientError(
            f"Could not reach Cloudflare while {action}, even after retrying; try again later."
        )
    if isinstance(error, cloudflare.APIResponseValidationError):
        return CloudflareResponseError(
            f"Cloudflare's answer while {action} did not have the expected shape "
            f"({error.message}); the API may have changed.",
            status=error.status_code,
        )
    if isinstance(error, cloudflare.APIStatusError):
        return _status_error(error, action)
    return CloudflarePermanentError(f"Cloudflare request failed while {action}: {error.message}")


def _status_error(error: cloudflare.APIStatusError, action: str) -> CloudflareError:
    status = error.status_code
    codes = tuple(e.code for e in error.errors if e.code is not None)
    detail = _detail(error)
    if status == 429:
        return CloudflareTransientError(
            f"Cloudflare is rate-limiting this API token (HTTP 429) while {action}; "
            "try again in a few minutes.",
            status=status,
            codes=codes,
        )
    if status >= 500 or status in _RETRIED_STATUSES:
        return CloudflareTransientError(
            f"Cloudflare failed while {action} (HTTP {status}{detail}), even after retrying; "
            "try again later.",
            status=status,
            codes=codes,
        )
    if status in (401, 403):
        return CloudflareAuthError(
            f"Cloudflare refused the API token while {action} (HTTP {status}{detail}); check "
            "that the token is valid and may edit DNS and Pages in this account.",
            status=status,
            codes=codes,
        )
    kind = CloudflareNotFoundError if status == 404 else CloudflarePermanentError
    return kind(
        f"Cloudflare refused the request while {action} (HTTP {status}{detail}).",
        status=status,
        codes=codes,
    )


def _detail(error: cloudflare.APIStatusError) -> str:
    """`: [code] message; ...` from Cloudflare's error list, or nothing."""
    parts = [f"[{e.code}] {e.message}" for e in error.errors if e.message]
    return f": {'; '.join(parts)}" if parts else ""
