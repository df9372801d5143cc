"""What the worker keeps in its table (streams/state.py): the reserved keys of the partitions'
progress records never meet a dossier's key."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from dossierflow.schemas.event import decode_event
from dossierflow.streams.state import (
    PartitionProgress,
    decode_progress,
    encode_progress,
    progress_key,
    progress_partition,
)

DOSSIER_IDS = st.text(min_size=1, max_size=64).filter(
    lambda text: not any(0xD800 <= ord(c) <= 0xDFFF for c in text)  # not encodable to UTF-8
).map(  # nor hidden characters, which codes may not hold
    lambda text: re.sub("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]",
                        "x", text)
)


@given(st.integers(min_value=0, max_value=10_000))
def test_a_progress_key_names_its_partition(partition: int) -> None:
    assert progress_partition(progress_key(partition)) == partition


@given(DOSSIER_IDS)
def test_no_dossier_id_is_a_progress_key(dossier_id: str) -> None:
    """A dossier's table key is its `dossier_id` in UTF-8, which the event schema limits to
    1-64 characters (no control or invisible formatting ones): the reserved keys start with a
    byte UTF-8 never uses."""
    event = decode_event(json.dumps({
        "schema_version": 1, "event_id": "E-1", "dossier_id": dossier_id, "type": "RESOLVED",
        "occurred_at": "2026-03-02T08:00:00+07:00",
    }))  # a dossier_id events may carry
    assert progress_partition(event.dossier_id.encode()) is None


def test_a_progress_record_round_trips() -> None:
    progress = PartitionProgress(latest_occurred_at=datetime(2026, 3, 2, 8, 30, tzinfo=UTC))
    assert decode_progress(encode_progress(progress)) == progress
