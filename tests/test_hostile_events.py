"""Hostile events against the decoder and the rules (issue 18): generated deep nesting, huge
numbers, extreme dates, odd Unicode, wrong types, big strings, NaN and Infinity.

The property: `decode_event` either returns an event or raises `InvalidEvent`, never another
exception; and every event it returns goes through what the worker does with it (the
lifecycle fold, the alerts, the published records: `DossierProcessor.on_event`) without one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dossierflow.rules.catalog import load_catalog
from dossierflow.schemas.event import DossierEvent, EventType, InvalidEvent, decode_event
from dossierflow.streams.processor import DossierProcessor
from dossierflow.streams.state import DossierRecord, decode_record, encode_record

PROCESSOR = DossierProcessor(load_catalog())
HOSTILE = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
BASE: dict[str, Any] = {
    "schema_version": 1,
    "event_id": "E-1",
    "dossier_id": "H-1",
    "type": "RECEIVED",
    "occurred_at": "2026-03-02T08:00:00+07:00",
    "unit_code": "X-01",
    "procedure_code": "1.000894",
    "channel": "ONLINE",
}
INSTANT_FIELDS = ("occurred_at", "due_at", "new_due_at")
CODE_FIELDS = ("event_id", "dossier_id", "unit_code", "procedure_code", "sector_code")
FIELDS = [*BASE, "sequence", "sector_code", "online_level", "processing_time", "due_at",
          "new_due_at", "reason", "extra"]

_offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=14)),
     timezone(-timedelta(hours=12)), timezone(timedelta(hours=23, minutes=59)),
     timezone(-timedelta(hours=23, minutes=59))]
)


def _near(day: datetime) -> st.SearchStrategy[str]:
    """Instants within two days of `day` (naive), in any of the offsets."""
    return st.datetimes(day - timedelta(days=2), day + timedelta(days=2), timezones=_offsets).map(
        datetime.isoformat
    )


instants = st.one_of(
    st.sampled_from(
        ["9999-12-31T23:59:59.999999-23:59", "0001-01-01T00:00:00+23:59",
         "2026-02-30T08:00:00+07:00", "2026-03-02T08:00:00", "2026-03-02T25:00:00+07:00",
         "2026-03-02T08:00:00+99:00", "+2026-03-02T08:00:00Z", "2026-03-02"]
    ),
    _near(datetime(9999, 12, 29)),
    _near(datetime(1, 1, 3)),
    _near(datetime(2000, 1, 1)),
    _near(datetime(2100, 1, 1)),
    st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=_offsets).map(
        datetime.isoformat
    ),
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([5e-324, 2.2e-308, 1e-9, 0.0001, 1000, 1000.000001, 3650, 1e308, 2**53,
                     2**64 - 1, 2**64]),
)
odd_text = st.text(st.characters(exclude_categories=()), max_size=80)
big_text = st.integers(0, 70_000).map(lambda n: "Ệ" * n)
wrong_types: st.SearchStrategy[Any] = st.sampled_from(
    [None, True, False, [], {}, "", 0, -1, 1.5, [1, [2]], {"a": {}}]
)
processing_times = st.one_of(
    st.fixed_dictionaries(
        {"value": numbers, "unit": st.sampled_from(["working_days", "working_hours",
                                                    "calendar_days", "weeks"])}
    ),
    wrong_types,
)
any_value = st.one_of(instants, numbers, odd_text, big_text, wrong_types, processing_times)


def hostile_value(name: str) -> st.SearchStrategy[Any]:
    """Mostly what could pass for the field (extremes, odd text), sometimes anything."""
    if name in INSTANT_FIELDS:
        likely = instants
    elif name == "sequence":
        likely = numbers
    elif name == "processing_time":
        likely = processing_times
    else:
        likely = st.one_of(odd_text, big_text, st.sampled_from([t.value for t in EventType]))
    return st.one_of(likely, likely, any_value)


fragments = st.one_of(st.sampled_from([31, 32, 33, 1000, 5000, 30_000]), st.integers(1, 30_000))
"""Sizes of the raw JSON put where a value goes, for what json.dumps cannot write."""


def fragment(size: int) -> st.SearchStrategy[str]:
    return st.sampled_from(
        ["[" * size + "]" * size, '{"a":' * size + "1" + "}" * size, "[" * size,
         "1" + "0" * size, "1e" + "9" * size, "NaN", "-Infinity", '"\\ud800"', '"\\u0000"']
    )


@st.composite
def hostile_lines(draw: st.DrawFn) -> bytes:
    """A valid event with some fields replaced or removed, or raw bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.one_of(st.binary(max_size=300), fragments.flatmap(fragment).map(str.encode)))
    fields = dict(BASE)
    fields["type"] = draw(st.sampled_from([t.value for t in EventType]))
    if fields["type"] == "APOLOGY_ISSUED":
        fields["new_due_at"] = "2026-03-09T17:00:00+07:00"
    for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4)):
        if draw(st.integers(0, 5)) == 0:
            fields.pop(name, None)
        else:
            fields[name] = draw(hostile_value(name))
    text = json.dumps(fields, allow_nan=True, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        name = draw(st.one_of(st.just("extra"), st.sampled_from(FIELDS)))  # unknown: skipped
        text = text[:-1] + f', "{name}": {draw(fragments.flatmap(fragment))}}}'
    return text.encode("utf-8", "surrogatepass")


def _only_invalid_or_decoded(line: bytes) -> DossierEvent | None:
    try:
        return decode_event(line)
    except InvalidEvent as exc:
        assert exc.reason and len(exc.reason) <= 300
        return None


@HOSTILE
@given(line=hostile_lines())
def test_the_decoder_raises_only_invalid_event(line: bytes) -> None:
    _only_invalid_or_decoded(line)


def _through_the_worker(events: list[DossierEvent], clock: datetime) -> None:
    """What the worker does per event, its state's round trip through the table included."""
    record: DossierRecord | None = None
    for event in events:
        effects = PROCESSOR.on_event(record, event, partition=0, clock=clock)
        record = effects.record
        if record is not None:
            record = decode_record(encode_record(record))
            PROCESSOR.on_timer(record, clock + timedelta(days=400))


@HOSTILE
@given(
    lines=st.lists(hostile_lines(), min_size=1, max_size=6),
    days_after=st.integers(-400, 4000),
)
def test_an_event_the_decoder_accepts_never_fails_in_the_rules(
    lines: list[bytes], days_after: int
) -> None:
    history = [decode_event(json.dumps(BASE))]
    for number, line in enumerate(lines, start=2):
        event = _only_invalid_or_decoded(line)
        if event is not None:  # one dossier, distinct events
            history.append(msgspec.structs.replace(event, dossier_id="H-1", event_id=f"E-{number}"))
    latest = max(event.occurred_at for event in history)
    _through_the_worker(history, latest + timedelta(days=days_after))


@pytest.mark.parametrize(
    ("name", "value"),
    [("occurred_at", "2000-01-01T00:00:00+14:00"), ("occurred_at", "2099-12-31T23:59:59-12:00"),
     ("due_at", "2099-12-31T23:59:59-12:00"), ("due_at", "2000-01-01T00:00:00+14:00")],
)
@pytest.mark.parametrize(
    "processing_time",
    [{"value": 1000, "unit": unit} for unit in ("working_days", "working_hours", "calendar_days")]
    + [{"value": 5e-324, "unit": "working_hours"}],
)
def test_the_extremes_the_schema_accepts_go_through_the_rules(
    name: str, value: str, processing_time: dict[str, Any]
) -> None:
    event = decode_event(json.dumps({**BASE, name: value, "processing_time": processing_time}))
    _through_the_worker([event], event.occurred_at)
    _through_the_worker([event], datetime(2026, 1, 1, tzinfo=UTC))


def test_a_state_written_before_the_bounds_still_loads() -> None:
    """The bounds are the wire's (`decode_event`), not the model's, which is also the
    worker's stored state: a record stored before them must not stop the worker on load."""
    old = DossierEvent(
        schema_version=1, event_id="E-1", dossier_id="H\n1", type=EventType.RESUMED,
        occurred_at=datetime(1999, 12, 31, 23, tzinfo=UTC), sequence=2**60,
    )
    record = DossierRecord(history=[old], partition=0)
    assert decode_record(encode_record(record)).history == [old]
