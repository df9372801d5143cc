"""Event schema v1: `decode_event` and the published JSON Schema (docs/domain.md, "Events")."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import jsonschema
import pytest

from dossierflow.schemas.event import (
    MAX_EVENT_BYTES,
    Channel,
    DossierEvent,
    EventType,
    InvalidEvent,
    ProcessingTime,
    TimeUnit,
    decode_event,
    encode_event,
)
from dossierflow.schemas.jsonschema import SCHEMA_PATH, event_json_schema, render
from tests.fixtures import WORKED_EXAMPLES

BASE: dict[str, Any] = {
    "schema_version": 1,
    "event_id": "E-1",
    "dossier_id": "H-2026-000001",
    "type": "RESUMED",
    "occurred_at": "2026-03-02T08:00:00+07:00",
}
RECEIVED: dict[str, Any] = {
    **BASE,
    "type": "RECEIVED",
    "unit_code": "X-01",
    "procedure_code": "1.000894",
    "channel": "IN_PERSON",
}


def raw(fields: dict[str, Any], drop: tuple[str, ...] = ()) -> bytes:
    return json.dumps({k: v for k, v in fields.items() if k not in drop}).encode()


def reason(data: bytes | str) -> str:
    with pytest.raises(InvalidEvent) as info:
        decode_event(data)
    assert isinstance(info.value, ValueError)
    return info.value.reason


# --- valid ------------------------------------------------------------------------------------


def test_valid_received_event() -> None:
    event = decode_event(
        raw(
            {
                **RECEIVED,
                "sequence": 3,
                "sector_code": "CIVIL",
                "online_level": "FULL",
                "processing_time": {"value": 1.5, "unit": "working_days"},
                "due_at": "2026-03-03T17:00:00+07:00",
                "reason": "Nộp trực tiếp",
            }
        )
    )
    assert event.type is EventType.RECEIVED
    assert event.channel is Channel.IN_PERSON
    assert event.occurred_at == datetime.fromisoformat("2026-03-02T08:00:00+07:00")
    assert event.occurred_at.utcoffset() == timedelta(hours=7)
    assert event.processing_time == ProcessingTime(1.5, TimeUnit.WORKING_DAYS)
    assert event.sequence == 3
    assert event.reason == "Nộp trực tiếp"


def test_decode_accepts_str_and_utc_offsets() -> None:
    event = decode_event(raw({**BASE, "occurred_at": "2026-03-02T01:00:00Z"}).decode())
    assert event.occurred_at == datetime.fromisoformat("2026-03-02T08:00:00+07:00")


def test_unknown_extra_fields_are_ignored_and_not_kept() -> None:
    event = decode_event(raw({**BASE, "applicant_name": "Nguyễn Văn A", "extra": {"x": 1}}))
    assert not hasattr(event, "applicant_name")
    assert b"applicant_name" not in encode_event(event)


def test_encode_round_trip() -> None:
    event = decode_event(raw(RECEIVED))
    assert decode_event(encode_event(event)) == event


@pytest.mark.parametrize("kind", [k.value for k in EventType])
def test_every_event_type_decodes(kind: str) -> None:
    fields = {**BASE, "type": kind, "unit_code": "X-01", "procedure_code": "P", "channel": "ONLINE"}
    fields["new_due_at"] = "2026-03-09T17:00:00+07:00"
    fields |= {"step_id": "1", "step_unit_code": "PB-1", "step_due_at": fields["new_due_at"]}
    assert decode_event(raw(fields)).type.value == kind


# --- invalid: each reason names the field -----------------------------------------------------


@pytest.mark.parametrize(
    "name", ["schema_version", "event_id", "dossier_id", "type", "occurred_at"]
)
def test_missing_required_field(name: str) -> None:
    text = reason(raw(BASE, drop=(name,)))
    assert "missing required field" in text
    assert f"`{name}`" in text


@pytest.mark.parametrize(
    ("name", "value", "path"),
    [
        ("event_id", 17, "$.event_id"),
        ("sequence", "3", "$.sequence"),
        ("sequence", -1, "$.sequence"),
        ("occurred_at", 1767225600, "$.occurred_at"),
        ("occurred_at", "yesterday", "$.occurred_at"),
        ("schema_version", 2, "$.schema_version"),
        ("event_id", "", "$.event_id"),
        ("dossier_id", "x" * 65, "$.dossier_id"),
        ("reason", "x" * 1001, "$.reason"),
        ("channel", "FAX", "$.channel"),
        ("online_level", "HALF", "$.online_level"),
        ("processing_time", {"value": 0, "unit": "working_days"}, "$.processing_time.value"),
        ("processing_time", {"value": 3, "unit": "weeks"}, "$.processing_time.unit"),
        ("processing_time", {"value": 3}, "$.processing_time"),
        ("due_at", "2026-03-02", "$.due_at"),
    ],
)
def test_wrong_type_or_value(name: str, value: Any, path: str) -> None:
    text = reason(raw({**BASE, name: value}))
    assert text.startswith("invalid: ")
    assert text.endswith(f"at `{path}`")


def test_unknown_type() -> None:
    text = reason(raw({**BASE, "type": "APPROVED"}))
    assert "'APPROVED'" in text and "`$.type`" in text


def test_naive_datetime() -> None:
    text = reason(raw({**BASE, "occurred_at": "2026-03-02T08:00:00"}))
    assert "timezone" in text and "`$.occurred_at`" in text
    text = reason(raw({**BASE, "type": "APOLOGY_ISSUED", "new_due_at": "2026-03-09T17:00:00"}))
    assert "`$.new_due_at`" in text


@pytest.mark.parametrize("name", ["unit_code", "procedure_code", "channel"])
def test_received_needs_unit_procedure_and_channel(name: str) -> None:
    text = reason(raw(RECEIVED, drop=(name,)))
    assert f"`{name}` is required for RECEIVED" in text
    assert f"`$.{name}`" in text
    assert f"`{name}`" in reason(raw({**RECEIVED, name: None}))


def test_transferred_needs_unit_code() -> None:
    text = reason(raw({**BASE, "type": "TRANSFERRED"}))
    assert "`unit_code` is required for TRANSFERRED" in text


def test_apology_needs_new_due_at() -> None:
    text = reason(raw({**BASE, "type": "APOLOGY_ISSUED"}))
    assert "`new_due_at` is required for APOLOGY_ISSUED" in text


def test_model_enforces_the_conditional_fields_on_construction() -> None:
    with pytest.raises(ValueError, match="unit_code"):
        DossierEvent(
            schema_version=1,
            event_id="e",
            dossier_id="d",
            type=EventType.TRANSFERRED,
            occurred_at=datetime.fromisoformat("2026-03-02T08:00:00+07:00"),
        )


@pytest.mark.parametrize(
    "data", [b"not json", b"{", b"", b'{"schema_version": 1,}', b"[1, 2]", b"null", b'"event"']
)
def test_not_json_or_not_an_object(data: bytes) -> None:
    text = reason(data)
    assert text.startswith(("not JSON", "invalid"))
    if data.startswith((b"[", b"null", b'"')):
        assert "Expected `object`" in text


# The product's own wording, whatever msgspec's version says about bad UTF-8.
def test_not_utf8_inside_a_string_names_the_byte() -> None:
    data = b'{"reason": "\xff\xfe"}'
    assert reason(data) == "not UTF-8: byte 12 (0xff) is not valid UTF-8"


def test_not_utf8_outside_a_string_names_the_byte() -> None:
    assert reason(b"\xff" + raw(BASE)) == "not UTF-8: byte 0 (0xff) is not valid UTF-8"


def test_a_truncated_character_is_not_utf8() -> None:
    data = b'{"reason": "H\xc3"}'  # "à" (C3 A0) cut after its first byte
    assert reason(data) == "not UTF-8: byte 13 (0xc3) is not valid UTF-8"


def test_a_byte_order_mark_on_a_message_is_named() -> None:
    assert reason(b"\xef\xbb\xbf" + raw(BASE)) == (
        "not JSON: starts with a UTF-8 byte-order mark (EF BB BF)"
    )


def test_oversized() -> None:
    data = raw({**BASE, "padding": "x" * MAX_EVENT_BYTES})
    text = reason(data)
    assert text.startswith("oversized")
    assert str(MAX_EVENT_BYTES) in text and str(len(data)) in text
    with pytest.raises(InvalidEvent, match="oversized"):
        decode_event(raw(BASE), max_bytes=10)


# --- the published JSON Schema -----------------------------------------------------------------


def test_committed_schema_file_is_up_to_date() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render(), (
        "schemas/event.schema.json is stale: run `python -m dossierflow.schemas.jsonschema`"
    )


def test_schema_identity_and_conditionals() -> None:
    schema = event_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"] and schema["description"]
    assert schema["required"] == ["schema_version", "event_id", "dossier_id", "type", "occurred_at"]
    conditional = {
        rule["if"]["properties"]["type"]["const"]: rule["then"]["required"]
        for rule in schema["allOf"]
    }
    assert conditional == {
        "RECEIVED": ["unit_code", "procedure_code", "channel"],
        "TRANSFERRED": ["unit_code"],
        "APOLOGY_ISSUED": ["new_due_at"],
        "STEP_STARTED": ["step_id", "step_unit_code", "step_due_at"],
        "STEP_COMPLETED": ["step_id"],
    }
    assert schema.get("additionalProperties", True) is not False  # extra fields are allowed
    assert set(schema["$defs"]["EventType"]["enum"]) == {k.value for k in EventType}


@pytest.fixture
def validator() -> Any:
    """A draft 2020-12 validator of the schema (`jsonschema` is a test dependency)."""
    schema = event_json_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_worked_examples_validate_against_the_schema(validator: Any) -> None:
    text = WORKED_EXAMPLES.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) >= 20
    for line in lines:
        errors = list(validator.iter_errors(json.loads(line)))
        assert not errors, (line, [e.message for e in errors])


@pytest.mark.parametrize(
    "fields",
    [
        {k: v for k, v in RECEIVED.items() if k != "channel"},
        {**RECEIVED, "unit_code": None},
        {**BASE, "type": "TRANSFERRED"},
        {**BASE, "type": "APOLOGY_ISSUED"},
        {**BASE, "type": "APPROVED"},
        {**BASE, "type": "STEP_STARTED", "step_id": "1", "step_unit_code": "PB-1"},
        {**BASE, "type": "STEP_COMPLETED"},
        {**BASE, "type": "STEP_COMPLETED", "step_id": "1\n2"},
        {**BASE, "sequence": -1},
        {k: v for k, v in BASE.items() if k != "event_id"},
    ],
)
def test_schema_and_model_reject_the_same_events(validator: Any, fields: dict[str, Any]) -> None:
    assert not validator.is_valid(fields)
    with pytest.raises(InvalidEvent):
        decode_event(raw(fields))


def test_a_step_event_is_valid_for_the_schema_and_the_model(validator: Any) -> None:
    fields = {**BASE, "type": "STEP_STARTED", "step_id": "2", "step_unit_code": "PB-TNMT",
              "step_due_at": "2026-03-03T11:30:00+07:00", "step_name": "Thẩm định hồ sơ"}
    assert validator.is_valid(fields)
    assert decode_event(raw(fields)).step_unit_code == "PB-TNMT"


def test_schema_accepts_extra_fields_like_the_model(validator: Any) -> None:
    fields = {**RECEIVED, "whatever": [1, 2]}
    assert validator.is_valid(fields)
    decode_event(raw(fields))


# --- bounds: a record that passed the schema cannot fail later (issue 18) ----------------------


@pytest.mark.parametrize("depth", [33, 1000, 30_000])
def test_deep_nesting_is_refused_before_parsing(depth: int) -> None:
    """A 2 KB event of 1,000 nested arrays raised RecursionError out of the decoder."""
    nested = "[" * depth + "]" * depth
    text = reason(raw(BASE)[:-1] + b', "extra": ' + nested.encode() + b"}")
    assert text == f"too deeply nested: {depth + 1} levels, the limit is 32"
    assert reason(nested) == f"too deeply nested: {depth} levels, the limit is 32"


def test_nesting_up_to_the_limit_and_brackets_in_strings_are_accepted() -> None:
    extra = "[" * 31 + "]" * 31
    assert decode_event(raw(BASE)[:-1] + b', "extra": ' + extra.encode() + b"}")
    brackets = '[{"\\"' * 5000  # inside a string: not nesting
    assert decode_event(raw({**BASE, "reason": brackets[:1000], "note": brackets})).reason


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("occurred_at", "9999-12-31T09:00:00+07:00"),
        ("occurred_at", "0001-01-01T00:30:00+07:00"),
        ("occurred_at", "1999-12-31T23:59:59+07:00"),
        ("occurred_at", "2100-01-01T00:00:00+07:00"),
        ("due_at", "9999-12-31T17:00:00+07:00"),
        ("new_due_at", "0001-01-01T00:00:00Z"),
    ],
)
def test_instants_outside_the_years_2000_to_2099_are_refused(name: str, value: str) -> None:
    """A schema-valid event of year 9999 (or 1) raised OverflowError in the calendar."""
    text = reason(raw({**BASE, name: value}))
    assert text == (
        f"invalid: `{name}` must be in the years 2000-2099, not {value[:4].lstrip('0')}"
        f" - at `$.{name}`"
    )


@pytest.mark.parametrize(
    "value", ["2000-01-01T00:00:00+07:00", "2000-01-01T00:00:00+14:00", "2099-12-31T23:59:59-12:00"]
)
def test_instants_at_the_edges_of_the_range_are_accepted(value: str) -> None:
    assert decode_event(raw({**BASE, "occurred_at": value})).occurred_at.year == int(value[:4])


def test_sequence_is_bounded_by_the_largest_exact_json_integer() -> None:
    """2**64 decoded, then could not be written to the worker's state (msgpack) or UInt64."""
    assert decode_event(raw({**BASE, "sequence": 2**53 - 1})).sequence == 2**53 - 1
    for value in (2**53, 2**64):
        assert reason(raw({**BASE, "sequence": value})).endswith("at `$.sequence`")


@pytest.mark.parametrize("name", ["event_id", "dossier_id", "unit_code", "procedure_code",
                                  "sector_code"])
@pytest.mark.parametrize("character", ["\x00", "\n", "\x1b", "\x7f", "\x85", "\u202e",
                                       "\u200b", "\u2028", "\ufeff"])
def test_codes_hold_no_control_or_invisible_formatting_character(
    name: str, character: str
) -> None:
    for value in (f"X{character}1", f"X1{character}"):  # Python's `$` matches before a final \n
        text = reason(raw({**RECEIVED, name: value}))
        assert text.startswith("invalid: ") and text.endswith(f"at `$.{name}`")


def test_vietnamese_letters_in_codes_are_accepted() -> None:
    assert decode_event(raw({**RECEIVED, "unit_code": "UBND-Phường-Đồng-Xuân"})).unit_code


def test_a_long_reason_is_shortened_but_keeps_its_field() -> None:
    """msgspec quotes the bad value: 60,000 characters of it in a header and a log line."""
    text = reason(raw({**BASE, "type": "A" * 60_000}))
    assert len(text) <= 300
    assert text.startswith("invalid: Invalid enum value 'AAA") and text.endswith("`$.type`")


@pytest.mark.parametrize(
    "fields",
    [
        {**BASE, "occurred_at": "9999-12-31T09:00:00+07:00"},
        {**BASE, "occurred_at": "1999-12-31T23:59:59Z"},
        {**BASE, "type": "APOLOGY_ISSUED", "new_due_at": "2100-01-01T00:00:00+07:00"},
        {**BASE, "sequence": 2**53},
        {**RECEIVED, "dossier_id": "H\n1"},
        {**RECEIVED, "unit_code": "X\u202e1"},
    ],
)
def test_schema_and_model_reject_the_same_out_of_bounds_events(
    validator: Any, fields: dict[str, Any]
) -> None:
    assert not validator.is_valid(fields)
    with pytest.raises(InvalidEvent):
        decode_event(raw(fields))


def test_schema_and_model_accept_the_same_events_at_the_bounds(validator: Any) -> None:
    fields = {**RECEIVED, "occurred_at": "2099-12-31T23:59:59-12:00", "sequence": 2**53 - 1,
              "unit_code": "UBND-Phường-Đồng-Xuân", "reason": "Thiếu giấy tờ\nbổ sung sau"}
    assert validator.is_valid(fields)
    decode_event(raw(fields))


def test_processing_time_is_bounded_so_its_deadline_can_be_computed() -> None:
    """3,650 working days ran out of the calendar's ten-year search for working time."""
    assert decode_event(raw({**BASE, "processing_time": {"value": 1000, "unit": "working_days"}}))
    text = reason(raw({**BASE, "processing_time": {"value": 1000.5, "unit": "working_days"}}))
    assert text.endswith("at `$.processing_time.value`")
