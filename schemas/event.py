"""Event schema v1: the contract of the events topic (docs/domain.md, "Events").

One msgspec model validates and decodes JSON in one step; `decode_event` turns every
kind of bad input into an `InvalidEvent` with a reason naming the field and the problem.
Unknown extra fields are ignored and never kept.

The schema bounds everything the rules and the stores compute with (size, nesting, years,
numbers, characters of codes), so that an event it accepts cannot fail later: an event of
year 9999 overflowed the calendar, 1,000 nested arrays the decoder's stack (issue 18).
"""

from __future__ import annotations

import codecs
import enum
import re
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Annotated, Literal

import msgspec

MAX_EVENT_BYTES = 64 * 1024
"""Events larger than this are rejected before parsing (dead-lettered as oversized)."""
MAX_NESTING = 32
"""Deepest nesting of arrays and objects accepted (the fields of v1 need 2): checked
before parsing, because the parser recurses once per level."""
FIRST_YEAR, LAST_YEAR = 2000, 2099
"""The years an instant may be written in: the calendar's holiday data covers them, and a
deadline computed from them stays far from the limits of Python's dates."""
MAX_PROCESSING_TIME = 1000
"""Largest `processing_time.value`, whatever its unit: 1,000 working days (about four years)
stays far inside the calendar's ten-year search for working time (3,650 did not)."""
MAX_SEQUENCE = 2**53 - 1
"""The largest integer every JSON reader holds exactly (RFC 8259, section 6)."""
MAX_REASON_CHARS = 300
"""Longest `InvalidEvent.reason`: the parser quotes bad values, which may be 64 KiB long."""
_HIDDEN_CHARACTERS = "\\x00-\\x1f\\x7f-\\x9f\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2069\\ufeff"
"""What a code may not hold: control characters (C0, DEL, C1: a line break would forge log
lines) and invisible formatting ones (zero-width, bidirectional overrides and isolates, line
separators, BOM: a code must look like what it is). Regex escapes, read alike by Python
and ECMAScript."""
_HIDDEN = re.compile(f"[{_HIDDEN_CHARACTERS}]")
_CODE_PATTERN = f"^[^{_HIDDEN_CHARACTERS}]*(?![\\s\\S])"
"""The JSON Schema's form; `(?![\\s\\S])` is the end of the string in both dialects."""


class EventType(enum.StrEnum):
    SUBMITTED = "SUBMITTED"
    RECEIVED = "RECEIVED"
    NOT_ACCEPTED = "NOT_ACCEPTED"
    TRANSFERRED = "TRANSFERRED"
    SUPPLEMENT_REQUESTED = "SUPPLEMENT_REQUESTED"
    FINANCIAL_OBLIGATION_REQUESTED = "FINANCIAL_OBLIGATION_REQUESTED"
    RESUMED = "RESUMED"
    WITHDRAWN = "WITHDRAWN"
    STOPPED = "STOPPED"
    RESOLVED = "RESOLVED"
    RETURNED = "RETURNED"
    APOLOGY_ISSUED = "APOLOGY_ISSUED"
    STEP_STARTED = "STEP_STARTED"
    """A processing step (bước xử lý of the phiếu kiểm soát) began in a department."""
    STEP_COMPLETED = "STEP_COMPLETED"
    """The step `step_id` ended (the next STEP_STARTED or the dossier's end also ends it)."""


class Channel(enum.StrEnum):
    IN_PERSON = "IN_PERSON"
    ONLINE = "ONLINE"
    POSTAL = "POSTAL"


class OnlineLevel(enum.StrEnum):
    FULL = "FULL"
    PARTIAL = "PARTIAL"


class TimeUnit(enum.StrEnum):
    WORKING_DAYS = "working_days"
    WORKING_HOURS = "working_hours"
    CALENDAR_DAYS = "calendar_days"
    SAME_DAY = "same_day"
    """Giải quyết trong ngày: due at the close of the working day the clock starts on
    (rules/lifecycle.py `deadline`; docs/domain.md, "Same-day procedures")."""


SAME_DAY_VALUE = 1
"""The only `value` of a `same_day` processing time: one day, the day the clock starts."""


# The `extra_json_schema` bounds are the wire's, checked by `decode_event` (`_check_bounds`).
AwareDatetime = Annotated[
    datetime, msgspec.Meta(tz=True, extra_json_schema={"pattern": "^20[0-9]{2}-"})
]
"""Its year as written between FIRST_YEAR and LAST_YEAR (the pattern's form of them)."""
EventId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=128, extra_json_schema={"pattern": _CODE_PATTERN})
]
Code = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, extra_json_schema={"pattern": _CODE_PATTERN})
]
Label = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, extra_json_schema={"pattern": _CODE_PATTERN})
]
"""A short name shown to people (alert texts): like a code, no hidden character."""
SequenceNumber = Annotated[int, msgspec.Meta(ge=0, extra_json_schema={"maximum": MAX_SEQUENCE})]


# gc=False on both: frozen values of scalars cannot be part of a reference cycle, so the
# cyclic GC need not walk the many events replay or a worker's records hold.
class ProcessingTime(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """Thời hạn giải quyết: a statutory processing time."""

    value: Annotated[float, msgspec.Meta(gt=0, extra_json_schema={"maximum": MAX_PROCESSING_TIME})]
    unit: TimeUnit

    def __post_init__(self) -> None:
        if self.unit is TimeUnit.SAME_DAY and self.value != SAME_DAY_VALUE:
            raise ValueError(
                f"`same_day` is one day: `value` must be {SAME_DAY_VALUE}, not {self.value:g}"
            )


_REQUIRED_FIELDS: dict[EventType, tuple[str, ...]] = {
    EventType.RECEIVED: ("unit_code", "procedure_code", "channel"),
    EventType.TRANSFERRED: ("unit_code",),
    EventType.APOLOGY_ISSUED: ("new_due_at",),
    EventType.STEP_STARTED: ("step_id", "step_unit_code", "step_due_at"),
    EventType.STEP_COMPLETED: ("step_id",),
}


class DossierEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One lifecycle event of a dossier (hồ sơ thủ tục hành chính)."""

    schema_version: Literal[1]
    event_id: EventId
    dossier_id: Code
    type: EventType
    occurred_at: AwareDatetime
    sequence: SequenceNumber | None = None
    unit_code: Code | None = None
    procedure_code: Code | None = None
    sector_code: Code | None = None
    channel: Channel | None = None
    online_level: OnlineLevel | None = None
    processing_time: ProcessingTime | None = None
    due_at: AwareDatetime | None = None
    new_due_at: AwareDatetime | None = None
    reason: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    # --- processing steps (rules/steps.py; docs/domain.md, "Processing steps") ------------
    step_id: Code | None = None
    """The step's identity within the dossier, the same on its STEP_STARTED and
    STEP_COMPLETED."""
    step_unit_code: Code | None = None
    """The department that handles the step (`PhongBanXuLy`)."""
    step_due_at: AwareDatetime | None = None
    """The step's own deadline (`NgayKetThucTheoQuyDinh`)."""
    step_name: Label | None = None
    """What the step is (e.g. "Thẩm định hồ sơ"): a label of the procedure's process, never
    the official's free-text note (`NoiDungXuLy`)."""

    def __post_init__(self) -> None:
        for name in _REQUIRED_FIELDS.get(self.type, ()):
            if getattr(self, name) is None:
                raise ValueError(f"`{name}` is required for {self.type} - at `$.{name}`")


_CODE_FIELDS = (
    "event_id", "dossier_id", "unit_code", "procedure_code", "sector_code", "step_id",
    "step_unit_code", "step_name",
)
_INSTANT_FIELDS = ("occurred_at", "due_at", "new_due_at", "step_due_at")


class InvalidEvent(ValueError):
    """Bytes that are not a valid v1 event; `reason` says which field and what is wrong."""

    def __init__(self, reason: str) -> None:
        reason = _shortened(reason)
        super().__init__(reason)
        self.reason = reason


FAILED = "failed"
"""The problem of a dead letter whose event made the rules (or, a bug, the decoder) raise."""


def rejection_reason(error: Exception) -> str:
    """Why an event that raised `error` is dead-lettered or skipped: an `InvalidEvent`'s
    reason; for any other exception (a bug, or a catalogue the rules cannot compute with,
    such as a calendar without working days) `failed: <type>: <message>`."""
    if isinstance(error, InvalidEvent):
        return error.reason
    return _shortened(f"{FAILED}: {type(error).__name__}: {error}")


def _shortened(reason: str) -> str:
    """`reason` cut to MAX_REASON_CHARS in its middle, keeping the field it ends with."""
    if len(reason) <= MAX_REASON_CHARS:
        return reason
    head, at, path = reason.rpartition(" - at `")
    tail = at + path if head else ""
    return (reason[: MAX_REASON_CHARS - len(tail) - 1] + "…" + tail)[:MAX_REASON_CHARS]


_decoder = msgspec.json.Decoder(DossierEvent)
_encoder = msgspec.json.Encoder()


def decode_event(raw: bytes | str, max_bytes: int = MAX_EVENT_BYTES) -> DossierEvent:
    """Validate and decode one event, or raise `InvalidEvent` with a precise reason."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise InvalidEvent(f"oversized: {len(data)} bytes, the limit is {max_bytes}")
    # Counting brackets is nearly free; only an event with many is scanned.
    if data.count(b"[") + data.count(b"{") > MAX_NESTING:
        depth = _nesting(data)
        if depth > MAX_NESTING:
            raise InvalidEvent(f"too deeply nested: {depth} levels, the limit is {MAX_NESTING}")
    try:
        event = _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise InvalidEvent(f"invalid: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidEvent(_undecodable(data, exc)) from None
    _check_bounds(event)
    return event


def _check_bounds(event: DossierEvent) -> None:
    """The bounds of the wire (the `extra_json_schema` ones) on a decoded event.

    Checked here, not by the model, because the model is also the worker's stored state: a
    state written before a bound existed must still load, and the state keeps instants in
    UTC, whose year is not always the year the event was written in.
    """
    for name in _CODE_FIELDS:
        code: str | None = getattr(event, name)
        if code is not None and _HIDDEN.search(code):
            raise InvalidEvent(
                f"invalid: `{name}` holds a control or invisible formatting character"
                f" - at `$.{name}`"
            )
    for name in _INSTANT_FIELDS:
        instant: datetime | None = getattr(event, name)
        if instant is not None and not FIRST_YEAR <= instant.year <= LAST_YEAR:
            raise InvalidEvent(
                f"invalid: `{name}` must be in the years {FIRST_YEAR}-{LAST_YEAR}, not "
                f"{instant.year} - at `$.{name}`"
            )
    if event.sequence is not None and event.sequence > MAX_SEQUENCE:
        raise InvalidEvent(f"invalid: Expected `int` <= {MAX_SEQUENCE} - at `$.sequence`")
    if event.processing_time is not None and event.processing_time.value > MAX_PROCESSING_TIME:
        raise InvalidEvent(
            f"invalid: Expected `float` <= {MAX_PROCESSING_TIME} - at `$.processing_time.value`"
        )


_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)
"""A string (to its closing quote, or the end of an unterminated one: linear time) or a
bracket."""
_DEPTH_STEP = {b"[": 1, b"{": 1, b"]": -1, b"}": -1}


def _nesting(data: bytes) -> int:
    """The deepest nesting of arrays and objects in `data`, brackets in strings not counted."""
    depth = deepest = 0
    for token in _TOKENS.findall(data):
        depth += _DEPTH_STEP.get(token, 0)
        deepest = max(deepest, depth)
    return deepest


def _undecodable(data: bytes, error: Exception) -> str:
    """The reason for bytes msgspec could not parse, in the product's words.

    The encoding is checked here, on the failure path only, because msgspec's report of bad
    UTF-8 differs between its versions (an exception type in one, a message in another) and
    dead-letter reasons and their metric label must not change with a library upgrade.
    """
    if data.startswith(codecs.BOM_UTF8):
        # A file reader strips a byte-order mark; on a Kafka message it is the producer's bug.
        return "not JSON: starts with a UTF-8 byte-order mark (EF BB BF)"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not UTF-8: byte {bad.start} (0x{data[bad.start]:02x}) is not valid UTF-8"
    return f"not JSON: {error}"


def file_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """The lines of a JSONL file of events, a UTF-8 byte-order mark before the first dropped.

    Editors on Windows save one; in a file it is a marker of the encoding, not part of the
    first event. On a Kafka message the same bytes are a malformed event (see `_undecodable`).
    """
    lines = iter(stream)
    first = next(lines, None)
    if first is None:
        return
    yield first.removeprefix(codecs.BOM_UTF8)
    yield from lines


def without_free_text(event: DossierEvent) -> DossierEvent:
    """`event` without its `reason`, the only free text of v1 (it may hold personal data)."""
    return event if event.reason is None else msgspec.structs.replace(event, reason=None)


def encode_event(event: DossierEvent) -> bytes:
    return _encoder.encode(event)
