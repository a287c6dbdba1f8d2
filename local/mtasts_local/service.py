"""What every running part of the local world shares: `start()` and `stop()`, and use as a
context manager that stops it however the block ends."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Service:
    """Subclasses define `start` (returning self) and `stop` (idempotent)."""

    __slots__ = ()

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
