"""Every error the library raises on purpose. Callers catch `MtaStsError` and nothing wider.

The API layer maps these classes to HTTP statuses in one place; the CLI maps them to exit codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mtasts.findings import Finding
    from mtasts.ports import FetchedPolicy


class MtaStsError(Exception):
    """Base class: a clear, one-line message meant for a person, never a traceback."""


class SettingsError(MtaStsError):
    """The environment does not hold a usable configuration."""


class InvalidTaskInputError(MtaStsError):
    """The event does not describe a task the product can run; retrying cannot help."""


class ParseError(MtaStsError):
    """Text that was read but does not follow its grammar; carries the findings that say why."""

    def __init__(self, message: str, findings: tuple[Finding, ...] = ()) -> None:
        super().__init__(message)
        self.findings = findings


class PolicyParseError(ParseError):
    """The policy file (RFC 8461 §3.2) is invalid."""


class RecordParseError(ParseError):
    """A `_mta-sts` or `_smtp._tls` TXT record is invalid."""


class ReportError(MtaStsError):
    """A TLS-RPT report (RFC 8460 §4) could not be extracted or is invalid."""


class ReportTooLargeError(ReportError):
    """Decompressing would exceed the configured cap (a decompression bomb, or just huge)."""


class PolicyIdError(MtaStsError):
    """A policy id that breaks RFC 8461 §3.1 (1 to 32 letters and digits)."""


class UnsafePolicyError(MtaStsError):
    """Publishing this policy could bounce mail: live MX hosts it does not cover (RFC 8461 §4.1),
    or live DNS that could not be read to prove it safe. Nothing was published."""

    def __init__(self, message: str, uncovered: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.uncovered = uncovered


class StoreConflictError(MtaStsError):
    """Another change to the same domain landed first; reread and retry."""


class DnsLookupError(MtaStsError):
    """DNS did not answer (timeout, SERVFAIL, refused): nothing is known about the records."""


class PolicyNotServedError(MtaStsError):
    """The policy host kept serving something other than the expected policy, so the id must
    not be announced yet."""

    def __init__(self, message: str, domain: str, last: FetchedPolicy, attempts: int) -> None:
        super().__init__(message)
        self.domain = domain
        self.last = last
        self.attempts = attempts


class DomainExistsError(MtaStsError):
    """The domain is already managed; change it instead of onboarding it again."""


class DomainNotFoundError(MtaStsError):
    """The domain is not managed by the product."""


class NotificationError(MtaStsError):
    """SNS or EventBridge did not accept a workflow notification; worth retrying."""


class CallbackError(MtaStsError):
    """A status callback cannot be signed (the signing secret is unreadable); the callback is
    recorded as failed, the workflow goes on."""


class CallbackSignatureError(MtaStsError):
    """A received callback's signature header is missing, malformed, too old or does not match
    the body and secret: the receiver must drop the request."""


class ApiInputError(MtaStsError):
    """A request the API understood but refuses (400): a bad domain name, an unreadable report.
    `errors` holds field-level messages (`{"field", "message"}`) for the problem document."""

    def __init__(self, message: str, errors: tuple[dict[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.errors = errors


class InvalidTransitionError(MtaStsError):
    """The change asked for does not fit where the domain stands (promoting a removed domain,
    approving one that does not wait for approval); nothing was changed."""


class PayloadTooLargeError(MtaStsError):
    """A request body larger than the API accepts; refused before it is read."""


class WorkflowError(MtaStsError):
    """Step Functions did not start or stop a workflow execution; worth retrying."""


class ClockSpecError(MtaStsError, ValueError):
    """A compressed clock's description (the `SIMULATED_CLOCK` setting) cannot be used."""


class UnsupportedMediaTypeError(ApiInputError):
    """A body in a media type the endpoint does not read (415)."""
