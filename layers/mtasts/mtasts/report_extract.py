"""Getting report JSON out of whatever arrives: a whole email (any MIME layout, base64 or not),
bare JSON, gzip or zip, nested up to a few levels; small reports whole, giant ones streamed.

The bomb rule: every byte of decompressed output is charged to one budget per input, which is
the smaller of `limit` (REPORT_SIZE_LIMIT_MIB, 64 MiB by default) and MAX_RATIO times the input's
own size, with FREE_ALLOWANCE always allowed. A report's JSON compresses 10-30 times (a big
report is big because its failure details are many distinct combinations of addresses and host
names), a decompression bomb a thousand times: so a bomb is refused after about MAX_RATIO times
its size, however high `limit` is set for giant reporters. Decompression goes in bounded steps
that never produce more than the budget has left (plus one byte, to detect the overrun),
whatever the headers claim.

Memory: `load_reports` holds each document whole, so its memory follows the budget (the CLI and
tests). `read_reports` and `read_mail` (ingestion) hold a document whole only up to `in_memory`
bytes; a bigger one is read as a stream of bounded chunks by `report_stream`, which keeps only
what the daily counts need, so memory stays bounded whatever the budget.
"""

from __future__ import annotations

import email.policy
import io
import itertools
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from email.message import EmailMessage, Message
from email.parser import Parser
from typing import Final

import msgspec

from mtasts.errors import ReportError, ReportTooLargeError
from mtasts.report import TlsReport
from mtasts.report_stream import ReportSource, StreamedReport, read_stream

DEFAULT_DECOMPRESSED_LIMIT: Final = 64 * 1024 * 1024
MAX_RATIO: Final = 100
FREE_ALLOWANCE: Final = 8 * 1024 * 1024
IN_MEMORY_LIMIT: Final = 8 * 1024 * 1024  # the largest JSON `read_reports` holds whole
MAX_NESTING: Final = 3
_STEP = 256 * 1024  # read zip members at most this much per call, so memory tracks the budget
# Inflate at most this much per call: zlib joins a call's output blocks into one bytes object
# before returning it, so this bounds that transient copy on top of the budget.
_INFLATE_STEP = 8 * 1024 * 1024
_STREAM_STEP: Final = 1024 * 1024  # the chunks of a streamed document
# zlib copies the input it has not read yet into `unconsumed_tail` on every call, so it is fed
# at most this much at a time, not a whole 20 MB attachment.
_INPUT_PIECE: Final = 64 * 1024
_MAX_NESTED_ZIP: Final = 64 * 1024 * 1024  # a zip found inside gzip must be held whole
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_UTF8_BOM = b"\xef\xbb\xbf"
_REPORT_SUFFIXES = (".json", ".json.gz", ".gz", ".zip", ".gzip")
_REPORT_TYPES = frozenset(
    {
        "application/tlsrpt+gzip",
        "application/tlsrpt+json",
        "application/gzip",
        "application/x-gzip",
        "application/json",
        "application/zip",
        "application/x-zip-compressed",
    }
)


def _allowance(size: int, limit: int) -> int:
    """How many decompressed bytes an input of `size` bytes may give: see the bomb rule."""
    return min(limit, max(FREE_ALLOWANCE, MAX_RATIO * size))


def _too_large() -> ReportTooLargeError:
    return ReportTooLargeError(
        "report exceeds the decompressed size limit (possible decompression bomb)"
    )


class _Budget(msgspec.Struct):
    remaining: int

    @classmethod
    def for_input(cls, size: int, limit: int) -> _Budget:
        return cls(_allowance(size, limit))

    def charge(self, size: int) -> None:
        self.remaining -= size
        if self.remaining < 0:
            raise _too_large()


class ReportMail(msgspec.Struct, frozen=True):
    """What a report email carried: its report attachments as received, and the RFC 8460 §5.3
    headers."""

    sources: tuple[ReportSource, ...]
    subject: str | None = None
    sender: str | None = None
    report_domain: str | None = None
    report_submitter: str | None = None


class LoadedReports(msgspec.Struct, frozen=True, gc=False):
    """Every report of an input, held whole, and the mail they came in (if it was one). Frozen,
    it cannot be made to hold itself, so the collector need not track it."""

    reports: tuple[TlsReport, ...]
    mail: ReportMail | None = None


class ReadReports(msgspec.Struct, frozen=True):
    """Reports read for ingestion: small ones whole, giant ones as their tallies."""

    reports: tuple[TlsReport | StreamedReport, ...]
    mail: ReportMail | None = None


class _Document(msgspec.Struct):
    chunks: Iterator[bytes]  # its JSON bytes (with the UTF-8 BOM, if the sender wrote one)
    source: ReportSource  # the attachment (or body) it came from


# --- sniffing and decompression -----------------------------------------------------------------


def _looks_like_json(data: bytes) -> bool:
    head = data[:64].removeprefix(_UTF8_BOM).lstrip(b" \t\r\n")
    return head[:1] in (b"{", b"[")


def _is_file(data: bytes) -> bool:
    """Report file contents (not a whole email), told by content."""
    return data[:2] == _GZIP_MAGIC or data[:4] == _ZIP_MAGIC or _looks_like_json(data)


def _inflate(chunks: Iterable[bytes], budget: _Budget, step: int) -> Iterator[bytes]:
    """Every gzip member in `chunks`, decompressed in steps of at most `step` bytes, each
    charged to `budget` before it is yielded. A step may produce at most the budget left plus
    one byte (which proves the overrun). The ISIZE trailer is not consulted: it is
    attacker-controlled, modulo 2**32, and garbage in a truncated file."""
    pieces = _pieces(chunks)
    pending: bytes | memoryview = _at_least(b"", pieces, 2)
    while pending[:2] == _GZIP_MAGIC:
        decompressor = zlib.decompressobj(wbits=31)
        while not decompressor.eof:
            try:
                out = decompressor.decompress(pending, min(budget.remaining, step - 1) + 1)
            except zlib.error as exc:
                raise ReportError(f"corrupt gzip data ({exc})") from None
            budget.charge(len(out))
            pending = decompressor.unconsumed_tail
            if out:
                yield out
            elif not pending and not decompressor.eof:  # it needs more input
                pending = next(pieces, b"")
                if not pending:
                    raise ReportError("truncated gzip data (the stream ends early)")
        # Anything after the last member that is not another member is ignored (padding).
        pending = _at_least(decompressor.unused_data, pieces, 2)


def _pieces(chunks: Iterable[bytes]) -> Iterator[bytes | memoryview]:
    for chunk in chunks:
        if len(chunk) <= _INPUT_PIECE:
            yield chunk
            continue
        view = memoryview(chunk)
        for start in range(0, len(view), _INPUT_PIECE):
            yield view[start : start + _INPUT_PIECE]


def _at_least(head: bytes, pieces: Iterator[bytes | memoryview], size: int) -> bytes:
    """`head` topped up from `pieces` to `size` bytes, where there are that many."""
    while len(head) < size and (piece := next(pieces, None)) is not None:
        head += piece
    return head


def gunzip(data: bytes, budget: _Budget) -> bytes:
    """Decompress every gzip member in `data` whole, charging each step to `budget`."""
    if data[:2] != _GZIP_MAGIC:
        raise ReportError("not gzip data")
    return b"".join(_inflate((data,), budget, _INFLATE_STEP))


def _gunzip_in_one_step(data: bytes, allowed: int) -> bytes | None:
    """A single gzip member inflated by one call, as most attachments are, if it gives at most
    `allowed` bytes; None for anything else (several members, a broken one, too big for a
    step), which `_inflate` then reads and words any error of."""
    decompressor = zlib.decompressobj(wbits=31)
    try:
        document = decompressor.decompress(data, min(allowed, _INFLATE_STEP - 1) + 1)
    except zlib.error:
        return None
    if not decompressor.eof or decompressor.unused_data:
        return None
    if len(document) > allowed:
        raise _too_large()
    return document


def _peek(chunks: Iterator[bytes], size: int = 64) -> tuple[bytes, Iterator[bytes]]:
    """The first `size` bytes (fewer if that is all), and every chunk again from the start."""
    held: list[bytes] = []
    length = 0
    for chunk in chunks:
        held.append(chunk)
        length += len(chunk)
        if length >= size:
            break
    head = held[0][:size] if len(held) == 1 else b"".join(held)[:size]
    return head, itertools.chain(held, chunks)


def _whole(chunks: Iterator[bytes], cap: int) -> bytes:
    """The chunks joined. One chunk is already held; several may add up to at most `cap`."""
    held = list(itertools.islice(chunks, 1))
    size = sum(map(len, held))
    for chunk in chunks:
        held.append(chunk)
        size += len(chunk)
        if size > cap:
            raise ReportTooLargeError(
                f"a zip archive inside a compressed file is over {cap >> 20} MiB"
            )
    return held[0] if len(held) == 1 else b"".join(held)


def _documents(
    chunks: Iterator[bytes],
    name: str | None,
    source: ReportSource,
    budget: _Budget,
    depth: int,
    *,
    strict: bool,
    step: int,
) -> Iterator[_Document]:
    """Report documents in `chunks` (sniffed by content, not by name or declared type), each
    to be read before the next is asked for."""
    if depth > MAX_NESTING:
        raise ReportError(f"archives nested more than {MAX_NESTING} deep")
    head, chunks = _peek(chunks)
    if head[:2] == _GZIP_MAGIC:
        inner = name.removesuffix(".gz").removesuffix(".gzip") if name else None
        inflated = _inflate(chunks, budget, step)
        yield from _documents(inflated, inner, source, budget, depth + 1, strict=True, step=step)
    elif head[:4] == _ZIP_MAGIC:
        yield from _unzip(_whole(chunks, _MAX_NESTED_ZIP), source, budget, depth, step)
    elif _looks_like_json(head):
        yield _Document(chunks, source)
    else:
        # Read to the end (charged, not kept) before refusing or skipping it, so that a
        # decompression bomb is told as one, whatever its content.
        for _ in chunks:
            pass
        if strict:
            raise ReportError(f"{name or 'the attachment'} is neither JSON, gzip nor zip")


def _unzip(
    data: bytes, source: ReportSource, budget: _Budget, depth: int, step: int
) -> Iterator[_Document]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ReportError(f"corrupt zip archive ({exc})") from None
    found = False
    with archive:
        for member in archive.infolist():
            if member.is_dir():
                continue
            chunks = _member_chunks(archive, member, budget)
            for document in _documents(
                chunks, member.filename, source, budget, depth + 1, strict=False, step=step
            ):
                found = True
                yield document
    if not found:
        raise ReportError("zip archive holds no JSON report")


def _member_chunks(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: _Budget
) -> Iterator[bytes]:
    """One member in steps; its declared size is not trusted."""
    try:
        with archive.open(member) as stream:
            while chunk := stream.read(_STEP):
                budget.charge(len(chunk))
                yield chunk
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, zlib.error, EOFError) as exc:
        raise ReportError(f"cannot read {member.filename!r} from the zip archive ({exc})") from None


# --- email --------------------------------------------------------------------------------------


def _is_report_part(part: Message) -> bool:
    if part.is_multipart():
        return False
    filename = (part.get_filename() or "").lower()
    return part.get_content_type() in _REPORT_TYPES or filename.endswith(_REPORT_SUFFIXES)


def _header(message: EmailMessage, name: str) -> str | None:
    try:
        value = message.get(name)
    except (ValueError, IndexError):  # malformed header that the parser cannot fold
        return None
    return str(value).strip() if value is not None else None


def _parse_message(raw: bytes) -> EmailMessage:
    """What `email.message_from_bytes` gives, read through a text stream: it copies a 30 MB
    mail into a StringIO at four bytes per character, this does not (newline="" keeps line
    ends as they are, as it does)."""
    text = io.TextIOWrapper(io.BytesIO(raw), encoding="ascii", errors="surrogateescape", newline="")
    return Parser(policy=email.policy.default).parse(text)


def extract_mail(raw: bytes) -> ReportMail:
    """The report attachments of a whole email, as received, with the RFC 8460 §5.3 headers;
    ReportError if it carries none."""
    message = _parse_message(raw)
    sources: list[ReportSource] = []
    for part in message.walk():
        if not _is_report_part(part):
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and payload:
            sources.append(ReportSource(payload, part.get_filename()))
    if not sources:
        raise ReportError("no TLS-RPT report found in the message")
    return ReportMail(
        sources=tuple(sources),
        subject=_header(message, "Subject"),
        sender=_header(message, "From"),
        report_domain=_header(message, "TLS-Report-Domain"),
        report_submitter=_header(message, "TLS-Report-Submitter"),
    )


# --- entry points -------------------------------------------------------------------------------


def load_reports(
    data: bytes, name: str | None = None, limit: int = DEFAULT_DECOMPRESSED_LIMIT
) -> LoadedReports:
    """Every report in `data`: an email, JSON, gzip or zip, told apart by content; each held
    whole (the budget bounds the memory)."""
    if data.startswith(_GZIP_MAGIC):  # the common case, without the general machinery
        document = _gunzip_in_one_step(data, _allowance(len(data), limit))
        if document is not None:
            if document.startswith(b"{"):
                return LoadedReports((TlsReport.from_json(document),))
            if _looks_like_json(document):
                return LoadedReports((TlsReport.from_json(document.removeprefix(_UTF8_BOM)),))
    budget = _Budget.for_input(len(data), limit)
    sources, mail, depth = _sources(data, name)
    documents = _all_documents(sources, budget, depth, _INFLATE_STEP)
    reports = (TlsReport.from_json(b"".join(d.chunks).removeprefix(_UTF8_BOM)) for d in documents)
    return LoadedReports(tuple(reports), mail)


def read_reports(
    data: bytes,
    name: str | None = None,
    limit: int = DEFAULT_DECOMPRESSED_LIMIT,
    in_memory: int = IN_MEMORY_LIMIT,
) -> ReadReports:
    """As `load_reports`, but a document of more than `in_memory` bytes of JSON is streamed
    and comes back as a `StreamedReport`: memory stays bounded whatever the budget."""
    budget = _Budget.for_input(len(data), limit)
    sources, mail, depth = _sources(data, name)
    documents = _all_documents(sources, budget, depth, _STREAM_STEP)
    return ReadReports(tuple(_read(document, in_memory) for document in documents), mail)


def read_mail(
    raw: bytes, limit: int = DEFAULT_DECOMPRESSED_LIMIT, in_memory: int = IN_MEMORY_LIMIT
) -> ReadReports:
    """`read_reports` for what is known to be a whole email."""
    budget = _Budget.for_input(len(raw), limit)
    mail = extract_mail(raw)
    documents = _all_documents(mail.sources, budget, 1, _STREAM_STEP)
    return ReadReports(tuple(_read(document, in_memory) for document in documents), mail)


def _sources(
    data: bytes, name: str | None
) -> tuple[tuple[ReportSource, ...], ReportMail | None, int]:
    """What to read in `data`, the mail it came in (if it is one), and the nesting depth."""
    if _is_file(data):
        return (ReportSource(data, name),), None, 0
    mail = extract_mail(data)
    return mail.sources, mail, 1


def _all_documents(
    sources: Iterable[ReportSource], budget: _Budget, depth: int, step: int
) -> Iterator[_Document]:
    for source in sources:
        yield from _documents(
            iter((source.payload,)), source.name, source, budget, depth, strict=True, step=step
        )


def _read(document: _Document, in_memory: int) -> TlsReport | StreamedReport:
    """The document whole if it has at most `in_memory` bytes, else streamed."""
    held: list[bytes] = []
    size = 0
    chunks = _slices(document.chunks, _STREAM_STEP)
    for chunk in chunks:
        held.append(chunk)
        size += len(chunk)
        if size > in_memory:
            return read_stream(itertools.chain(_drain(held), chunks), document.source)
    return TlsReport.from_json(b"".join(held).removeprefix(_UTF8_BOM))


def _slices(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The chunks cut to at most `size` bytes (a bare JSON attachment arrives as one)."""
    for chunk in chunks:
        if len(chunk) <= size:
            yield chunk
        else:
            yield from (chunk[start : start + size] for start in range(0, len(chunk), size))


def _drain(held: list[bytes]) -> Iterator[bytes]:
    """The held chunks, each let go of once read."""
    while held:
        yield held.pop(0)
