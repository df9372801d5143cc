"""Event schema v1: the contract of the events topic (DOMAIN.md, "Event schema, version 1").

One msgspec model validates and decodes JSON in one step; `decode_event` turns every
kind of bad input into an `InvalidEvent` with a reason naming the field and the problem.
Unknown extra fields are ignored and never kept.
"""

from __future__ import annotations

import codecs
import enum
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Annotated, Literal

import msgspec

MAX_EVENT_BYTES = 64 * 1024
"""Events larger than this are rejected before parsing (dead-lettered as oversized)."""


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


AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


# gc=False on both: frozen values of scalars cannot be part of a reference cycle, so the
# cyclic GC need not walk the many events replay or a worker's records hold.
class ProcessingTime(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """Thời hạn giải quyết: a statutory processing time."""

    value: Annotated[float, msgspec.Meta(gt=0, le=3650)]
    unit: TimeUnit


_REQUIRED_FIELDS: dict[EventType, tuple[str, ...]] = {
    EventType.RECEIVED: ("unit_code", "procedure_code", "channel"),
    EventType.TRANSFERRED: ("unit_code",),
    EventType.APOLOGY_ISSUED: ("new_due_at",),
}


class DossierEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One lifecycle event of a dossier (hồ sơ thủ tục hành chính)."""

    schema_version: Literal[1]
    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    dossier_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    type: EventType
    occurred_at: AwareDatetime
    sequence: Annotated[int, msgspec.Meta(ge=0)] | None = None
    unit_code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    procedure_code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    sector_code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    channel: Channel | None = None
    online_level: OnlineLevel | None = None
    processing_time: ProcessingTime | None = None
    due_at: AwareDatetime | None = None
    new_due_at: AwareDatetime | None = None
    reason: Annotated[str, msgspec.Meta(max_length=1000)] | None = None

    def __post_init__(self) -> None:
        for name in _REQUIRED_FIELDS.get(self.type, ()):
            if getattr(self, name) is None:
                raise ValueError(f"`{name}` is required for {self.type} - at `$.{name}`")


class InvalidEvent(ValueError):
    """Bytes that are not a valid v1 event; `reason` says which field and what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_decoder = msgspec.json.Decoder(DossierEvent)
_encoder = msgspec.json.Encoder()


def decode_event(raw: bytes | str, max_bytes: int = MAX_EVENT_BYTES) -> DossierEvent:
    """Validate and decode one event, or raise `InvalidEvent` with a precise reason."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise InvalidEvent(f"oversized: {len(data)} bytes, the limit is {max_bytes}")
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise InvalidEvent(f"invalid: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidEvent(_undecodable(data, exc)) from None


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


def encode_event(event: DossierEvent) -> bytes:
    return _encoder.encode(event)
