"""The `_mta-sts.<domain>` TXT record (RFC 8461 §3.1): select, parse with findings, render."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field

from mtasts._txt_fields import (
    collect_extensions,
    split_record,
    starts_with_version,
    valid_extension,
)
from mtasts.checked import Checked, checked
from mtasts.errors import PolicyIdError, RecordParseError
from mtasts.findings import Code, Finding, error, warning

VERSION = "v=STSv1"
POLICY_ID = re.compile(r"[A-Za-z0-9]{1,32}")


class StsRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str = "STSv1"
    id: str
    extensions: dict[str, str] = Field(default_factory=dict)


def check_policy_id(policy_id: str) -> str:
    """`policy_id` itself, or PolicyIdError: 1 to 32 letters and digits, nothing else."""
    if not POLICY_ID.fullmatch(policy_id):
        raise PolicyIdError(f"policy id {policy_id!r} must be 1 to 32 letters and digits")
    return policy_id


def check_sts_record(text: str) -> Checked[StsRecord]:
    """Parse one record's text (already joined) and say everything that is wrong with it."""
    if not starts_with_version(text, VERSION):
        return Checked(
            None,
            (error(Code.STS_RECORD_INVALID, f"record must start with {VERSION!r}: {text!r}"),),
        )
    split = split_record(text, VERSION)
    findings = [error(Code.STS_RECORD_INVALID, p) for p in split.problems]
    if split.trailing_whitespace:
        findings.append(
            warning(Code.STS_RECORD_INVALID, "trailing whitespace after the last field")
        )
    ids = [f.value for f in split.fields if f.name == "id"]
    extensions, bad = collect_extensions(split.fields, known={"id"})
    findings += [error(Code.STS_RECORD_INVALID, f"malformed extension field {b!r}") for b in bad]
    findings += _id_findings(ids)
    record = StsRecord(id=ids[0], extensions=extensions) if ids else None
    if record is None:
        return Checked(None, tuple(findings))
    return checked(record, findings)


def _id_findings(ids: list[str]) -> list[Finding]:
    if not ids:
        return [error(Code.STS_RECORD_ID_MISSING, "record has no id= field")]
    findings = [
        error(Code.STS_RECORD_ID_INVALID, f"id {value!r} must be 1 to 32 letters and digits")
        for value in ids
        if not POLICY_ID.fullmatch(value)
    ]
    if len(ids) > 1:
        findings.append(
            error(Code.STS_RECORD_ID_DUPLICATE, f"record has {len(ids)} id= fields: {ids}")
        )
    return findings


def select_sts_record(records: Iterable[str]) -> Checked[StsRecord]:
    """What a sender concludes from all TXT records at `_mta-sts`: unrelated ones are ignored,
    and anything but exactly one `v=STSv1` record means there is no policy."""
    candidates = [r for r in records if starts_with_version(r, VERSION)]
    if not candidates:
        return Checked(None, (error(Code.STS_RECORD_MISSING, "no v=STSv1 TXT record"),))
    if len(candidates) > 1:
        message = f"{len(candidates)} v=STSv1 TXT records; senders ignore all of them"
        return Checked(None, (error(Code.STS_RECORD_MULTIPLE, message),))
    return check_sts_record(candidates[0])


def parse_sts_record(text: str) -> StsRecord:
    return check_sts_record(text).unwrap(RecordParseError, "_mta-sts record")


def render_sts_record(policy_id: str, extensions: Mapping[str, str] | None = None) -> str:
    """The record text, e.g. `v=STSv1; id=20261128153000`."""
    check_policy_id(policy_id)
    parts = [VERSION, f"id={policy_id}"]
    for name, value in (extensions or {}).items():
        if name == "id" or not valid_extension(name, value):
            raise RecordParseError(f"invalid extension field {name}={value!r}")
        parts.append(f"{name}={value}")
    return "; ".join(parts)
