"""The worker's keyed state over its table (streams/dossier_state.py): a record saved is read
back without decoding its bytes again, yet always as the table holds it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import msgspec

from dossierflow.schemas.event import DossierEvent, EventType
from dossierflow.streams.dossier_state import DossierState
from dossierflow.streams.state import DossierRecord, encode_record, progress_key
from tests.worker_memory import MemoryTable

VN = timezone(timedelta(hours=7))


def record(*alert_ids: str) -> DossierRecord:
    event = DossierEvent(
        schema_version=1, event_id="E1", dossier_id="D1", type=EventType.SUBMITTED,
        occurred_at=datetime(2026, 3, 2, 8, tzinfo=VN),
    )
    return DossierRecord(history=[event], emitted=list(alert_ids), partition=0)


def saved(table: MemoryTable, kept: DossierRecord) -> DossierState:
    state = DossierState(table, "dossierflow")
    state.stage("D1", kept)
    state.save()
    return state


def test_a_saved_record_is_read_back_with_the_same_events_not_decoded_again() -> None:
    kept = record("A1")
    state = saved(MemoryTable(), kept)
    loaded = state.load("D1")
    assert loaded == kept
    assert loaded is not None and loaded.history[0] is kept.history[0]


def test_a_record_written_to_the_table_otherwise_is_read_as_the_table_holds_it() -> None:
    table = MemoryTable()
    state = saved(table, record("A1"))
    table.put(b"D1", encode_record(record("A1", "A2")), 0)  # as a changelog recovery does
    assert state.load("D1") == record("A1", "A2")


def test_a_loaded_record_changed_and_not_saved_leaves_the_next_load_as_saved() -> None:
    state = saved(MemoryTable(), record("A1"))
    loaded = state.load("D1")
    assert loaded is not None
    loaded.emitted.append("A2")  # what a timer does before its outputs are delivered
    loaded.open = True
    state.discard()  # they were not
    assert state.load("D1") == record("A1")


def test_a_save_files_each_record_and_progress_under_its_own_partition() -> None:
    """Written one partition at a time (`put_all`): a dossier's record and a partition's
    progress record go to the partition they belong to, a record staged as gone leaves."""
    table = MemoryTable()
    state = saved(table, record("A1"))
    state.stage("D1", None)
    state.stage("D2", msgspec.structs.replace(record(), partition=1))
    state.stage("D3", record())
    for partition in (1, 0):
        state.note_read(partition, datetime(2026, 3, 2, 9, tzinfo=VN))
    state.save()
    assert {key: partition for key, (_, partition) in table.rows.items()} == {
        b"D2": 1, b"D3": 0, progress_key(0): 0, progress_key(1): 1}
