"""The published JSON Schema of event schema v1, generated from the msgspec model.

`msgspec.json.schema` describes the fields; this module adds what the model checks in code
(the fields each event type requires, the one `value` of a `same_day` processing time) as
`allOf` + `if`/`then`, and the schema's identity.
Regenerate the committed file with `python -m dossierflow.schemas.jsonschema`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from dossierflow.schemas.event import (
    _REQUIRED_FIELDS,
    FIRST_YEAR,
    LAST_YEAR,
    MAX_EVENT_BYTES,
    MAX_NESTING,
    SAME_DAY_VALUE,
    DossierEvent,
    TimeUnit,
)

SCHEMA_PATH = Path(__file__).with_name("event.schema.json")
SCHEMA_ID = "urn:dossierflow:schema:event:v1"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one event on the events topic."""
    generated = msgspec.json.schema(DossierEvent)
    definitions: dict[str, Any] = dict(generated["$defs"])
    root: dict[str, Any] = definitions.pop("DossierEvent")
    same_day = {"properties": {"unit": {"const": TimeUnit.SAME_DAY.value}}, "required": ["unit"]}
    definitions["ProcessingTime"] = {
        **definitions["ProcessingTime"],
        "allOf": [{"if": same_day, "then": {"properties": {"value": {"const": SAME_DAY_VALUE}}}}],
    }
    conditions = [
        {
            "if": {"properties": {"type": {"const": kind.value}}, "required": ["type"]},
            "then": {
                "required": list(fields),
                "properties": {name: {"not": {"type": "null"}} for name in fields},
            },
        }
        for kind, fields in _REQUIRED_FIELDS.items()
    ]
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_ID,
        "title": "Dossier event, schema version 1",
        "description": (
            "One lifecycle event of an administrative-procedure dossier (hồ sơ thủ tục "
            "hành chính), one JSON object (UTF-8) per message of the events topic, keyed "
            "by dossier_id. Times are RFC 3339 with an offset, in the years "
            f"{FIRST_YEAR}-{LAST_YEAR}. Unknown extra fields are allowed and ignored. "
            f"Beyond what JSON Schema can say: at most {MAX_EVENT_BYTES} bytes and "
            f"{MAX_NESTING} levels of nested arrays and objects."
        ),
        "type": root["type"],
        "properties": root["properties"],
        "required": root["required"],
        "allOf": conditions,
        "$defs": definitions,
    }


def render() -> str:
    """The schema as the committed file holds it (stable key order, trailing newline)."""
    return json.dumps(event_json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the schema to `schemas/event.schema.json` (or to the path given)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else SCHEMA_PATH
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
