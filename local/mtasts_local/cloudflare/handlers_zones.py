"""Zones and DNS records of the Cloudflare stand-in.

DNS records are validated the way Cloudflare does before they are stored: the name is made
fully qualified inside the zone (`@` is the apex; a name outside the zone gets the zone
appended), content must fit the type, MX needs a priority, only A/AAAA/CNAME can be proxied,
a CNAME cannot share its name with other records, and an identical record is refused.

List filters: `type`, `name` / `name.exact|contains|startswith|endswith`, the same for
`content`, `proxied`, `match` (`all` or `any`), `order`, `direction`, `page`, `per_page`.
Name and content filters are case-insensitive, as Cloudflare documents them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping

from mtasts_local.cloudflare.handlers_common import (
    CODE_BAD_IDENTIFIER,
    CODE_BAD_QUERY,
    ApiError,
    Call,
    JsonObject,
    Reply,
    Route,
    page_request,
    paginate,
    success,
    timestamp,
)
from mtasts_local.cloudflare.state import (
    NAME_SERVERS,
    CloudflareState,
    DnsRecord,
    Zone,
    canonical,
    new_id,
    now,
)

SUPPORTED_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT")
PROXIABLE_TYPES = ("A", "AAAA", "CNAME")

# Cloudflare's DNS error codes.
CODE_INVALID_TYPE = 9020
CODE_INVALID_NAME = 9000
CODE_INVALID_IPV4 = 9005
CODE_INVALID_IPV6 = 9006
CODE_INVALID_CONTENT = 9007
CODE_NOT_PROXIABLE = 9004
CODE_INVALID_TTL = 9021
CODE_INVALID_PRIORITY = 9100
CODE_RECORD_NOT_FOUND = 81044
CODE_HOST_TAKEN = 81053  # a CNAME where other records exist
CODE_CNAME_EXISTS = 81054  # another record where a CNAME exists
CODE_IDENTICAL = 81058

_LABEL = r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)"
_HOSTNAME = re.compile(rf"^(?:\*\.)?(?:{_LABEL}\.)*{_LABEL}$")
_FILTER_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "exact": lambda value, wanted: value == wanted,
    "contains": lambda value, wanted: wanted in value,
    "startswith": lambda value, wanted: value.startswith(wanted),
    "endswith": lambda value, wanted: value.endswith(wanted),
}


def is_hostname(name: str) -> bool:
    """A lowercase DNS name (underscores allowed, as in `_mta-sts`; a leading `*.` too)."""
    return len(name) <= 253 and _HOSTNAME.match(name) is not None


class ZoneHandlers:
    def __init__(self, state: CloudflareState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        records = "/zones/<zone_id>/dns_records"
        return [
            Route("zones.list", "GET", "/zones", self.list_zones),
            Route("dns_records.list", "GET", records, self.list_records),
            Route("dns_records.create", "POST", records, self.create_record),
            Route("dns_records.get", "GET", f"{records}/<record_id>", self.get_record),
            Route("dns_records.update", "PUT", f"{records}/<record_id>", self.update_record),
            Route("dns_records.edit", "PATCH", f"{records}/<record_id>", self.edit_record),
            Route("dns_records.delete", "DELETE", f"{records}/<record_id>", self.delete_record),
        ]

    # --- zones ---------------------------------------------------------------------------------

    def list_zones(self, call: Call) -> Reply:
        page = page_request(call, default_size=20, max_size=50)
        name = call.query("name")
        status = call.query("status")
        account_id = call.query("account.id")
        with self.state.lock:
            zones = sorted(self.state.zones.values(), key=lambda z: z.name)
        matching = [
            z
            for z in zones
            if (name is None or z.name == canonical(name))
            and (status is None or z.status == status)
            and (account_id is None or z.account_id == account_id)
        ]
        chunk, info = paginate(matching, page)
        return success([self.zone_json(z) for z in chunk], info)

    def zone_json(self, zone: Zone) -> JsonObject:
        created = timestamp(zone.created_on)
        return {
            "id": zone.id,
            "name": zone.name,
            "status": zone.status,
            "paused": False,
            "type": "full",
            "development_mode": 0,
            "name_servers": list(NAME_SERVERS),
            "original_name_servers": None,
            "original_registrar": None,
            "original_dnshost": None,
            "created_on": created,
            "modified_on": created,
            "activated_on": created,
            "meta": {"step": 4, "custom_certificate_quota": 0, "page_rule_quota": 3},
            "owner": {"type": "user"},
            "account": {"id": zone.account_id, "name": "Local world"},
            "plan": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website"},
        }

    # --- records -------------------------------------------------------------------------------

    def list_records(self, call: Call) -> Reply:
        zone = self._zone(call)
        page = page_request(call, default_size=100, max_size=5_000_000)
        matches = _record_filter(call)
        with self.state.lock:
            records = [r for r in zone.records.values() if matches(r)]
        records.sort(key=_sort_key(call), reverse=call.query("direction") == "desc")
        chunk, info = paginate(records, page)
        return success([record_json(r) for r in chunk], info)

    def create_record(self, call: Call) -> Reply:
        zone = self._zone(call)
        fields = call.json_object()
        with self.state.lock:  # validate, check for conflicts and store as one step
            record = _validated(zone, fields, existing=None)
            _check_conflicts(zone, record)
            self.state.put_record(record)
        return success(record_json(record))

    def get_record(self, call: Call) -> Reply:
        return success(record_json(self._record(call)))

    def update_record(self, call: Call) -> Reply:
        """PUT: the body replaces the record (id and creation time stay)."""
        return self._change(call, merge=False)

    def edit_record(self, call: Call) -> Reply:
        """PATCH: the fields given replace those of the record; the rest stay."""
        return self._change(call, merge=True)

    def delete_record(self, call: Call) -> Reply:
        record = self._record(call)
        self.state.delete_record(record.zone_id, record.id)
        return success({"id": record.id})

    def _change(self, call: Call, *, merge: bool) -> Reply:
        zone = self._zone(call)
        fields = call.json_object()
        with self.state.lock:
            existing = self._record(call)
            if merge:
                fields = {**_record_fields(existing), **fields}
            record = _validated(zone, fields, existing=existing)
            _check_conflicts(zone, record)
            self.state.put_record(record)
        return success(record_json(record))

    def _zone(self, call: Call) -> Zone:
        zone_id = call.arg("zone_id")
        with self.state.lock:
            zone = self.state.zones.get(zone_id)
        if zone is None:
            raise ApiError(
                404,
                CODE_BAD_IDENTIFIER,
                f"Could not route to /zones/{zone_id}/dns_records, "
                "perhaps your object identifier is invalid?",
            )
        return zone

    def _record(self, call: Call) -> DnsRecord:
        zone = self._zone(call)
        with self.state.lock:
            record = zone.records.get(call.arg("record_id"))
        if record is None:
            raise ApiError(404, CODE_RECORD_NOT_FOUND, "Record does not exist.")
        return record


def record_json(record: DnsRecord) -> JsonObject:
    body: JsonObject = {
        "id": record.id,
        "name": record.name,
        "type": record.type,
        "content": record.content,
        "proxiable": record.type in PROXIABLE_TYPES,
        "proxied": record.proxied,
        "ttl": record.ttl,
        "settings": {},
        "meta": {},
        "tags": [],
        "created_on": timestamp(record.created_on),
        "modified_on": timestamp(record.modified_on),
    }
    if record.comment is not None:
        body["comment"] = record.comment
    if record.priority is not None:
        body["priority"] = record.priority
    return body


# --- validation ----------------------------------------------------------------------------------


def _record_fields(record: DnsRecord) -> JsonObject:
    """The writable fields of a stored record, as a PATCH body would name them."""
    fields: JsonObject = {
        "type": record.type,
        "name": record.name,
        "content": record.content,
        "ttl": record.ttl,
        "proxied": record.proxied,
    }
    if record.priority is not None:
        fields["priority"] = record.priority
    if record.comment is not None:
        fields["comment"] = record.comment
    return fields


def _validated(zone: Zone, fields: Mapping[str, object], existing: DnsRecord | None) -> DnsRecord:
    record_type = _record_type(fields.get("type"))
    name = _record_name(zone, fields.get("name"))
    comment = fields.get("comment")
    return DnsRecord(
        id=existing.id if existing else new_id(),
        zone_id=zone.id,
        zone_name=zone.name,
        type=record_type,
        name=name,
        content=_content(record_type, fields.get("content"), name),
        ttl=_ttl(fields.get("ttl", 1)),
        proxied=_proxied(record_type, fields.get("proxied", False)),
        priority=_priority(record_type, fields.get("priority")),
        comment=comment if isinstance(comment, str) and comment else None,
        created_on=existing.created_on if existing else now(),
    )


def _record_type(value: object) -> str:
    if not isinstance(value, str) or value.upper() not in SUPPORTED_TYPES:
        raise ApiError(400, CODE_INVALID_TYPE, f"Invalid DNS record type: {value!r}")
    return value.upper()


def _record_name(zone: Zone, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, CODE_INVALID_NAME, "DNS name is invalid.")
    name = canonical(value.strip())
    if name == "@":
        name = zone.name
    elif name != zone.name and not name.endswith("." + zone.name):
        name = f"{name}.{zone.name}"
    if not is_hostname(name):
        raise ApiError(400, CODE_INVALID_NAME, "DNS name is invalid.")
    return name


def _content(record_type: str, value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ApiError(400, CODE_INVALID_CONTENT, f"Content for {record_type} record is invalid.")
    if record_type == "A":
        _check_ip(value, ipaddress.IPv4Address, CODE_INVALID_IPV4, "IPv4")
    elif record_type == "AAAA":
        _check_ip(value, ipaddress.IPv6Address, CODE_INVALID_IPV6, "IPv6")
    elif record_type in ("CNAME", "MX"):
        target = canonical(value)
        if not is_hostname(target) or (record_type == "CNAME" and target == name):
            raise ApiError(
                400, CODE_INVALID_CONTENT, f"Content for {record_type} record is invalid."
            )
        return target
    return value


def _check_ip(
    value: str,
    kind: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address],
    code: int,
    label: str,
) -> None:
    try:
        kind(value)
    except ValueError:
        raise ApiError(400, code, f"Content must be a valid {label} address.") from None


def _ttl(value: object) -> int:
    ttl = _whole_number(value)
    if ttl is None or (ttl != 1 and not 30 <= ttl <= 86400):
        raise ApiError(
            400, CODE_INVALID_TTL, "TTL must be between 30 and 86400 seconds, or 1 for automatic."
        )
    return ttl


def _proxied(record_type: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ApiError(400, CODE_NOT_PROXIABLE, "proxied must be true or false.")
    if value and record_type not in PROXIABLE_TYPES:
        raise ApiError(400, CODE_NOT_PROXIABLE, "This record type cannot be proxied.")
    return value


def _priority(record_type: str, value: object) -> int | None:
    if record_type != "MX":
        return None
    priority = _whole_number(value)
    if priority is None or not 0 <= priority <= 65535:
        raise ApiError(400, CODE_INVALID_PRIORITY, "MX records need a priority from 0 to 65535.")
    return priority


def _whole_number(value: object) -> int | None:
    """A JSON number without a fraction (`2` or `2.0`); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():  # also NaN and infinities
        return None
    return int(value)


def _check_conflicts(zone: Zone, record: DnsRecord) -> None:
    others = [r for r in zone.records.values() if r.name == record.name and r.id != record.id]
    if record.type == "CNAME" and others:
        raise ApiError(
            400, CODE_HOST_TAKEN, "An A, AAAA, or CNAME record with that host already exists."
        )
    if any(r.type == "CNAME" for r in others):
        raise ApiError(400, CODE_CNAME_EXISTS, "A CNAME record with that host already exists.")
    if any(r.type == record.type and r.content == record.content for r in others):
        raise ApiError(400, CODE_IDENTICAL, "An identical record already exists.")


# --- list filters --------------------------------------------------------------------------------


def _record_filter(call: Call) -> Callable[[DnsRecord], bool]:
    tests: list[Callable[[DnsRecord], bool]] = []
    record_type = call.query("type")
    if record_type is not None:
        wanted_type = record_type.upper()
        tests.append(lambda r: r.type == wanted_type)
    for field in ("name", "content"):
        tests.extend(_text_tests(call, field))
    proxied = call.query("proxied")
    if proxied is not None:
        wanted_proxied = proxied.lower() == "true"
        tests.append(lambda r: r.proxied == wanted_proxied)
    if not tests:
        return lambda _record: True
    combine = any if call.query("match") == "any" else all
    return lambda record: combine(test(record) for test in tests)


def _text_tests(call: Call, field: str) -> list[Callable[[DnsRecord], bool]]:
    """`name=` (an alias of `name.exact`) and `name.<operator>=`; likewise for content."""
    tests: list[Callable[[DnsRecord], bool]] = []
    for key, operator in [(field, "exact"), *((f"{field}.{op}", op) for op in _FILTER_OPERATORS)]:
        wanted = call.query(key)
        if wanted is not None:
            tests.append(_text_test(field, operator, wanted))
    return tests


def _text_test(field: str, operator: str, wanted: str) -> Callable[[DnsRecord], bool]:
    compare = _FILTER_OPERATORS[operator]
    folded = canonical(wanted) if field == "name" else wanted.lower()
    return lambda record: compare(str(getattr(record, field)).lower(), folded)


def _sort_key(call: Call) -> Callable[[DnsRecord], tuple[str, str, str]]:
    order = call.query("order") or "type"
    if order not in ("type", "name", "content", "ttl", "proxied"):
        raise ApiError(400, CODE_BAD_QUERY, f"Invalid order: {order}")
    return lambda record: (_sortable(getattr(record, order)), record.name, record.id)


def _sortable(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:010d}"  # so that TTLs sort as numbers
    return str(value)
