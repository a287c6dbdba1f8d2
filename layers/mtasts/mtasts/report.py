"""The TLS-RPT report (RFC 8460 §4) as real senders send it, normalised; the original is kept.

Real senders differ from the RFC text: `mx-host` for `mx-host-pattern` (sometimes a string),
`additional-info-uri` for `additional-information`, datetimes without a zone, failure details
without `sending-mta-ip`. All are accepted here and normalised; field names follow the RFC with
`_` for `-`.

Most of a big report's bytes are failure details, and checking them in Python cost more than
parsing the JSON. So `TlsReport.from_json` first decodes the bytes with msgspec: failure details
are typed natively into small `_Detail` structs (no Python object per field) and the rest of the
report comes out as plain values for the pydantic models. msgspec's detail types are narrower than
the pydantic rules (JSON integers only, strings or null, no snake_case or unknown keys), so what it
accepts the rules accept alike; anything it refuses, and any report the models then refuse, is
parsed again by the path of record (`from_json` + `model_validate`, details through
`FailureDetailFields`), which alone decides what is valid and words the error.
`FailureDetail` is a typed view over one `_Detail`, made when it is read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Self, overload

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
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import CoreSchema, core_schema, from_json

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
    return value.astimezone(UTC)


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


def _alias(*names: str) -> Any:
    """Validate from the RFC name (and variants); the Python name is the RFC name with `_`."""
    return AliasChoices(*names, names[0].replace("-", "_"))


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


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


class _Detail(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """One failure detail as stored, under RFC names. msgspec decodes it straight from the JSON in
    the fast path; the types are a strict subset of `FailureDetailFields` (no string or float
    counts, no bools), and unknown or snake_case keys make msgspec refuse it, so that such details
    go to the pydantic rules. `additional-information` is UNSET when absent: the sender may have
    used `additional-info-uri`, which counts only then (as with the pydantic aliases)."""

    result_type: str = msgspec.field(name="result-type")
    failed_session_count: Annotated[int, msgspec.Meta(ge=0)] = msgspec.field(
        name="failed-session-count"
    )
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
        details = _as_list(value)
        if type(details) is not list or not _in_normal_form(details):
            details = [model.normal_form() for model in _DETAIL_LIST.validate_python(details)]
        return cls([_detail_from_dict(detail) for detail in details])

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


# --- the report ---------------------------------------------------------------------------------


class PolicyDescriptor(_Model):
    policy_type: str = Field(validation_alias=_alias("policy-type"))
    policy_domain: str = Field(validation_alias=_alias("policy-domain"))
    policy_string: LineList = Field(default_factory=list, validation_alias=_alias("policy-string"))
    mx_host_pattern: StringList = Field(
        default_factory=list, validation_alias=_alias("mx-host-pattern", "mx-host")
    )


class Summary(_Model):
    total_successful_session_count: NonNegativeInt = Field(
        validation_alias=_alias("total-successful-session-count")
    )
    total_failure_session_count: NonNegativeInt = Field(
        validation_alias=_alias("total-failure-session-count")
    )


class PolicyResult(_Model):
    policy: PolicyDescriptor
    summary: Summary
    failure_details: FailureDetails = Field(
        default_factory=FailureDetails, validation_alias=_alias("failure-details")
    )


class DateRange(_Model):
    start_datetime: UtcDatetime = Field(validation_alias=_alias("start-datetime"))
    end_datetime: UtcDatetime = Field(validation_alias=_alias("end-datetime"))

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end_datetime < self.start_datetime:
            raise ValueError("end-datetime is before start-datetime")
        return self


# What msgspec decodes in the fast path: the failure details as `_Detail`s, everything else as
# plain values under the RFC names, for `TlsReport.model_validate`. Unknown keys, snake_case names
# and values deeper than the report's shape are refused (the path of record then decides), so
# that msgspec never skips or builds anything that pydantic-core's parser would see otherwise
# (its nesting limit, for one). A test keeps the names in step with the models' aliases.
_Scalar = str | int | float | bool | None
_Flat = dict[str, _Scalar | list[_Scalar]]


class _ResultDocument(msgspec.Struct, forbid_unknown_fields=True):
    policy: _Flat | UnsetType = UNSET
    summary: _Flat | UnsetType = UNSET
    failure_details: list[_Detail] | None | UnsetType = msgspec.field(
        default=UNSET, name="failure-details"
    )
    failure_details_: UnsetType = msgspec.field(default=UNSET, name="failure_details")

    def document(self) -> dict[str, Any]:
        result: dict[str, Any] = {"policy": self.policy, "summary": self.summary}
        if (details := self.failure_details) is not UNSET:
            result["failure-details"] = FailureDetails(details)  # None: FailureDetails() too
        return {key: value for key, value in result.items() if value is not UNSET}


class _ReportDocument(msgspec.Struct, forbid_unknown_fields=True):
    policies: list[_ResultDocument]
    report_id: _Scalar | UnsetType = msgspec.field(default=UNSET, name="report-id")
    organization_name: _Scalar | UnsetType = msgspec.field(default=UNSET, name="organization-name")
    contact_info: _Scalar | UnsetType = msgspec.field(default=UNSET, name="contact-info")
    date_range: _Flat | UnsetType = msgspec.field(default=UNSET, name="date-range")
    report_id_: UnsetType = msgspec.field(default=UNSET, name="report_id")
    organization_name_: UnsetType = msgspec.field(default=UNSET, name="organization_name")
    contact_info_: UnsetType = msgspec.field(default=UNSET, name="contact_info")
    date_range_: UnsetType = msgspec.field(default=UNSET, name="date_range")

    def document(self) -> dict[str, Any]:
        report = {
            "report-id": self.report_id,
            "organization-name": self.organization_name,
            "contact-info": self.contact_info,
            "date-range": self.date_range,
            "policies": [result.document() for result in self.policies],
        }
        return {key: value for key, value in report.items() if value is not UNSET}


_FAST_DECODER: Final = msgspec.json.Decoder(_ReportDocument)


class TlsReport(_Model):
    report_id: str = Field(min_length=1, validation_alias=_alias("report-id"))
    organization_name: str = Field(min_length=1, validation_alias=_alias("organization-name"))
    contact_info: str | None = Field(None, validation_alias=_alias("contact-info"))
    date_range: DateRange = Field(validation_alias=_alias("date-range"))
    policies: list[PolicyResult]

    _original_json: bytes = PrivateAttr(default=b"")

    @classmethod
    def from_json(cls, data: bytes) -> TlsReport:
        """Validate the JSON bytes of one report; ReportError with a one-line reason if invalid.

        The fast path only ever says "valid, and read the same way"; whatever it cannot vouch for
        is decided, and its error worded, by `_from_json_checked`."""
        try:
            document = _FAST_DECODER.decode(data).document()
        except (msgspec.DecodeError, ValueError, RecursionError):  # e.g. ValidationError
            return cls._from_json_checked(data)
        try:
            report = cls.model_validate(document)
        except ValidationError:
            return cls._from_json_checked(data)
        report._original_json = data
        return report

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
            report = cls.model_validate(parsed)
        except ValidationError as exc:
            raise ReportError(f"invalid report: {_first_problem(exc)}") from None
        report._original_json = data
        return report

    def original(self) -> dict[str, Any]:
        """The report exactly as the sender wrote it (unknown fields included)."""
        if not self._original_json:
            return self.model_dump(mode="json")
        parsed: dict[str, Any] = orjson.loads(self._original_json)
        return parsed

    @property
    def total_successful_sessions(self) -> int:
        return sum(p.summary.total_successful_session_count for p in self.policies)

    @property
    def total_failed_sessions(self) -> int:
        return sum(p.summary.total_failure_session_count for p in self.policies)


def _first_problem(exc: ValidationError) -> str:
    problem = exc.errors(include_url=False, include_input=False)[0]
    kind, location = problem["type"], ".".join(str(part) for part in problem["loc"])
    if kind == "model_type" and not location:
        return "the report is not a JSON object"
    message = problem["msg"].removeprefix("Value error, ")
    return f"{location}: {message}" if location else message
