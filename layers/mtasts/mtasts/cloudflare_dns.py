"""Cloudflare DNS as the domain's `DnsProvider`, plus what the Pages adapter needs from DNS:
the zone of a domain and the proxied `mta-sts` CNAME.

Cloudflare holds TXT content as DNS presentation text: one or more quoted strings of at most
255 bytes each. Writes send it that way; reads strip the quotes and join the strings without
spaces (RFC 8461 §3.1), so callers only ever see the record's text.

Call economy: one list per name (filtered by name and type, one page when `result_info` says
it holds everything: the SDK's auto-pagination would ask for an extra, empty page), and zone
ids are remembered for the life of the adapter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

import msgspec
from cloudflare import Cloudflare
from cloudflare.types.dns.record_response import RecordResponse

from mtasts.cloudflare_client import calling
from mtasts.cloudflare_errors import (
    CloudflareConflictError,
    CloudflareError,
    CloudflareNotFoundError,
    CloudflarePermanentError,
    CloudflareTransientError,
    ZoneNotFoundError,
)
from mtasts.domain_names import dns_name
from mtasts.ports import RecordChange, TxtRecord

TXT_STRING_BYTES = 255  # RFC 1035 §3.3: a character-string is at most 255 octets
PER_PAGE = 100
AUTOMATIC_TTL = 1
MANAGED_COMMENT = "Managed by MTA-STS autopilot; changes here are overwritten."
# Cloudflare's answers to a create that collides with what is already at the name.
CODE_HOST_TAKEN = 81053  # a CNAME where other records exist
CODE_CNAME_EXISTS = 81054  # another record where a CNAME exists
CODE_IDENTICAL = 81058
_COLLISIONS = frozenset({CODE_HOST_TAKEN, CODE_CNAME_EXISTS, CODE_IDENTICAL})

type RecordType = Literal["TXT", "CNAME"]


# --- TXT presentation text -----------------------------------------------------------------------


def quote_txt(content: str) -> str:
    """`content` as Cloudflare expects TXT content: quoted strings of at most 255 bytes,
    separated by a space (a resolver joins them back without one)."""
    return " ".join(f'"{_escape(chunk)}"' for chunk in _chunks(content))


def _chunks(content: str) -> list[str]:
    """Pieces of at most 255 UTF-8 bytes, never splitting a character."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for char in content:
        width = len(char.encode("utf-8"))
        if size + width > TXT_STRING_BYTES:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    chunks.append("".join(current))
    return chunks


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def unquote_txt(raw: str) -> str:
    """The record's text: quoted strings unescaped and joined without spaces. Content that is
    not a sequence of quoted strings (typed unquoted in the dashboard) is its own text."""
    text = raw.strip()
    if not text.startswith('"'):
        return text
    parts: list[str] = []
    position = 0
    while position < len(text):
        if text[position] in " \t":
            position += 1
            continue
        if text[position] != '"':
            return text  # not presentation text after all: compare it as it stands
        parsed = _quoted_string(text, position + 1)
        if parsed is None:
            return text
        part, position = parsed
        parts.append(part)
    return "".join(parts)


def _quoted_string(text: str, start: int) -> tuple[str, int] | None:
    """The string that opened before `start` and the position after its closing quote."""
    out: list[str] = []
    position = start
    while position < len(text):
        char = text[position]
        if char == '"':
            return "".join(out), position + 1
        if char == "\\" and position + 1 < len(text):
            digits = text[position + 1 : position + 4]
            if len(digits) == 3 and digits.isdigit():  # \DDD, RFC 1035 §5.1
                out.append(chr(int(digits)))
                position += 4
                continue
            char = text[position + 1]
            position += 1
        out.append(char)
        position += 1
    return None


# --- the adapter ---------------------------------------------------------------------------------


class DnsEntry(msgspec.Struct, frozen=True):
    """A DNS record as this adapter needs it, whatever its type; `text` is TXT content
    unquoted (other types: the content as Cloudflare holds it)."""

    record_id: str
    type: str
    name: str
    text: str
    proxied: bool
    ttl: float
    created_on: datetime


class _CreateUncertain(Exception):
    """A create may or may not have taken effect; the caller relists before trying again."""

    def __init__(self, error: CloudflareError) -> None:
        super().__init__(str(error))
        self.error = error


class CloudflareDns:
    """`DnsProvider` over Cloudflare DNS. Give `zone_id` to pin every name to one zone, or
    leave it out to look each domain's zone up by name (once; the answer is remembered)."""

    def __init__(
        self,
        client: Cloudflare,
        *,
        zone_id: str | None = None,
        create_attempts: int = 3,
        retry_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._zone_id = zone_id
        self._zones: dict[str, str] = {}
        self._create_attempts = max(1, create_attempts)
        self._retry_delay = retry_delay
        self._sleep = sleep

    # --- zones ---------------------------------------------------------------------------------

    def remember_zone(self, domain: str, zone_id: str) -> None:
        """Record a zone id learnt elsewhere (a Pages custom domain's `zone_tag`)."""
        if zone_id:
            self._zones[dns_name(domain)] = zone_id

    def zone_id_for(self, domain: str) -> str:
        """The id of the zone that holds `domain`: the domain itself, else its nearest parent
        that is a zone of the account. One call in the usual case, none once known."""
        if self._zone_id is not None:
            return self._zone_id
        domain = dns_name(domain)
        known = self._zones.get(domain)
        if known is not None:
            return known
        for candidate in _zone_candidates(domain):
            zone_id = self._find_zone(candidate)
            if zone_id is not None:
                self._zones[domain] = zone_id
                return zone_id
        raise ZoneNotFoundError(
            f"{domain} is not a zone of this Cloudflare account (nor is any parent of it); "
            "add the zone to the account, or use an API token that can see it."
        )

    def _find_zone(self, name: str) -> str | None:
        with calling(f"looking up the zone {name}"):
            zones = self._client.zones.list(name=name).result  # a name matches one zone
        active = [z for z in zones if z.status == "active"] or zones
        return active[0].id if active else None

    def _zone_of_record(self, name: str) -> str:
        """The zone of a record name such as `_mta-sts.<domain>` or `_smtp._tls.<domain>`."""
        labels = dns_name(name).split(".")
        while len(labels) > 2 and labels[0].startswith("_"):
            labels = labels[1:]
        return self.zone_id_for(".".join(labels))

    # --- DnsProvider ---------------------------------------------------------------------------

    def txt_records(self, name: str) -> list[TxtRecord]:
        name = dns_name(name)
        entries = self._list(self._zone_of_record(name), name, "TXT")
        return [TxtRecord(e.record_id, e.name, e.text) for e in entries]

    def ensure_txt(self, name: str, version_tag: str, content: str) -> RecordChange:
        name = dns_name(name)
        attempt = 1
        while True:
            try:
                return self._ensure_txt_once(name, version_tag, content)
            except _CreateUncertain as uncertain:
                if attempt >= self._create_attempts:
                    raise uncertain.error from uncertain.error.__cause__
                self._sleep(self._retry_delay * 2 ** (attempt - 1))
                attempt += 1

    def delete_txt(self, name: str, version_tag: str) -> RecordChange:
        name = dns_name(name)
        zone_id = self._zone_of_record(name)
        mine = self._of_kind(zone_id, name, version_tag)
        for entry in mine:
            self._delete(zone_id, entry)
        before = mine[0].text if mine else None
        return RecordChange(name, before, None, tuple(e.record_id for e in mine[1:]))

    def _ensure_txt_once(self, name: str, version_tag: str, content: str) -> RecordChange:
        zone_id = self._zone_of_record(name)
        mine = self._of_kind(zone_id, name, version_tag)
        if not mine:
            self._create_txt(zone_id, name, content)
            return RecordChange(name, None, content)
        keep = _record_to_keep(mine, content)
        strays = [e for e in mine if e is not keep]
        # Duplicates go first: two records of one kind mean "no policy" to a sender (RFC 8461
        # §3.1), and Cloudflare would refuse an update that made the kept one identical to one.
        for stray in strays:
            self._delete(zone_id, stray)
        if keep.text != content:
            self._edit_txt(zone_id, keep, content)
        return RecordChange(name, keep.text, content, tuple(e.record_id for e in strays))

    def _of_kind(self, zone_id: str, name: str, version_tag: str) -> list[DnsEntry]:
        """The TXT records at `name` that start with `version_tag`, oldest first (so "the
        first" means the same record on every run)."""
        entries = self._list(zone_id, name, "TXT")
        mine = [e for e in entries if e.text.startswith(version_tag)]
        return sorted(mine, key=lambda e: (e.created_on, e.record_id))

    def _create_txt(self, zone_id: str, name: str, content: str) -> None:
        # The SDK retries a POST after a 429, a 5xx or a lost connection, with no idempotency
        # key: when the first create took effect and only its answer was lost, the retry would
        # add a second record (two `v=STSv1` records mean no policy at all). So this call goes
        # out once, and an uncertain failure sends ensure_txt back to its list, which sees
        # whether the record landed before anything is created again.
        once = self._client.with_options(max_retries=0)
        try:
            with calling(f"creating the TXT record at {name}"):
                once.dns.records.create(
                    zone_id=zone_id,
                    name=name,
                    type="TXT",
                    content=quote_txt(content),
                    ttl=AUTOMATIC_TTL,
                    comment=MANAGED_COMMENT,
                )
        except CloudflareTransientError as error:
            raise _CreateUncertain(error) from error
        except CloudflarePermanentError as error:
            if CODE_IDENTICAL in error.codes:  # it is there after all: a writer we raced
                raise _CreateUncertain(error) from error
            raise

    # --- the policy host's CNAME ---------------------------------------------------------------

    def ensure_cname(self, domain: str, host: str, target: str) -> None:
        """A proxied CNAME `host -> target` in `domain`'s zone (Pages does not create it).

        Created without listing first: Cloudflare allows nothing beside a CNAME, so a create
        the SDK retries cannot leave two; a collision is the only case that needs a look."""
        zone_id = self.zone_id_for(domain)
        host, target = dns_name(host), dns_name(target)
        try:
            with calling(f"creating the CNAME {host} -> {target}"):
                self._client.dns.records.create(
                    zone_id=zone_id,
                    name=host,
                    type="CNAME",
                    content=target,
                    proxied=True,
                    ttl=AUTOMATIC_TTL,
                    comment=MANAGED_COMMENT,
                )
            return
        except CloudflarePermanentError as error:
            if not _COLLISIONS & set(error.codes):
                raise
        self._repoint_cname(zone_id, host, target)

    def delete_cname(self, domain: str, host: str, target: str) -> bool:
        """Delete the CNAME `host -> target` if it is there; any other record stays."""
        try:
            zone_id = self.zone_id_for(domain)
        except ZoneNotFoundError:
            return False
        host, target = dns_name(host), dns_name(target)
        ours = [e for e in self._list(zone_id, host, "CNAME") if dns_name(e.text) == target]
        for entry in ours:
            self._delete(zone_id, entry)
        return bool(ours)

    def _repoint_cname(self, zone_id: str, host: str, target: str) -> None:
        entries = self._list(zone_id, host, None)
        cnames = [e for e in entries if e.type == "CNAME"]
        if not cnames:
            kinds = ", ".join(sorted({e.type for e in entries})) or "other"
            raise CloudflareConflictError(
                f"{host} already has {kinds} records, but the policy host needs a CNAME to "
                f"{target} there; remove those records and deploy again."
            )
        cname = cnames[0]
        if dns_name(cname.text) == target and cname.proxied:
            return
        # `mta-sts.<domain>` exists only to reach the policy host (RFC 8461 §3.3): pointing it
        # at the project is the deployment, not a takeover of an unrelated name.
        self._edit_cname(zone_id, cname, target)

    # --- records -------------------------------------------------------------------------------

    def _list(self, zone_id: str, name: str, record_type: RecordType | None) -> list[DnsEntry]:
        kind = record_type or "all"
        records = self._client.dns.records
        with calling(f"listing {kind} records at {name}"):
            if record_type is None:
                page = records.list(zone_id=zone_id, name={"exact": name}, per_page=PER_PAGE)
            else:
                page = records.list(
                    zone_id=zone_id, name={"exact": name}, type=record_type, per_page=PER_PAGE
                )
            if _holds_everything(page.result, page.result_info, PER_PAGE):
                found = list(page.result)
            else:
                found = [record for each in page.iter_pages() for record in each.result]
        return [_entry(record) for record in found]

    def _edit_txt(self, zone_id: str, entry: DnsEntry, content: str) -> None:
        with calling(f"updating the TXT record at {entry.name}"):
            self._client.dns.records.edit(
                entry.record_id,
                zone_id=zone_id,
                name=entry.name,
                type="TXT",
                ttl=entry.ttl,
                content=quote_txt(content),
            )

    def _edit_cname(self, zone_id: str, entry: DnsEntry, target: str) -> None:
        with calling(f"updating the CNAME record at {entry.name}"):
            self._client.dns.records.edit(
                entry.record_id,
                zone_id=zone_id,
                name=entry.name,
                type="CNAME",
                ttl=entry.ttl,
                content=target,
                proxied=True,
            )

    def _delete(self, zone_id: str, entry: DnsEntry) -> None:
        try:
            with calling(f"deleting the {entry.type} record at {entry.name}"):
                self._client.dns.records.delete(entry.record_id, zone_id=zone_id)
        except CloudflareNotFoundError:
            pass  # already gone: perhaps our own request, retried after its answer was lost


def _zone_candidates(domain: str) -> list[str]:
    """The domain, then each parent down to two labels (a zone is never a bare TLD)."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(max(1, len(labels) - 1))]


def _record_to_keep(mine: Sequence[DnsEntry], content: str) -> DnsEntry:
    """The one record of a kind to keep: one that already says `content` (no write needed),
    else the first (`mine` is oldest first)."""
    exact = [e for e in mine if e.text == content]
    return exact[0] if exact else mine[0]


def _holds_everything(items: Sequence[object], info: object, per_page: int) -> bool:
    """Whether the first page is the whole listing, by `result_info` (which the SDK models
    only in part: `count`, `total_count` and `total_pages` arrive as extra fields)."""
    extra: dict[str, Any] = getattr(info, "model_extra", None) or {}
    total = extra.get("total_count")
    if isinstance(total, int):
        return len(items) >= total
    pages = extra.get("total_pages")
    if isinstance(pages, int):
        return pages <= 1
    return len(items) < per_page  # a short page is the last one


def _entry(record: RecordResponse) -> DnsEntry:
    content = record.content or ""
    return DnsEntry(
        record_id=record.id,
        type=record.type,
        name=dns_name(record.name),
        text=unquote_txt(content) if record.type == "TXT" else content,
        proxied=bool(record.proxied),
        ttl=record.ttl,
        created_on=record.created_on,
    )
