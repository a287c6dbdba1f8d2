"""The local world's configuration: which Cloudflare account, which mail domains (zones) with
which MX records, which SMTP hosts run and how each one behaves, and who sends mail and reports.

    world = load_world(None)                  # the default world (worlds/default.toml)
    world = load_world(Path("my-world.toml"))

Every name must be a reserved one (RFC 2606/6761: `.example`, `.test`, `.invalid`, `.localhost`,
`example.com/net/org`), so a local world can never send mail to, or look up, a real domain.
Names are stored lowercase without a trailing dot. What can be derived (which hosts sit outside
every zone, which are spare) is computed from the lists, never written twice.
"""

from __future__ import annotations

import re
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

DEFAULT_WORLD = Path(__file__).with_name("worlds") / "default.toml"

RESERVED_SUFFIXES = (
    "example",
    "test",
    "invalid",
    "localhost",
    "example.com",
    "example.net",
    "example.org",
)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class WorldConfigError(Exception):
    """A world file that cannot be read or does not describe a valid world.

    `field` is where the (first) problem is, as a path like `zones[1].mx[0].host` ("" for the
    file as a whole); `problems` holds every (field, message) pair found.
    """

    def __init__(self, problems: list[tuple[str, str]], path: Path | None = None) -> None:
        self.path = path
        self.problems = problems
        self.field, message = problems[0]
        where = f"{path}: " if path is not None else ""
        at = f"{self.field}: " if self.field else ""
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"world config {where}{at}{message}{more}")

    def in_file(self, path: Path) -> WorldConfigError:
        return WorldConfigError(self.problems, path)


def _canonical(value: Any) -> Any:
    return value.rstrip(".").lower() if isinstance(value, str) else value


def _reserved_host_name(name: str) -> str:
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{name!r} is not a host name")
    if not any(name == s or name.endswith("." + s) for s in RESERVED_SUFFIXES):
        raise ValueError(f"{name!r} is not under a reserved name ({', '.join(RESERVED_SUFFIXES)})")
    return name


HostName = Annotated[str, BeforeValidator(_canonical), AfterValidator(_reserved_host_name)]


def is_under(name: str, zone_name: str) -> bool:
    return name == zone_name or name.endswith("." + zone_name)


class MxBehaviour(StrEnum):
    """How an MX host's SMTP server behaves towards a sender that checks like RFC 8461 §4.2."""

    OK = "ok"
    EXPIRED_CERT = "expired-cert"
    WRONG_NAME_CERT = "wrong-name-cert"
    UNTRUSTED_CERT = "untrusted-cert"
    NO_STARTTLS = "no-starttls"
    EXPIRING_CERT = "expiring-cert"  # valid, but expires within days


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CloudflareAccount(_Model):
    account_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    api_token: str = Field(min_length=1, repr=False)


class MxRecord(_Model):
    host: HostName
    preference: int = Field(ge=0, le=65535)


class Zone(_Model):
    """A mail domain the customer manages in Cloudflare, with its MX records."""

    name: HostName
    mx: tuple[MxRecord, ...] = Field(min_length=1)

    @property
    def mx_host_names(self) -> tuple[str, ...]:
        return tuple(record.host for record in self.mx)


class MxHost(_Model):
    """A host the world runs an SMTP server for (whether or not an MX record names it yet)."""

    name: HostName
    behaviour: MxBehaviour = MxBehaviour.OK


class Sender(_Model):
    """An organisation that mails the world's domains and sends them TLS-RPT reports."""

    organization: str = Field(min_length=1)
    submitter: HostName  # the TLS-Report-Submitter domain (RFC 8460 §5.3)
    contact_info: str | None = None

    @property
    def contact(self) -> str:
        return self.contact_info or f"mailto:tlsrpt-noreply@{self.submitter}"

    @property
    def mail_from(self) -> str:
        return f"tlsrpt-noreply@{self.submitter}"


class World(_Model):
    cloudflare: CloudflareAccount
    zones: tuple[Zone, ...] = Field(min_length=1)
    mx_hosts: tuple[MxHost, ...] = Field(min_length=1)
    senders: tuple[Sender, ...] = ()

    @model_validator(mode="after")
    def _names_fit_together(self) -> Self:
        # Raised as WorldConfigError, not ValueError, so pydantic lets it through unwrapped and
        # the field path points at the offending entry rather than at the whole world.
        problems = [
            *_duplicates("zones", [z.name for z in self.zones], "name"),
            *_duplicates("mx_hosts", [h.name for h in self.mx_hosts], "name"),
            *_duplicates("senders", [s.organization for s in self.senders], "organization"),
            *self._mx_record_problems(),
        ]
        if problems:
            raise WorldConfigError(problems)
        return self

    def _mx_record_problems(self) -> list[tuple[str, str]]:
        defined = {host.name for host in self.mx_hosts}
        problems = []
        for z, zone in enumerate(self.zones):
            problems += _duplicates(f"zones[{z}].mx", list(zone.mx_host_names), "host")
            for m, record in enumerate(zone.mx):
                if record.host not in defined:
                    message = f"MX host {record.host!r} has no [[mx_hosts]] entry"
                    problems.append((f"zones[{z}].mx[{m}].host", message))
        return problems

    # --- look-ups ------------------------------------------------------------------------------

    def zone(self, name: str) -> Zone:
        name = _canonical(name)
        for zone in self.zones:
            if zone.name == name:
                return zone
        raise KeyError(f"no zone named {name!r} in this world")

    def mx_host(self, name: str) -> MxHost:
        name = _canonical(name)
        for host in self.mx_hosts:
            if host.name == name:
                return host
        raise KeyError(f"no MX host named {name!r} in this world")

    def zone_of(self, name: str) -> Zone | None:
        """The zone `name` is in (the longest one, if zones nest), or None if it is external."""
        name = _canonical(name)
        inside = [zone for zone in self.zones if is_under(name, zone.name)]
        return max(inside, key=lambda zone: len(zone.name), default=None)

    # --- what a world builder needs ------------------------------------------------------------

    def hosts_in_zone(self, zone_name: str) -> tuple[MxHost, ...]:
        """MX hosts whose A record belongs in this zone (in its MX records or not)."""
        zone = self.zone(zone_name)
        return tuple(h for h in self.mx_hosts if self.zone_of(h.name) == zone)

    def external_hosts(self) -> tuple[MxHost, ...]:
        """MX hosts in no zone (a big provider's): the DNS server serves their A records itself."""
        return tuple(h for h in self.mx_hosts if self.zone_of(h.name) is None)

    def spare_mx_hosts(self, zone_name: str) -> tuple[MxHost, ...]:
        """Hosts in the zone that run but are not in its MX records yet (for an MX change)."""
        listed = set(self.zone(zone_name).mx_host_names)
        return tuple(h for h in self.hosts_in_zone(zone_name) if h.name not in listed)

    def a_record_names(self) -> tuple[str, ...]:
        """Every name that needs an A record pointing at its SMTP server."""
        return tuple(host.name for host in self.mx_hosts)

    def zones_with(self, behaviour: MxBehaviour) -> tuple[Zone, ...]:
        """Zones with at least one MX host that behaves this way."""
        return tuple(
            zone
            for zone in self.zones
            if any(self.mx_host(name).behaviour is behaviour for name in zone.mx_host_names)
        )


def _duplicates(where: str, values: list[str], key: str) -> list[tuple[str, str]]:
    seen: set[str] = set()
    problems = []
    for index, value in enumerate(values):
        if value in seen:
            problems.append((f"{where}[{index}].{key}", f"{value!r} appears more than once"))
        seen.add(value)
    return problems


def load_world(path: Path | None = None) -> World:
    """Read and check a world file (TOML); None reads the default world."""
    path = DEFAULT_WORLD if path is None else path
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise WorldConfigError([("", f"cannot read: {error.strerror}")], path) from error
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise WorldConfigError([("", f"not valid TOML: {error}")], path) from error
    try:
        return World.model_validate(data)
    except ValidationError as error:
        raise WorldConfigError(_root_causes(error), path) from error
    except WorldConfigError as error:
        raise error.in_file(path) from error


def _root_causes(error: ValidationError) -> list[tuple[str, str]]:
    """Each problem as (field, message), leaving out a list's "too short" when it is only the
    echo of an item inside it that failed."""
    errors = error.errors()
    locations = [e["loc"] for e in errors]
    return [
        (_field_path(e["loc"]), e["msg"])
        for e in errors
        if not any(
            len(other) > len(e["loc"]) and other[: len(e["loc"])] == e["loc"] for other in locations
        )
    ]


def _field_path(location: tuple[int | str, ...]) -> str:
    """('zones', 1, 'mx', 0, 'host') -> 'zones[1].mx[0].host'."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text
