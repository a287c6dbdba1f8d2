"""The TLS-RPT report (RFC 8460 §4) as real senders send it, normalised; the original is kept.

Real senders differ from the RFC text: `mx-host` for `mx-host-pattern` (sometimes a string),
`additional-info-uri` for `additional-information`, datetimes without a zone, failure details
without `sending-mta-ip`. All are accepted here and normalised; field names follow the RFC with
`_` for `-`.

Two readings, one judge. The pydantic models (`ReportFields` and the models it nests, with
`FailureDetailFields` for a failure detail) are the rules of record: they alone decide what is
valid, how it is normalised, and word the error. The report itself is held in msgspec structs
(`TlsReport`, `DateRange`, `PolicyResult`, `PolicyDescriptor`, `Summary`, and `_Detail` behind
`FailureDetails`), which msgspec decodes straight from the JSON in the common case. The decoded
types are narrower than the rules (JSON integers only, strings where strings are due, the RFC
names and the senders' variants only, no unknown keys, datetimes in the plain RFC 3339 shape that
`datetime.fromisoformat` reads as pydantic does), so what msgspec accepts the rules accept alike
and read the same way. Whatever it refuses, and any report it cannot vouch for, is parsed again
by the rules (`TlsReport._from_json_checked`), and the validated models are copied into the same
structs. Validating eight pydantic models cost more than decoding a small report; the structs
cost nothing beyond the decode. `tests/unit/test_report_fast_path.py` holds both readings to the
same result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, Self, overload

import msgspec
import orjson
from msgspec import UNSET, UnsetType
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    NonNegativeInt,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import CoreSchema, ErrorDetails, core_schema, from_json

from mtasts.errors import ReportError

KNOWN_RESULT_TYPES = frozenset(
    {
        "starttls-not-supported",
        "certificate-host-mismatch",
        "certificate-expired",
        "certificate-not-trusted",
        "validation-failure",
        "tlsa-invalid",
        "dnssec-invalid",
        "dane-required",
        "sts-policy-fetch-error",
        "sts-policy-invalid",
        "sts-webpki-invalid",
    }
)
KNOWN_POLICY_TYPES = frozenset({"sts", "tlsa", "no-policy-found"})


def _as_utc(value: datetime) -> datetime:
    """A datetime without a zone is taken as UTC (several big senders omit it)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        raise ValueError("datetime is out of range once converted to UTC") from None


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value


def _as_lines(value: Any) -> Any:
    if isinstance(value, str):
        return value.splitlines()
    return _as_list(value)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
StringList = Annotated[list[str], BeforeValidator(_as_list)]
LineList = Annotated[list[str], BeforeValidator(_as_lines)]
_Count = Annotated[int, msgspec.Meta(ge=0)]
_NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


def _alias(*names: str) -> Any:
    """Validate from the RFC name (and variants); the Python name is the RFC name with `_`."""
    return AliasChoices(*names, names[0].replace("-", "_"))


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _Struct(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """A part of the report as held. Frozen, and without cycles (only strings, numbers and
    other parts), so the garbage collector need not track the many small objects of a big
    report. Unknown or snake_case keys make msgspec refuse it, which hands the report to the
    rules of record."""


# --- failure details ----------------------------------------------------------------------------

# (Python name, RFC name) of every failure-detail field, in the RFC's order.
_DETAIL_FIELDS: Final = (
    ("result_type", "result-type"),
    ("sending_mta_ip", "sending-mta-ip"),
    ("receiving_mx_hostname", "receiving-mx-hostname"),
    ("receiving_mx_helo", "receiving-mx-helo"),
    ("receiving_ip", "receiving-ip"),
    ("failed_session_count", "failed-session-count"),
    ("additional_information", "additional-information"),
    ("failure_reason_code", "failure-reason-code"),
)
# Keys that only `FailureDetailFields` may interpret: the snake_case names (a reloaded dump).
_PYTHON_NAME_KEYS: Final = frozenset(name for name, _ in _DETAIL_FIELDS)


class FailureDetailFields(_Model):
    """What a failure detail may look like, and how it is normalised: the rules of record."""

    result_type: str = Field(validation_alias=_alias("result-type"))
    sending_mta_ip: str | None = Field(None, validation_alias=_alias("sending-mta-ip"))
    receiving_mx_hostname: str | None = Field(
        None, validation_alias=_alias("receiving-mx-hostname")
    )
    receiving_mx_helo: str | None = Field(None, validation_alias=_alias("receiving-mx-helo"))
    receiving_ip: str | None = Field(None, validation_alias=_alias("receiving-ip"))
    failed_session_count: NonNegativeInt = Field(validation_alias=_alias("failed-session-count"))
    additional_information: str | None = Field(
        None, validation_alias=_alias("additional-information", "additional-info-uri")
    )
    failure_reason_code: str | None = Field(None, validation_alias=_alias("failure-reason-code"))

    def normal_form(self) -> dict[str, Any]:
        """The detail as a dict with RFC keys and no nulls: what the fast check accepts as is."""
        values = ((rfc, getattr(self, name)) for name, rfc in _DETAIL_FIELDS)
        return {rfc: value for rfc, value in values if value is not None}


_DETAIL_LIST: Final = TypeAdapter(list[FailureDetailFields])


def _in_normal_form(details: list[Any]) -> bool:
    """True when every detail is a dict that `FailureDetailFields` would accept and read the same
    way as `FailureDetail` does. Runs once per detail of multi-megabyte reports, hence unrolled
    into one expression per detail: a loop over the optional keys costs a quarter more."""
    text = str
    for detail in details:
        if type(detail) is not dict or not _PYTHON_NAME_KEYS.isdisjoint(detail):
            return False
        count = detail.get("failed-session-count")
        get = detail.get
        if (
            type(count) is not int
            or count < 0
            or type(get("result-type")) is not text
            or ((value := get("sending-mta-ip")) is not None and type(value) is not text)
            or ((value := get("receiving-mx-hostname")) is not None and type(value) is not text)
            or ((value := get("receiving-ip")) is not None and type(value) is not text)
            or ((value := get("failure-reason-code")) is not None and type(value) is not text)
            or ((value := get("additional-information")) is not None and type(value) is not text)
            or ((value := get("receiving-mx-helo")) is not None and type(value) is not text)
            or ((value := get("additional-info-uri")) is not None and type(value) is not text)
        ):
            return False
    return True


class _Detail(_Struct, frozen=True):
    """One failure detail as stored, under RFC names. msgspec decodes it straight from the JSON;
    the types are a strict subset of `FailureDetailFields` (no string or float counts, no
    bools), and unknown or snake_case keys make msgspec refuse it, so that such details go to the
    pydantic rules. `additional-information` is UNSET when absent: the sender may have used
    `additional-info-uri`, which counts only then (as with the pydantic aliases)."""

    result_type: str = msgspec.field(name="result-type")
    failed_session_count: _Count = msgspec.field(name="failed-session-count")
    sending_mta_ip: str | None = msgspec.field(default=None, name="sending-mta-ip")
    receiving_mx_hostname: str | None = msgspec.field(default=None, name="receiving-mx-hostname")
    receiving_mx_helo: str | None = msgspec.field(default=None, name="receiving-mx-helo")
    receiving_ip: str | None = msgspec.field(default=None, name="receiving-ip")
    additional_information: str | None | UnsetType = msgspec.field(
        default=UNSET, name="additional-information"
    )
    additional_info_uri: str | None = msgspec.field(default=None, name="additional-info-uri")
    failure_reason_code: str | None = msgspec.field(default=None, name="failure-reason-code")


def _detail_from_dict(fields: dict[str, Any]) -> _Detail:
    """A `_Detail` from a dict that `_in_normal_form` (or `normal_form`) vouched for."""
    get = fields.get
    return _Detail(
        fields["result-type"],
        fields["failed-session-count"],
        get("sending-mta-ip"),
        get("receiving-mx-hostname"),
        get("receiving-mx-helo"),
        get("receiving-ip"),
        get("additional-information", UNSET),
        get("additional-info-uri"),
        get("failure-reason-code"),
    )


def details_by_the_rules(details: Any) -> list[_Detail]:
    """What a sender put under `failure-details` (null is none), as `_Detail`s, judged by the
    rules of record; ValidationError (a ValueError) if one is bad, located by its index."""
    details = _as_list(details)
    if type(details) is not list or not _in_normal_form(details):
        details = [model.normal_form() for model in _DETAIL_LIST.validate_python(details)]
    return [_detail_from_dict(detail) for detail in details]


class FailureDetail:
    """One failure detail (RFC 8460 §4.3), read-only, a view over its validated fields.

    Unknown result types are kept as sent; compare with `KNOWN_RESULT_TYPES` to tell them."""

    __slots__ = ("_detail",)

    def __init__(self, detail: _Detail) -> None:
        self._detail = detail

    @property
    def result_type(self) -> str:
        return self._detail.result_type

    @property
    def sending_mta_ip(self) -> str | None:
        return self._detail.sending_mta_ip

    @property
    def receiving_mx_hostname(self) -> str | None:
        return self._detail.receiving_mx_hostname

    @property
    def receiving_mx_helo(self) -> str | None:
        return self._detail.receiving_mx_helo

    @property
    def receiving_ip(self) -> str | None:
        return self._detail.receiving_ip

    @property
    def failed_session_count(self) -> int:
        return self._detail.failed_session_count

    @property
    def additional_information(self) -> str | None:
        """`additional-information`, or `additional-info-uri` if the sender used that name."""
        value = self._detail.additional_information
        return self._detail.additional_info_uri if value is UNSET else value

    @property
    def failure_reason_code(self) -> str | None:
        return self._detail.failure_reason_code

    def as_dict(self) -> dict[str, Any]:
        """Every field under its Python name, absent ones as None (the dumped form)."""
        return {name: getattr(self, name) for name, _ in _DETAIL_FIELDS}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FailureDetail):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.as_dict().values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.as_dict().items())
        return f"FailureDetail({fields})"


class FailureDetails(Sequence[FailureDetail]):
    """The failure details of one policy: validated `_Detail`s, read through `FailureDetail`
    views."""

    __slots__ = ("_items",)

    def __init__(self, items: list[_Detail] | None = None) -> None:  # None: no details
        self._items: list[_Detail] = [] if items is None else items

    @classmethod
    def validate(cls, value: Any) -> FailureDetails:
        """Accept what a sender put under `failure-details` (null is none); ValueError if bad."""
        if isinstance(value, FailureDetails):
            return value
        return cls(details_by_the_rules(value))

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> FailureDetail: ...

    @overload
    def __getitem__(self, index: slice) -> FailureDetails: ...

    def __getitem__(self, index: int | slice) -> FailureDetail | FailureDetails:
        if isinstance(index, slice):
            return FailureDetails(self._items[index])
        return FailureDetail(self._items[index])

    def __iter__(self) -> Iterator[FailureDetail]:
        return map(FailureDetail, self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # equal to lists, which are not hashable

    def __repr__(self) -> str:
        return f"FailureDetails({list(self)!r})"

    def as_dicts(self) -> list[dict[str, Any]]:
        """Every detail as `FailureDetail.as_dict` gives it (the dumped form)."""
        return [detail.as_dict() for detail in self]

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.validate,
            serialization=core_schema.plain_serializer_function_ser_schema(cls.as_dicts),
        )


class FailureTally(msgspec.Struct):
    """What one policy's failure details add up to, which is all the daily counts keep of them:
    failed sessions by result type and by receiving MX host (as sent; None when not reported)."""

    details: int = 0
    by_result_type: dict[str, int] = msgspec.field(default_factory=dict)
    by_mx: dict[str | None, int] = msgspec.field(default_factory=dict)

    def add(self, details: Iterable[_Detail]) -> None:
        by_type, by_mx = self.by_result_type, self.by_mx
        added = 0
        for detail in details:
            count = detail.failed_session_count
            by_type[detail.result_type] = by_type.get(detail.result_type, 0) + count
            host = detail.receiving_mx_hostname
            by_mx[host] = by_mx.get(host, 0) + count
            added += 1
        self.details += added


# --- the report as held -------------------------------------------------------------------------


class Summary(_Struct, frozen=True):
    total_successful_session_count: _Count = msgspec.field(name="total-successful-session-count")
    total_failure_session_count: _Count = msgspec.field(name="total-failure-session-count")


class PolicyDescriptor(_Struct, frozen=True):
    """The policy a result is about. The list fields are kept as the sender wrote them (a list,
    a string, null, or `mx-host` instead of `mx-host-pattern`) and normalised when read, as the
    rules normalise them."""

    policy_type: str = msgspec.field(name="policy-type")
    policy_domain: str = msgspec.field(name="policy-domain")
    _policy_string: list[str] | str | None = msgspec.field(default=None, name="policy-string")
    _mx_host_pattern: list[str] | str | None | UnsetType = msgspec.field(
        default=UNSET, name="mx-host-pattern"
    )
    _mx_host: list[str] | str | None = msgspec.field(default=None, name="mx-host")

    @property
    def policy_string(self) -> list[str]:
        value = self._policy_string
        if isinstance(value, str):
            return value.splitlines()
        return [] if value is None else value

    @property
    def mx_host_pattern(self) -> list[str]:
        """`mx-host-pattern`, or `mx-host` when the sender used only that name."""
        value = self._mx_host if self._mx_host_pattern is UNSET else self._mx_host_pattern
        if isinstance(value, str):
            return [value]
        return [] if value is None else value

    def dump(self) -> dict[str, Any]:
        return {
            "policy_type": self.policy_type,
            "policy_domain": self.policy_domain,
            "policy_string": list(self.policy_string),
            "mx_host_pattern": list(self.mx_host_pattern),
        }


class PolicyResult(_Struct, frozen=True):
    policy: PolicyDescriptor
    summary: Summary
    _failure_details: list[_Detail] | None = msgspec.field(default=None, name="failure-details")

    @property
    def failure_details(self) -> FailureDetails:
        return FailureDetails(self._failure_details)

    def tally(self) -> FailureTally:
        tally = FailureTally()
        tally.add(self._failure_details or ())
        return tally

    def dump(self) -> dict[str, Any]:
        summary = self.summary
        return {
            "policy": self.policy.dump(),
            "summary": {
                "total_successful_session_count": summary.total_successful_session_count,
                "total_failure_session_count": summary.total_failure_session_count,
            },
            "failure_details": self.failure_details.as_dicts(),
        }


class DateRange(msgspec.Struct, frozen=True, gc=False):
    start_datetime: datetime  # UTC
    end_datetime: datetime  # UTC, not before the start


_DATETIME: Final = TypeAdapter(datetime)


class TlsReport(msgspec.Struct, frozen=True, gc=False):
    """A valid report, normalised; `original()` gives it as the sender wrote it."""

    report_id: str
    organization_name: str
    contact_info: str | None
    date_range: DateRange
    policies: list[PolicyResult]
    _original_json: bytes = b""

    @classmethod
    def from_json(cls, data: bytes) -> TlsReport:
        """Validate the JSON bytes of one report; ReportError with a one-line reason if invalid.

        The fast path only ever says "valid, and read the same way"; whatever it cannot vouch for
        is decided, and its error worded, by `_from_json_checked`."""
        try:
            body = _FAST_DECODE(data)
        except (msgspec.DecodeError, ValueError, RecursionError):  # bad UTF-8 is a ValueError
            return cls._from_json_checked(data)
        dates = body.date_range  # read here, not by a method of its own: a call less per report
        start, end = plain_datetime(dates.start), plain_datetime(dates.end)
        if start is None or end is None or end < start:
            return cls._from_json_checked(data)
        return cls(
            body.report_id,
            body.organization_name,
            body.contact_info,
            DateRange(start, end),
            body.policies,
            data,
        )

    @classmethod
    def _from_json_checked(cls, data: bytes) -> TlsReport:
        """The path of record: parse into plain values, then every pydantic rule."""
        try:
            # pydantic-core's parser shares repeated strings (host names, IPs, result types)
            # between details, which makes it about twice as fast as orjson on big reports.
            parsed = from_json(data, allow_inf_nan=False)
        except ValueError as exc:
            raise ReportError(f"invalid report: not valid JSON ({exc})") from None
        try:
            fields = ReportFields.model_validate(parsed)
        except ValidationError as exc:
            raise report_error(exc.errors(include_url=False, include_input=False)) from None
        return fields.as_report(data)

    def original(self) -> dict[str, Any]:
        """The report exactly as the sender wrote it (unknown fields included)."""
        if not self._original_json:
            return self.model_dump(mode="json")
        parsed: dict[str, Any] = orjson.loads(self._original_json)
        return parsed

    def model_dump(self, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
        """The normalised report under Python names, as the rules' models dump it: datetimes
        as objects, or (`mode="json"`) as pydantic writes them."""
        start, end = self.date_range.start_datetime, self.date_range.end_datetime
        if mode == "json":
            start = _DATETIME.dump_python(start, mode="json")
            end = _DATETIME.dump_python(end, mode="json")
        return {
            "report_id": self.report_id,
            "organization_name": self.organization_name,
            "contact_info": self.contact_info,
            "date_range": {"start_datetime": start, "end_datetime": end},
            "policies": [result.dump() for result in self.policies],
        }

    def __repr__(self) -> str:  # without the original bytes, which may be megabytes
        return (
            f"TlsReport(report_id={self.report_id!r}, organization_name="
            f"{self.organization_name!r}, contact_info={self.contact_info!r}, "
            f"date_range={self.date_range!r}, policies={self.policies!r})"
        )

    def model_dump_json(self) -> str:
        return orjson.dumps(self.model_dump(mode="json")).decode()

    @property
    def total_successful_sessions(self) -> int:
        return sum(p.summary.total_successful_session_count for p in self.policies)

    @property
    def total_failed_sessions(self) -> int:
        return sum(p.summary.total_failure_session_count for p in self.policies)

    def policy_tallies(self) -> list[tuple[PolicyResult, FailureTally]]:
        """Each policy result with what its failure details add up to (for the daily counts)."""
        return [(result, result.tally()) for result in self.policies]


# --- the fast path ------------------------------------------------------------------------------

# RFC 3339 date-times in the one shape that `datetime.fromisoformat` and pydantic read alike
# (checked by a property test): no leap second, no hour 24, an offset under a day, at most six
# fractional digits. Anything else goes to the rules.
_PLAIN_DATETIME: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"
)


_MATCH_PLAIN_DATETIME: Final = _PLAIN_DATETIME.fullmatch
_FROM_ISOFORMAT: Final = datetime.fromisoformat


def plain_datetime(text: str) -> datetime | None:
    """`text` as UTC if it is a plain RFC 3339 date-time the rules read the same way, else None
    (the rules then decide). The usual `YYYY-MM-DDTHH:MM:SS[Z]` is told by its length and its
    separators alone (`text[4:17:3]` is the `--T::` at 4, 7, 10, 13 and 16), for speed:
    `fromisoformat` then insists on the digits. A zoneless one is read with the `Z` the rules
    assume, which is cheaper than adding the zone afterwards."""
    try:
        if text[4:17:3] == "--T::":
            size = len(text)
            if size == 20 and text[19] == "Z":
                return _FROM_ISOFORMAT(text)  # its tzinfo is UTC itself
            if size == 19:
                return _FROM_ISOFORMAT(text + "Z")
        if _MATCH_PLAIN_DATETIME(text) is None:
            return None
        value = _FROM_ISOFORMAT(text)
        return value if value.tzinfo is UTC else _as_utc(value)
    except ValueError:  # not a real date (Feb 30), or out of range once in UTC
        return None


class _DateRangeText(_Struct, frozen=True):
    """The date range as sent; `TlsReport.from_json` reads it with `plain_datetime`."""

    start: str = msgspec.field(name="start-datetime")
    end: str = msgspec.field(name="end-datetime")


class _ReportBody(_Struct, frozen=True):
    """What msgspec decodes in the fast path: the report as held, with the date range as text
    (msgspec's own datetime reading differs from pydantic's at the edges)."""

    report_id: _NonEmpty = msgspec.field(name="report-id")
    organization_name: _NonEmpty = msgspec.field(name="organization-name")
    date_range: _DateRangeText = msgspec.field(name="date-range")
    policies: list[PolicyResult]
    contact_info: str | None = msgspec.field(default=None, name="contact-info")


_FAST_DECODER: Final = msgspec.json.Decoder(_ReportBody)
_FAST_DECODE: Final = _FAST_DECODER.decode


# --- the rules of record ------------------------------------------------------------------------


class PolicyDescriptorFields(_Model):
    policy_type: str = Field(validation_alias=_alias("policy-type"))
    policy_domain: str = Field(validation_alias=_alias("policy-domain"))
    policy_string: LineList = Field(default_factory=list, validation_alias=_alias("policy-string"))
    mx_host_pattern: StringList = Field(
        default_factory=list, validation_alias=_alias("mx-host-pattern", "mx-host")
    )


class SummaryFields(_Model):
    total_successful_session_count: NonNegativeInt = Field(
        validation_alias=_alias("total-successful-session-count")
    )
    total_failure_session_count: NonNegativeInt = Field(
        validation_alias=_alias("total-failure-session-count")
    )


class PolicyResultFields(_Model):
    policy: PolicyDescriptorFields
    summary: SummaryFields
    failure_details: FailureDetails = Field(
        default_factory=FailureDetails, validation_alias=_alias("failure-details")
    )

    def as_result(self) -> PolicyResult:
        policy, summary = self.policy, self.summary
        return PolicyResult(
            PolicyDescriptor(
                policy.policy_type,
                policy.policy_domain,
                _policy_string=policy.policy_string,
                _mx_host_pattern=policy.mx_host_pattern,
            ),
            Summary(summary.total_successful_session_count, summary.total_failure_session_count),
            self.failure_details._items,
        )


class DateRangeFields(_Model):
    start_datetime: UtcDatetime = Field(validation_alias=_alias("start-datetime"))
    end_datetime: UtcDatetime = Field(validation_alias=_alias("end-datetime"))

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end_datetime < self.start_datetime:
            raise ValueError("end-datetime is before start-datetime")
        return self


class ReportFields(_Model):
    """What a report may look like, and how it is normalised: the rules of record."""

    report_id: str = Field(min_length=1, validation_alias=_alias("report-id"))
    organization_name: str = Field(min_length=1, validation_alias=_alias("organization-name"))
    contact_info: str | None = Field(None, validation_alias=_alias("contact-info"))
    date_range: DateRangeFields = Field(validation_alias=_alias("date-range"))
    policies: list[PolicyResultFields]

    def as_report(self, original_json: bytes) -> TlsReport:
        dates = self.date_range
        return TlsReport(
            self.report_id,
            self.organization_name,
            self.contact_info,
            DateRange(dates.start_datetime, dates.end_datetime),
            [result.as_result() for result in self.policies],
            original_json,
        )


def report_error(problems: Sequence[ErrorDetails]) -> ReportError:
    """The one-line ReportError for the first of the rules' problems."""
    problem = problems[0]
    kind, location = problem["type"], ".".join(str(part) for part in problem["loc"])
    if kind == "model_type" and not location:
        return ReportError("invalid report: the report is not a JSON object")
    message = problem["msg"].removeprefix("Value error, ")
    return ReportError(
        f"invalid report: {location}: {message}" if location else f"invalid report: {message}"
    )
