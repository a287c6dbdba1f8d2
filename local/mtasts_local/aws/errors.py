"""Every error the local world's AWS side raises on purpose."""

from __future__ import annotations


class AwsWorldError(Exception):
    """Base class: a one-line message that says what to fix."""


class MotoWorldError(AwsWorldError):
    """moto could not be started, configured, reset or stopped as asked."""


class TemplateError(AwsWorldError):
    """The template cannot be read, transformed, resolved or created in moto."""


class UnknownResourceTypeError(TemplateError):
    """A resource type the world neither creates nor names as unmodelled (with its reason)."""


class LambdaRunnerError(AwsWorldError):
    """The Lambda runner cannot be installed, or was asked to run a function it cannot."""


class HandlerLoadError(AwsWorldError):
    """A handler could not be imported or found; carries the error type Lambda reports."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
