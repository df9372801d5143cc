"""`DOSSIERFLOW_DOSSIERS_KEPT` bounds both of the worker's caches: the processor's kept
folds and the state's decoded records (streams/runtime.py wires it into both)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from dossierflow.rules.catalog import load_catalog
from dossierflow.streams.clock import WallClock
from dossierflow.streams.runtime import WorkerRuntime
from dossierflow.streams.settings import WorkerSettings
from tests.worker_memory import MemoryOutbox, MemoryTable, Read

VN = timezone(timedelta(hours=7))
RECEIVED_AT = datetime(2026, 3, 2, 8, tzinfo=VN)


def received(dossier_id: str) -> bytes:
    return json.dumps({
        "schema_version": 1, "event_id": f"{dossier_id}-1", "dossier_id": dossier_id,
        "type": "RECEIVED", "occurred_at": RECEIVED_AT.isoformat(), "unit_code": "X-01",
        "procedure_code": "1.000894", "channel": "ONLINE",
        "processing_time": {"value": 5, "unit": "working_days"},
    }).encode()


async def test_the_setting_bounds_the_kept_folds_and_the_decoded_records() -> None:
    settings = WorkerSettings.from_env({"DOSSIERFLOW_DOSSIERS_KEPT": "2"}, bootstrap="unused:1")
    table, outbox = MemoryTable(), MemoryOutbox()
    worker = WorkerRuntime(settings, load_catalog(None), table,
                           WallClock(lambda: RECEIVED_AT + timedelta(hours=1)), outbox.opened)
    await worker.follow(frozenset({0}), starts={0: 0})
    await worker.apply([Read(0, offset, received(dossier_id))
                        for offset, dossier_id in enumerate(["A", "B", "C"])])
    assert {b"A", b"B", b"C"} <= table.rows.keys()
    assert list(worker.processor._folds) == ["B", "C"]  # the oldest, A, left first
    assert list(worker.state._decoded) == ["B", "C"]


def test_the_setting_must_keep_at_least_one_dossier() -> None:
    with pytest.raises(ValueError, match="DOSSIERFLOW_DOSSIERS_KEPT"):
        WorkerSettings.from_env({"DOSSIERFLOW_DOSSIERS_KEPT": "0"})
