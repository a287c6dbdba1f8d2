"""Getting report JSON out of whatever arrives: a whole email (any MIME layout, base64 or not),
bare JSON, gzip or zip, nested up to a few levels.

Every byte of decompressed output is charged to one budget per input (default 64 MiB), and
decompression goes in bounded steps that never produce more than the budget has left (plus one
byte, to detect the overrun), so a decompression bomb is refused after at most the budget's worth
of memory, whatever its headers claim.
"""

from __future__ import annotations

import email
import email.policy
import io
import zipfile
import zlib
from dataclasses import dataclass, field
from email.message import EmailMessage, Message

from mtasts.errors import ReportError, ReportTooLargeError
from mtasts.report import TlsReport

DEFAULT_DECOMPRESSED_LIMIT = 64 * 1024 * 1024
MAX_NESTING = 3
_STEP = 256 * 1024  # read zip members at most this much per call, so memory tracks the budget
# Inflate at most this much per call: zlib joins a call's output blocks into one bytes object
# before returning it, so this bounds that transient copy on top of the budget.
_INFLATE_STEP = 8 * 1024 * 1024
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


@dataclass(slots=True)
class _Budget:
    remaining: int

    def charge(self, size: int) -> None:
        self.remaining -= size
        if self.remaining < 0:
            raise ReportTooLargeError(
                "report exceeds the decompressed size limit (possible decompression bomb)"
            )


@dataclass(frozen=True, slots=True)
class ReportDocument:
    """The JSON bytes of one report and where they came from."""

    data: bytes
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ReportMail:
    """What a report email carried: RFC 8460 §5.3 headers and the documents found."""

    documents: tuple[ReportDocument, ...]
    subject: str | None = None
    sender: str | None = None
    report_domain: str | None = None
    report_submitter: str | None = None


@dataclass(frozen=True, slots=True)
class LoadedReports:
    reports: tuple[TlsReport, ...]
    mail: ReportMail | None = field(default=None)


# --- sniffing and decompression -----------------------------------------------------------------


def _looks_like_json(data: bytes) -> bool:
    head = data[:64].removeprefix(_UTF8_BOM).lstrip(b" \t\r\n")
    return head[:1] in (b"{", b"[")


def gunzip(data: bytes, budget: _Budget) -> bytes:
    """Decompress every gzip member in `data`, charging each step's output to `budget`.

    A step may produce at most the budget left plus one byte (which proves the overrun), and at
    most `_INFLATE_STEP`. The ISIZE trailer is not consulted: it is attacker-controlled, modulo
    2**32, and garbage in a truncated file; the budget bounds memory whatever the trailer says."""
    if data[:2] != _GZIP_MAGIC:
        raise ReportError("not gzip data")
    chunks: list[bytes] = []
    rest = data
    while rest[:2] == _GZIP_MAGIC:
        decompressor = zlib.decompressobj(wbits=31)
        pending = rest
        try:
            while not decompressor.eof:
                chunk = decompressor.decompress(
                    pending, min(budget.remaining, _INFLATE_STEP - 1) + 1
                )
                if not chunk and not decompressor.eof:
                    raise ReportError("truncated gzip data (the stream ends early)")
                budget.charge(len(chunk))
                chunks.append(chunk)
                pending = decompressor.unconsumed_tail
        except zlib.error as exc:
            raise ReportError(f"corrupt gzip data ({exc})") from None
        rest = decompressor.unused_data
    # One step holds a whole report of up to 8 MiB: no copy, which matters for small reports.
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _unzip(data: bytes, budget: _Budget, depth: int) -> list[ReportDocument]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ReportError(f"corrupt zip archive ({exc})") from None
    documents: list[ReportDocument] = []
    with archive:
        for member in archive.infolist():
            if member.is_dir():
                continue
            content = _read_member(archive, member, budget)
            documents += _documents(content, member.filename, budget, depth + 1, strict=False)
    if not documents:
        raise ReportError("zip archive holds no JSON report")
    return documents


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: _Budget) -> bytes:
    """Read one member in steps; its declared size is not trusted."""
    out = bytearray()
    try:
        with archive.open(member) as stream:
            while chunk := stream.read(_STEP):
                budget.charge(len(chunk))
                out += chunk
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, zlib.error, EOFError) as exc:
        raise ReportError(f"cannot read {member.filename!r} from the zip archive ({exc})") from None
    return bytes(out)


def _documents(
    data: bytes, name: str | None, budget: _Budget, depth: int, *, strict: bool
) -> list[ReportDocument]:
    """Report documents inside `data` (sniffed by content, not by name or declared type)."""
    if depth > MAX_NESTING:
        raise ReportError(f"archives nested more than {MAX_NESTING} deep")
    if data[:2] == _GZIP_MAGIC:
        inner = name.removesuffix(".gz").removesuffix(".gzip") if name else None
        return _documents(gunzip(data, budget), inner, budget, depth + 1, strict=True)
    if data[:4] == _ZIP_MAGIC:
        return _unzip(data, budget, depth)
    if _looks_like_json(data):
        return [ReportDocument(data.removeprefix(_UTF8_BOM), name)]
    if strict:
        raise ReportError(f"{name or 'the attachment'} is neither JSON, gzip nor zip")
    return []


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


def extract_mail(raw: bytes, limit: int = DEFAULT_DECOMPRESSED_LIMIT) -> ReportMail:
    """Every report document in a whole email, with the RFC 8460 §5.3 headers."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    budget = _Budget(limit)
    documents: list[ReportDocument] = []
    for part in message.walk():
        if not _is_report_part(part):
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and payload:
            documents += _documents(payload, part.get_filename(), budget, 1, strict=True)
    if not documents:
        raise ReportError("no TLS-RPT report found in the message")
    return ReportMail(
        documents=tuple(documents),
        subject=_header(message, "Subject"),
        sender=_header(message, "From"),
        report_domain=_header(message, "TLS-Report-Domain"),
        report_submitter=_header(message, "TLS-Report-Submitter"),
    )


# --- entry point --------------------------------------------------------------------------------


def load_reports(
    data: bytes, name: str | None = None, limit: int = DEFAULT_DECOMPRESSED_LIMIT
) -> LoadedReports:
    """Every report in `data`: an email, JSON, gzip or zip, told apart by content."""
    budget = _Budget(limit)
    if data[:2] == _GZIP_MAGIC or data[:4] == _ZIP_MAGIC or _looks_like_json(data):
        documents = _documents(data, name, budget, 0, strict=True)
        return LoadedReports(tuple(TlsReport.from_json(d.data) for d in documents))
    mail = extract_mail(data, limit)
    return LoadedReports(tuple(TlsReport.from_json(d.data) for d in mail.documents), mail)
