"""Reading a report too big to hold: its JSON streamed through in bounded chunks, keeping only
what the daily counts need.

A giant reporter's report is mostly failure details: hundreds of megabytes once decompressed.
Everything else (organisation, id, date range, each policy and its summary: the envelope) is
copied aside as it streams by, with each `failure-details` array replaced by `[]`, and validated
at the end by `TlsReport.from_json`: the same rules as a small report. The failure details are
decoded a chunk's worth at a time by msgspec into `_Detail` structs (the decoder a small report
uses), added to their policy's `FailureTally` and dropped. Where msgspec refuses a batch, the
batch is judged by the rules of record (`details_by_the_rules`), as a small report's details are;
where the batch is not even JSON, details are read one by one. So a report is accepted, read and
refused alike whatever its size, and its first problem is worded as the rules word it.

Only the structure around the failure details is interpreted here (the report object, its
`policies` array, each result object and its `failure-details` key), strictly: every other byte
is either copied into the envelope or decoded as failure details, so a real JSON parser sees it.
A repeated key counts as it does in a small report, last one wins: a repeated `policies` or
`failure-details` starts its tallies afresh.

Memory is bounded by the chunk size plus the envelope, which may hold at most ENVELOPE_LIMIT
bytes (a real report's is kilobytes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any, Final

import msgspec
import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails, from_json

from mtasts.errors import ReportError, ReportTooLargeError
from mtasts.report import (
    DateRange,
    FailureTally,
    PolicyResult,
    ReportFields,
    TlsReport,
    _Detail,
    details_by_the_rules,
    report_error,
)

ENVELOPE_LIMIT: Final = 8 * 1024 * 1024
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_WHITESPACE: Final = re.compile(rb"[ \t\n\r]*")
_STRING: Final = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
# One token of a value whose end is sought: a string, a run of opening or of closing brackets,
# or a run of anything else.
_TOKEN: Final = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[{]++|[\]}]++|[^"\[\]{}]++', re.DOTALL)
_SCALAR_END: Final = re.compile(rb"[,\]}\s]")
_ARRAY_END: Final = re.compile(rb"\}[ \t\n\r]*\]")
_DETAILS: Final = msgspec.json.Decoder(list[_Detail])
# How many `}` from the window's end may be tried as the end of a batch: the last detail's own
# `}` is the first or second in a real report; a detail full of `}` is read one by one instead.
_GUESSES: Final = 16
# Field order of the rules' models, which orders their problems (the first one is reported).
_REPORT_ORDER: Final = {
    name: position
    for position, names in enumerate(("report-id", "organization-name", "contact-info"))
    for name in (names, names.replace("-", "_"))
}
_RESULT_ORDER: Final = {"policy": 0, "summary": 1}


class ReportSource(msgspec.Struct, frozen=True):
    """A report attachment, or a whole body, as received (still compressed): what a report too
    big to keep normalised is archived as."""

    payload: bytes
    name: str | None = None


class StreamedReport(msgspec.Struct, frozen=True):
    """A report read as a stream: its envelope (a `TlsReport` without the failure details that
    were streamed) and, per policy, what those details add up to."""

    envelope: TlsReport
    tallies: tuple[FailureTally, ...]  # one per policy of the envelope
    json_size: int  # bytes of JSON read
    source: ReportSource | None = None

    # Equal by what was read, wherever it came from: a struct compares every field and has no
    # per-field opt-out, so the source is left out here. Never hashed: its tallies are mutable.
    def __eq__(self, other: object) -> bool:
        if type(other) is not StreamedReport:
            return NotImplemented
        return (self.envelope, self.tallies, self.json_size) == (
            other.envelope,
            other.tallies,
            other.json_size,
        )

    def __ne__(self, other: object) -> bool:
        if type(other) is not StreamedReport:
            return NotImplemented
        return not self.__eq__(other)

    @property
    def report_id(self) -> str:
        return self.envelope.report_id

    @property
    def organization_name(self) -> str:
        return self.envelope.organization_name

    @property
    def contact_info(self) -> str | None:
        return self.envelope.contact_info

    @property
    def date_range(self) -> DateRange:
        return self.envelope.date_range

    def policy_tallies(self) -> list[tuple[PolicyResult, FailureTally]]:
        return list(zip(self.envelope.policies, self.tallies, strict=True))

    def summary(self) -> dict[str, Any]:
        """The normalised report as the archive keeps it: each policy's failure details as
        their tally (by result type, by receiving MX host), in JSON types."""
        dumped = self.envelope.model_dump(mode="json")
        for result, tally in zip(dumped["policies"], self.tallies, strict=True):
            del result["failure_details"]
            result["failure_tally"] = {
                "details": tally.details,
                "by_result_type": tally.by_result_type,
                "by_receiving_mx_hostname": [[host, n] for host, n in tally.by_mx.items()],
            }
        return dumped


class _BadJson(Exception):
    """The stream is not JSON; the message says where."""


def read_stream(chunks: Iterable[bytes], source: ReportSource | None = None) -> StreamedReport:
    """Read one report's JSON from `chunks`; ReportError with a one-line reason if invalid."""
    reader = _Reader(_without_bom(iter(chunks)))
    try:
        reader.document()
    except _BadJson as problem:
        raise ReportError(f"invalid report: not valid JSON ({problem})") from None
    return reader.report(source)


def _without_bom(chunks: Iterator[bytes]) -> Iterator[bytes]:
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= len(_UTF8_BOM):
            break
    yield head.removeprefix(_UTF8_BOM)
    yield from chunks


class _Reader:
    """Walks the document, copying the envelope aside and tallying the failure details."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._data = b""  # the window: `_data[_pos:]` is unread
        self._pos = 0
        self._dropped = 0  # bytes dropped from the front of the window so far
        self._ended = False  # no chunk is left
        self.envelope = bytearray()
        self.tallies: dict[int, FailureTally] = {}  # by policy index, streamed arrays only
        self.problems: dict[int, ErrorDetails] = {}  # the first bad detail, by policy index

    # --- the window --------------------------------------------------------------------------

    def _more(self) -> bool:
        """Add the next chunk to the window (dropping what was read); False at the end."""
        for chunk in self._chunks:
            if chunk:
                self._dropped += self._pos
                self._data = self._data[self._pos :] + chunk
                self._pos = 0
                return True
        self._ended = True
        return False

    def _need_more(self, what: str) -> None:
        """Read on because `what` is not whole in the window; refuse a giant or unfinished one."""
        if len(self._data) - self._pos > ENVELOPE_LIMIT:
            raise ReportTooLargeError(f"{what} is over {ENVELOPE_LIMIT >> 20} MiB")
        if not self._more():
            raise _BadJson(f"the report ends inside {what} (byte {self.offset})")

    @property
    def offset(self) -> int:
        return self._dropped + self._pos

    def _peek(self) -> int | None:
        """The next byte that is not whitespace, or None at the end."""
        while True:
            self._pos = _skip_whitespace(self._data, self._pos)
            if self._pos < len(self._data):
                return self._data[self._pos]
            if not self._more():
                return None

    def _expect(self, allowed: bytes) -> int:
        found = self._peek()
        if found is None or found not in allowed:
            where = "the end" if found is None else repr(chr(found))
            expected = " or ".join(repr(chr(c)) for c in allowed)
            raise _BadJson(f"expected {expected} at byte {self.offset}, found {where}")
        self._pos += 1
        return found

    def _emit(self, data: bytes) -> None:
        self.envelope += data
        if len(self.envelope) > ENVELOPE_LIMIT:
            raise ReportTooLargeError(
                f"the report without its failure details is over {ENVELOPE_LIMIT >> 20} MiB"
            )

    # --- the structure -----------------------------------------------------------------------

    def document(self) -> None:
        if self._peek() == ord("{"):
            self._object(self._report_member)
        else:
            self._emit(self._value())  # not a report object: the rules will say so
        if self._peek() is not None:
            raise _BadJson(f"data after the report at byte {self.offset}")

    def _object(self, member: Callable[[str], None]) -> None:
        """An object, copied; `member(key)` reads each value after its key and colon."""
        self._expect(b"{")
        self._emit(b"{")
        if self._peek() == ord("}"):
            self._pos += 1
            self._emit(b"}")
            return
        while True:
            key = self._key()
            self._expect(b":")
            self._emit(b":")
            member(key)
            if self._expect(b",}") == ord("}"):
                self._emit(b"}")
                return
            self._emit(b",")

    def _key(self) -> str:
        if self._peek() != ord('"'):
            raise _BadJson(f"expected a key at byte {self.offset}")
        while (match := _STRING.match(self._data, self._pos)) is None:
            self._need_more("a key")
        raw = match.group()
        self._pos = match.end()
        self._emit(raw)
        try:
            key: str = orjson.loads(raw) if b"\\" in raw else raw[1:-1].decode()
        except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _BadJson(f"bad key before byte {self.offset} ({exc})") from None
        return key

    def _report_member(self, key: str) -> None:
        if key == "policies":
            self.tallies.clear()  # a repeated key: the last one counts
            self.problems.clear()
            if self._peek() == ord("["):
                self._policies()
                return
        self._emit(self._value())

    def _policies(self) -> None:
        self._expect(b"[")
        self._emit(b"[")
        if self._peek() == ord("]"):
            self._pos += 1
            self._emit(b"]")
            return
        index = 0
        while True:
            if self._peek() == ord("{"):
                self._object(partial(self._result_member, index))
            else:
                self._emit(self._value())
            index += 1
            if self._expect(b",]") == ord("]"):
                self._emit(b"]")
                return
            self._emit(b",")

    def _result_member(self, index: int, key: str) -> None:
        if key == "failure-details":
            self.tallies.pop(index, None)  # a repeated key: the last one counts
            self.problems.pop(index, None)
            if self._peek() == ord("["):
                self._emit(b"[]")
                self.tallies[index] = self._details(index)
                return
        self._emit(self._value())

    def _value(self) -> bytes:
        """The bytes of the value at the window's start, which a real parser checks later."""
        self._peek()
        end = self._value_end("a value")
        value, self._pos = self._data[self._pos : end], end
        return value

    def _value_end(self, what: str) -> int:
        """The end of the value at the window's start, reading on until it is whole."""
        scan = _ValueScan(self._pos)
        while (end := scan.end(self._data, self._ended)) is None:
            if self._ended:
                raise _BadJson(f"the report ends inside {what} (byte {self.offset})")
            if len(self._data) - self._pos > ENVELOPE_LIMIT:
                raise ReportTooLargeError(f"{what} is over {ENVELOPE_LIMIT >> 20} MiB")
            dropped = self._pos
            self._more()
            scan.shift(dropped - self._pos)
        return end

    # --- the failure details -----------------------------------------------------------------

    def _details(self, policy: int) -> FailureTally:
        """Tally a `failure-details` array: in batches while msgspec takes them; one detail
        at a time (linear, whatever the batches held) up to where a batch was refused."""
        self._expect(b"[")
        tally, count, careful_until = FailureTally(), 0, 0
        if self._peek() == ord("]"):
            self._pos += 1
            return tally
        while True:
            batch = self._batch_end() if self.offset >= careful_until else None
            if batch is not None:
                taken = self._tally_batch(tally, policy, count, self._data[self._pos : batch])
                if taken is None:
                    careful_until = self._dropped + batch
                    continue
                count, self._pos = count + taken, batch
            else:
                end = self._value_end("a failure detail")
                count += self._tally_one(tally, policy, count, self._data[self._pos : end])
                self._pos = end
            if self._expect(b",]") == ord("]"):
                return tally
            self._peek()  # the next detail may start in the next chunk

    def _batch_end(self) -> int | None:
        """Where the window's whole details seem to end: before the first `}` + `]` (the end
        of the array), else after the last `}` + `,`. A guess (a `}` may be inside a
        string): the decoders check it."""
        data, start = self._data, self._pos
        end = _ARRAY_END.search(data, start)
        if end is not None:
            return end.start() + 1
        cut = len(data)
        for _ in range(_GUESSES):
            cut = data.rfind(b"}", start, cut)
            if cut == -1:
                break
            after = _skip_whitespace(data, cut + 1)
            if after < len(data) and data[after] == ord(","):
                return cut + 1
        return None

    def _tally_batch(
        self, tally: FailureTally, policy: int, first: int, batch: bytes
    ) -> int | None:
        """Add the details in `batch` (the `first`-th on) to `tally`; how many there were, or
        None if the batch is not a JSON array's worth of values (a wrong guess at its end)."""
        try:
            details = _DETAILS.decode(b"[" + batch + b"]")
        except (msgspec.DecodeError, ValueError, RecursionError):
            try:
                parsed = from_json(b"[" + batch + b"]", allow_inf_nan=False)
            except ValueError:
                return None
            self._judge(tally, policy, first, parsed)
            return len(parsed)
        if policy not in self.problems:
            tally.add(details)
        return len(details)

    def _tally_one(self, tally: FailureTally, policy: int, first: int, detail: bytes) -> int:
        try:
            parsed = from_json(detail, allow_inf_nan=False)
        except ValueError as exc:
            raise _BadJson(f"a failure detail before byte {self.offset}: {exc}") from None
        self._judge(tally, policy, first, [parsed])
        return 1

    def _judge(self, tally: FailureTally, policy: int, first: int, details: list[Any]) -> None:
        """Details msgspec refused, judged by the rules as a small report's are; the first
        problem in a policy is kept with where it is."""
        try:
            valid = details_by_the_rules(details)
        except ValidationError as exc:
            if policy not in self.problems:
                problem = exc.errors(include_url=False, include_input=False)[0]
                index, *rest = problem["loc"]
                location = ("policies", policy, "failure-details", first + int(index), *rest)
                self.problems[policy] = {**problem, "loc": tuple(location)}
            return
        if policy not in self.problems:
            tally.add(valid)

    # --- the result ----------------------------------------------------------------------------

    def report(self, source: ReportSource | None) -> StreamedReport:
        """The envelope validated by the rules, and the tallies; else the first problem."""
        problems = [
            problem
            for policy, problem in sorted(self.problems.items())
            if policy in self.tallies  # else a later `failure-details` replaced that array
        ]
        try:
            envelope = TlsReport.from_json(bytes(self.envelope))
        except ReportError as error:
            envelope_problems = _envelope_problems(bytes(self.envelope))
            if not problems or envelope_problems is None:
                raise
            raise report_error(sorted([*envelope_problems, *problems], key=_order)) from error
        if problems:
            raise report_error(problems)
        tallies = tuple(
            self.tallies.get(index) or result.tally()
            for index, result in enumerate(envelope.policies)
        )
        return StreamedReport(envelope, tallies, self.offset, source)


def _envelope_problems(envelope: bytes) -> list[ErrorDetails] | None:
    """Every problem the rules find with the envelope; None if it is not even JSON (which is
    then the report's first problem, whatever its details hold)."""
    try:
        ReportFields.model_validate(from_json(envelope, allow_inf_nan=False))
    except ValidationError as exc:
        return exc.errors(include_url=False, include_input=False)
    except ValueError:
        return None
    return []


def _order(problem: ErrorDetails) -> tuple[int, ...]:
    """Where the rules list `problem`: in the order of their models' fields."""
    location = problem["loc"]
    if not location:
        return (-1,)
    if location[0] != "policies":
        return (_REPORT_ORDER.get(str(location[0]), 3),)
    if len(location) < 3:
        return (4, int(location[1]) if len(location) > 1 else -1, -1)
    return (4, int(location[1]), _RESULT_ORDER.get(str(location[2]), 2))


def _skip_whitespace(data: bytes, position: int) -> int:
    return _WHITESPACE.match(data, position).end()  # type: ignore[union-attr]


class _ValueScan:
    """Finds where a JSON value ends, resuming where it stopped when more data comes. Brackets
    are only counted, not matched: a real parser checks the value later."""

    __slots__ = ("_depth", "_position", "_start")

    def __init__(self, start: int) -> None:
        self._start = self._position = start
        self._depth = 0

    def shift(self, dropped: int) -> None:
        """The window dropped `dropped` bytes from its front."""
        self._start -= dropped
        self._position -= dropped

    def end(self, data: bytes, complete: bool) -> int | None:
        """The value's end in `data`, or None if it goes on past it. `complete`: nothing
        follows `data`, so a number or literal may end with it."""
        start = self._start
        if start >= len(data):
            return None
        if data[start] not in b'"[{':
            match = _SCALAR_END.search(data, start)
            if match is not None:
                return match.start()
            return len(data) if complete else None
        depth, position = self._depth, self._position
        while (token := _TOKEN.match(data, position)) is not None:
            first = data[position]
            if first == 0x22:  # a string: at depth 0, the value itself
                position = token.end()
                if depth == 0:
                    return position
            elif first in b"[{":
                depth += token.end() - position
                position = token.end()
            elif first in b"]}":
                if token.end() - position >= depth:
                    return position + depth
                depth -= token.end() - position
                position = token.end()
            else:
                position = token.end()
        self._depth, self._position = depth, position
        return None
