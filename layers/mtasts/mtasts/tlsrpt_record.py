"""The `_smtp._tls.<domain>` TXT record (RFC 8460 §3): select, parse with findings, render."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from mtasts._txt_fields import (
    WSP,
    collect_extensions,
    split_record,
    starts_with_version,
    valid_extension,
)
from mtasts.checked import Checked, checked
from mtasts.errors import RecordParseError
from mtasts.findings import Code, Finding, error, warning

VERSION = "v=TLSRPTv1"
SUPPORTED_SCHEMES = ("mailto", "https")
# RFC 3986 characters, minus "," and "!" which RFC 8460 requires to be percent-encoded.
URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@$&'()*+;=%]+")
MAILBOX = re.compile(r"[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?")


class TlsRptRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str = "TLSRPTv1"
    rua: list[str]
    extensions: dict[str, str] = Field(default_factory=dict)


def check_tlsrpt_record(text: str) -> Checked[TlsRptRecord]:
    """Parse one record's text (already joined) and say everything that is wrong with it."""
    if not starts_with_version(text, VERSION):
        message = f"record must start with {VERSION!r}: {text!r}"
        return Checked(None, (error(Code.TLSRPT_RECORD_INVALID, message),))
    split = split_record(text, VERSION)
    findings = [error(Code.TLSRPT_RECORD_INVALID, p) for p in split.problems]
    if split.trailing_whitespace:
        findings.append(
            warning(Code.TLSRPT_RECORD_INVALID, "trailing whitespace after the last field")
        )
    ruas = [f.value for f in split.fields if f.name == "rua"]
    extensions, bad = collect_extensions(split.fields, known={"rua"})
    findings += [error(Code.TLSRPT_RECORD_INVALID, f"malformed extension field {b!r}") for b in bad]
    if not ruas:
        findings.append(error(Code.TLSRPT_RUA_MISSING, "record has no rua= field"))
        return Checked(None, tuple(findings))
    if len(ruas) > 1:
        findings.append(error(Code.TLSRPT_RUA_DUPLICATE, f"record has {len(ruas)} rua= fields"))
    uris = split_rua(ruas[0])
    findings += rua_findings(uris)
    return checked(TlsRptRecord(rua=uris, extensions=extensions), findings)


def split_rua(value: str) -> list[str]:
    """`rua=` holds URIs separated by "," with optional whitespace around the comma."""
    return [uri.strip(WSP) for uri in value.split(",")]


def rua_findings(uris: Sequence[str]) -> list[Finding]:
    findings: list[Finding] = []
    usable = 0
    for uri in uris:
        problem = _uri_problem(uri)
        if problem is None:
            usable += 1
        elif problem.startswith("unsupported scheme"):
            findings.append(warning(Code.TLSRPT_RUA_UNSUPPORTED_SCHEME, f"{uri!r}: {problem}"))
        else:
            findings.append(error(Code.TLSRPT_RUA_INVALID, f"{uri!r}: {problem}"))
    if usable == 0 and not any(f.code is Code.TLSRPT_RUA_INVALID for f in findings):
        findings.append(error(Code.TLSRPT_RUA_INVALID, "no mailto: or https: destination"))
    return findings


def _uri_problem(uri: str) -> str | None:
    if not uri:
        return "empty URI"
    if "!" in uri or not URI_CHARS.fullmatch(uri):
        return 'not a URI (",", "!" and spaces must be percent-encoded)'
    scheme, _, rest = uri.partition(":")
    scheme = scheme.lower()
    if scheme == "mailto":
        address = rest.split("?", 1)[0]
        return None if MAILBOX.fullmatch(address) else "mailto: needs an address like a@b.example"
    if scheme == "https":
        parts = urlsplit(uri)
        return None if parts.hostname else "https: URI has no host"
    return f"unsupported scheme {scheme!r} (senders use only mailto: and https:)"


def select_tlsrpt_record(records: Iterable[str]) -> Checked[TlsRptRecord]:
    """Exactly one `v=TLSRPTv1` record, or there is no reporting (RFC 8460 §3)."""
    candidates = [r for r in records if starts_with_version(r, VERSION)]
    if not candidates:
        return Checked(None, (error(Code.TLSRPT_RECORD_MISSING, "no v=TLSRPTv1 TXT record"),))
    if len(candidates) > 1:
        message = f"{len(candidates)} v=TLSRPTv1 TXT records; senders send no reports"
        return Checked(None, (error(Code.TLSRPT_RECORD_MULTIPLE, message),))
    return check_tlsrpt_record(candidates[0])


def parse_tlsrpt_record(text: str) -> TlsRptRecord:
    return check_tlsrpt_record(text).unwrap(RecordParseError, "_smtp._tls record")


def render_tlsrpt_record(rua: Sequence[str], extensions: Mapping[str, str] | None = None) -> str:
    """The record text, e.g. `v=TLSRPTv1; rua=mailto:tlsrpt@example.com`."""
    problems = [f for f in rua_findings(list(rua)) if f.code is Code.TLSRPT_RUA_INVALID]
    if not rua or problems:
        detail = problems[0].message if problems else "no destination"
        raise RecordParseError(f"cannot render rua: {detail}", tuple(problems))
    parts = [VERSION, "rua=" + ",".join(rua)]
    for name, value in (extensions or {}).items():
        if name == "rua" or not valid_extension(name, value):
            raise RecordParseError(f"invalid extension field {name}={value!r}")
        parts.append(f"{name}={value}")
    return "; ".join(parts)
