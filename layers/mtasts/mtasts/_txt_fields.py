"""The tag-list grammar shared by `_mta-sts` (RFC 8461 §3.1) and `_smtp._tls` (RFC 8460 §3).

Both records are `version *(field-delim field) [field-delim]` with `field-delim = *WSP ";" *WSP`,
a case-sensitive version literal first, and extension fields `name=value`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

WSP = " \t"
EXTENSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}")
# Printable ASCII except "=", ";" and space (RFC 8461 sts-ext-value, RFC 8460 tlsrpt-ext-value).
EXTENSION_VALUE = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+")


class RawField(msgspec.Struct, frozen=True):
    name: str
    value: str


class SplitRecord(msgspec.Struct, frozen=True):
    fields: tuple[RawField, ...]
    problems: tuple[str, ...]  # grammar violations (errors)
    trailing_whitespace: bool  # tolerated, but outside the grammar


def join_txt_strings(strings: Iterable[str | bytes]) -> str:
    """One TXT record split into several character-strings is joined without spaces."""
    return "".join(s.decode("latin-1") if isinstance(s, bytes) else s for s in strings)


def starts_with_version(text: str, version: str) -> bool:
    """True when the record announces `version` (followed by its end, a delimiter or WSP).

    Such records are counted even if the rest is broken, so that a broken record next to a good
    one is reported as two records instead of being silently ignored.
    """
    if not text.startswith(version):
        return False
    rest = text[len(version) :]
    return rest == "" or rest[0] in WSP + ";"


def split_record(text: str, version: str) -> SplitRecord:
    """Split a record that starts with `version` into its fields, noting grammar violations."""
    problems: list[str] = []
    if not text.isascii():
        problems.append("contains non-ASCII characters")
    pieces = text[len(version) :].split(";")
    if pieces[0].strip(WSP):
        problems.append(f"{version!r} must be followed by ';', not {pieces[0].strip(WSP)!r}")
    fields: list[RawField] = []
    trailing_whitespace = False
    body = pieces[1:]
    for index, piece in enumerate(body):
        stripped = piece.strip(WSP)
        is_last = index == len(body) - 1
        if not stripped:
            if not is_last:
                problems.append("empty field between two ';'")
            continue
        if is_last and piece != piece.rstrip(WSP):
            trailing_whitespace = True
        name, sep, value = stripped.partition("=")
        if not sep:
            problems.append(f"field {stripped!r} is not name=value")
            continue
        fields.append(RawField(name, value))
    return SplitRecord(tuple(fields), tuple(problems), trailing_whitespace)


def valid_extension(name: str, value: str) -> bool:
    return bool(EXTENSION_NAME.fullmatch(name) and EXTENSION_VALUE.fullmatch(value))


def collect_extensions(
    fields: Iterable[RawField], known: set[str]
) -> tuple[dict[str, str], list[str]]:
    """Extension fields (first occurrence wins) and the ones that break the grammar."""
    extensions: dict[str, str] = {}
    bad: list[str] = []
    for raw in fields:
        if raw.name in known:
            continue
        if not valid_extension(raw.name, raw.value):
            bad.append(f"{raw.name}={raw.value}")
            continue
        extensions.setdefault(raw.name, raw.value)
    return extensions, bad
