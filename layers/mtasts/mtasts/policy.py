"""The MTA-STS policy file (RFC 8461 §3.2): parse with findings, render, match MX hosts (§4.1)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mtasts.checked import Checked
from mtasts.errors import PolicyParseError
from mtasts.findings import Code, Finding, error, has_errors, info, warning

MAX_AGE_LIMIT = 31_557_600  # one year, the RFC's maximum
POLICY_SIZE_LIMIT = 64 * 1024  # what senders are told to fetch at most (§3.3)
SHORT_ENFORCE_MAX_AGE = 86_400
KNOWN_FIELDS = ("version", "mode", "max_age", "mx")

_FIELD_LINE = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.\-]{0,31}):[ \t]*(.*?)[ \t]*")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # CTLs except HTAB, which is WSP
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?", re.IGNORECASE)
_MAX_AGE = re.compile(r"[0-9]{1,10}")


class Mode(StrEnum):
    ENFORCE = "enforce"
    TESTING = "testing"
    NONE = "none"


class Policy(BaseModel):
    """A valid policy. Construct it through `parse_policy`/`build_policy` to get typed errors."""

    model_config = ConfigDict(frozen=True)

    version: Literal["STSv1"] = "STSv1"
    mode: Mode
    max_age: int = Field(ge=0, le=MAX_AGE_LIMIT)
    mx: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _mx_rules(self) -> Self:
        if self.mode is not Mode.NONE and not self.mx:
            raise ValueError(f"mode {self.mode.value} needs at least one mx")
        for pattern in self.mx:
            problem = mx_pattern_problem(pattern)
            if problem:
                raise ValueError(problem)
        return self

    def match(self, host: str) -> str | None:
        """The first `mx` pattern that `host` matches, or None."""
        return next((p for p in self.mx if mx_matches(p, host)), None)

    def render(self) -> str:
        return render_policy(self)

    def hash(self) -> str:
        return policy_hash(self)


# --- MX patterns (§3.2 grammar, §4.1 matching) -------------------------------------------------


def mx_pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is not `["*."] Domain` in A-labels, or None when it is."""
    host = pattern[2:] if pattern.startswith("*.") else pattern
    if not host:
        return f"mx {pattern!r} is empty"
    if not host.isascii():
        return f"mx {pattern!r} must be written in A-labels (xn--...), not Unicode"
    if "*" in host:
        return f"mx {pattern!r}: '*' is allowed only as the whole left-most label"
    if len(host) > 253:
        return f"mx {pattern!r} is longer than 253 characters"
    bad = [label for label in host.split(".") if not _LABEL.fullmatch(label)]
    if bad:
        return f"mx {pattern!r} has an invalid label {bad[0]!r}"
    return None


def _canonical_host(name: str) -> str:
    return name[:-1].lower() if name.endswith(".") else name.lower()


def mx_matches(pattern: str, host: str) -> bool:
    """§4.1: exact match, or `*.suffix` covering exactly one extra left-most label.

    Case-insensitive; one trailing dot on either side is ignored.
    """
    pattern, host = _canonical_host(pattern), _canonical_host(host)
    if not pattern.startswith("*."):
        return host == pattern
    suffix = pattern[1:]  # ".example.com"
    if not host.endswith(suffix):
        return False
    first_label = host[: -len(suffix)]
    return bool(first_label) and "." not in first_label


# --- Parsing ------------------------------------------------------------------------------------


def check_policy(data: bytes | str) -> Checked[Policy]:
    """Parse a policy file as a strict sender would, with every finding on the way."""
    if isinstance(data, bytes):
        if len(data) > POLICY_SIZE_LIMIT:
            message = f"policy is {len(data)} bytes; senders fetch at most {POLICY_SIZE_LIMIT}"
            return Checked(None, (error(Code.POLICY_TOO_LARGE, message),))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            message = f"policy is not UTF-8 (byte {exc.start})"
            return Checked(None, (error(Code.POLICY_NOT_UTF8, message),))
    else:
        text = data
    fields, findings = _read_fields(text)
    return _build(fields, findings)


def _lines(text: str) -> list[str]:
    """Lines end in LF or CRLF, mixed in one file or not (RFC 8461 errata 6253)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the terminator after the last field is optional
    return [line[:-1] if line.endswith("\r") else line for line in lines]


_Fields = dict[str, list[tuple[int, str]]]


def _read_fields(text: str) -> tuple[_Fields, list[Finding]]:
    """Each known field's (line number, value) occurrences, in order, and line-level findings."""
    fields: _Fields = {name: [] for name in KNOWN_FIELDS}
    findings: list[Finding] = []
    if text.startswith("\ufeff"):
        findings.append(error(Code.POLICY_SYNTAX, "policy starts with a byte-order mark"))
        text = text[1:]
    for number, line in enumerate(_lines(text), start=1):
        if line.strip(" \t") == "":
            findings.append(warning(Code.POLICY_BLANK_LINE, f"line {number} is blank"))
            continue
        match = _FIELD_LINE.fullmatch(line)
        if match is None or _CONTROL.search(line) or not match.group(2):
            findings.append(
                error(Code.POLICY_SYNTAX, f"line {number} is not 'name: value': {line!r}")
            )
            continue
        name, value = match.group(1), match.group(2)
        if name in fields:
            fields[name].append((number, value))
        else:
            findings.append(_unknown_field(number, name))
    return fields, findings


def _unknown_field(number: int, name: str) -> Finding:
    if name.lower() in KNOWN_FIELDS:
        message = f"line {number}: {name!r} is ignored; field names are case-sensitive"
        return warning(Code.POLICY_FIELD_UNKNOWN, f"{message} (write {name.lower()!r})")
    return info(Code.POLICY_FIELD_UNKNOWN, f"line {number}: unknown field {name!r} is ignored")


def _first(fields: _Fields, name: str, findings: list[Finding]) -> str | None:
    """The first occurrence wins; later ones are reported and ignored."""
    occurrences = fields[name]
    if not occurrences:
        return None
    for number, value in occurrences[1:]:
        message = f"line {number}: duplicate {name!r} ({value!r}) ignored; the first one wins"
        findings.append(warning(Code.POLICY_FIELD_DUPLICATE, message))
    return occurrences[0][1]


def _build(fields: _Fields, findings: list[Finding]) -> Checked[Policy]:
    version = _first(fields, "version", findings)
    mode = _first(fields, "mode", findings)
    max_age = _first(fields, "max_age", findings)
    if version is None:
        findings.append(error(Code.POLICY_VERSION_MISSING, "no 'version' field"))
    elif version != "STSv1":
        findings.append(error(Code.POLICY_VERSION_INVALID, f"version {version!r} is not 'STSv1'"))
    parsed_mode = _check_mode(mode, findings)
    parsed_max_age = _check_max_age(max_age, findings)
    mx = _check_mx(fields["mx"], parsed_mode, findings)
    if parsed_mode is Mode.ENFORCE and parsed_max_age is not None:
        if parsed_max_age < SHORT_ENFORCE_MAX_AGE:
            message = f"max_age {parsed_max_age} is under a day; enforce is meant to be cached long"
            findings.append(warning(Code.POLICY_MAX_AGE_SHORT, message))
    if parsed_mode is None or parsed_max_age is None or has_errors(findings):
        return Checked(None, tuple(findings))
    return Checked(Policy(mode=parsed_mode, max_age=parsed_max_age, mx=tuple(mx)), tuple(findings))


def _check_mode(value: str | None, findings: list[Finding]) -> Mode | None:
    if value is None:
        findings.append(error(Code.POLICY_MODE_MISSING, "no 'mode' field"))
        return None
    try:
        return Mode(value)
    except ValueError:
        message = f"mode {value!r} is not one of enforce, testing, none (case-sensitive)"
        findings.append(error(Code.POLICY_MODE_INVALID, message))
        return None


def _check_max_age(value: str | None, findings: list[Finding]) -> int | None:
    if value is None:
        findings.append(error(Code.POLICY_MAX_AGE_MISSING, "no 'max_age' field"))
        return None
    if not _MAX_AGE.fullmatch(value) or int(value) > MAX_AGE_LIMIT:
        message = f"max_age {value!r} must be whole seconds from 0 to {MAX_AGE_LIMIT}"
        findings.append(error(Code.POLICY_MAX_AGE_INVALID, message))
        return None
    return int(value)


def _check_mx(
    occurrences: list[tuple[int, str]], mode: Mode | None, findings: list[Finding]
) -> list[str]:
    patterns: list[str] = []
    for number, value in occurrences:
        if value.endswith(".") and not value.endswith(".."):
            message = f"line {number}: mx {value!r} should not end with a dot"
            findings.append(warning(Code.POLICY_MX_TRAILING_DOT, message))
            value = value[:-1]
        problem = mx_pattern_problem(value)
        if problem:
            findings.append(error(Code.POLICY_MX_INVALID, f"line {number}: {problem}"))
        else:
            patterns.append(value)
    if not occurrences and mode in (Mode.ENFORCE, Mode.TESTING):
        findings.append(error(Code.POLICY_MX_MISSING, f"mode {mode.value} needs at least one mx"))
    return patterns


def parse_policy(data: bytes | str) -> Policy:
    """A valid Policy, or PolicyParseError carrying every finding."""
    return check_policy(data).unwrap(PolicyParseError, "policy")


def build_policy(mode: str, mx: Iterable[str], max_age: int) -> Policy:
    """A policy from its parts, held to exactly the rules a parsed one is held to."""
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {p}" for p in mx), f"max_age: {max_age}"]
    return parse_policy("\r\n".join(lines) + "\r\n")


# --- Rendering ----------------------------------------------------------------------------------


def render_policy(policy: Policy) -> str:
    """CRLF lines in a fixed order: version, mode, each mx, max_age."""
    lines = [f"version: {policy.version}", f"mode: {policy.mode.value}"]
    lines += [f"mx: {pattern}" for pattern in policy.mx]
    lines.append(f"max_age: {policy.max_age}")
    return "\r\n".join(lines) + "\r\n"


def content_hash(data: bytes) -> str:
    """SHA-256 of served bytes: equal hashes mean a sender sees the same policy."""
    return hashlib.sha256(data).hexdigest()


def policy_hash(policy: Policy) -> str:
    return content_hash(render_policy(policy).encode("utf-8"))
