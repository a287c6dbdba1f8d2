"""What can go wrong talking to Cloudflare, as typed errors with messages meant for a person.

The split that matters to callers is transient (try again later: rate limits, server errors,
timeouts, a deployment still running) versus permanent (retrying will not help: a bad token,
a refused request, a domain that is not in the account). The SDK's own exceptions never leave
the adapters: `mtasts.cloudflare_client.translate` turns them into these. No SDK import here.
"""

from __future__ import annotations

from mtasts.errors import MtaStsError


class CloudflareError(MtaStsError):
    """Cloudflare did not do what was asked. `status` is the HTTP status when there was an
    answer; `codes` are Cloudflare's error codes from its answer."""

    def __init__(self, message: str, *, status: int | None = None, codes: tuple[int, ...] = ()):
        super().__init__(message)
        self.status = status
        self.codes = codes


class CloudflareTransientError(CloudflareError):
    """Worth retrying later: rate limited (429), a server error (5xx), a timeout or a lost
    connection, each after the SDK's own retries; or a wait that ran out."""


class CloudflarePermanentError(CloudflareError):
    """Retrying the same request will not help until something is changed by a person."""


class CloudflareAuthError(CloudflarePermanentError):
    """The API token is invalid, expired, or lacks a permission (401, 403)."""


class CloudflareNotFoundError(CloudflarePermanentError):
    """The thing named does not exist (404)."""


class CloudflareConflictError(CloudflarePermanentError):
    """The change would clash with something a person put there (say, an A record at
    `mta-sts.<domain>` where the policy host needs a CNAME)."""


class ZoneNotFoundError(CloudflarePermanentError):
    """The domain is not a zone of this Cloudflare account, so its DNS cannot be managed."""


class CloudflareResponseError(CloudflarePermanentError):
    """Cloudflare answered with something the SDK's models do not accept."""


class DeploymentFailedError(CloudflarePermanentError):
    """Pages reports that the deployment failed or was cancelled."""


class DeploymentTimeoutError(CloudflareTransientError):
    """The deployment had not finished when the wait ran out; it may still finish."""
