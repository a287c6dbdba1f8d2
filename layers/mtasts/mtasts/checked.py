"""The result of reading something with diagnostics: the value (if usable) and every finding."""

from __future__ import annotations

import msgspec

from mtasts.errors import ParseError
from mtasts.findings import Finding, Severity


class Checked[T](msgspec.Struct, frozen=True):
    """`value` is None exactly when some finding is an error."""

    value: T | None
    findings: tuple[Finding, ...] = ()

    @property
    def valid(self) -> bool:
        return self.value is not None

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    def unwrap(self, error_class: type[ParseError], what: str) -> T:
        """The value, or `error_class` whose message is the first error's message."""
        if self.value is None:
            first = self.errors[0].message if self.errors else "invalid"
            raise error_class(f"{what}: {first}", self.findings)
        return self.value


def checked[T](value: T, findings: list[Finding]) -> Checked[T]:
    """Keep `value` only when no finding is an error."""
    if any(f.severity is Severity.ERROR for f in findings):
        return Checked(None, tuple(findings))
    return Checked(value, tuple(findings))
