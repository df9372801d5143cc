"""The worker's runtime (streams/runtime.py) in memory: batches, timers, catalogue reloads,
the event-time clock, dead letters, restored state and its format record, with no broker.

Instants are worked out by hand from DOMAIN.md's worked example 3: 5 working days from
Mon 2026-03-02 08:00 are due Mon 03-09 08:00; AT_RISK 8 working hours before, Fri 03-06
08:00; OVERDUE at 00:00 on the next day, Tue 03-10.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import pytest

from dossierflow.rules.catalog import load_catalog
from dossierflow.streams.clock import EventTimeClock, WallClock
from dossierflow.streams.dossier_state import StateFormatError
from dossierflow.streams.ports import Clock
from dossierflow.streams.runtime import WorkerRuntime
from dossierflow.streams.settings import WorkerSettings
from dossierflow.streams.state import (
    PartitionProgress,
    decode_progress,
    decode_record,
    encode_progress,
    progress_key,
)
from dossierflow.streams.watermark import Watermark
from tests.import_probe import modules_imported_by
from tests.worker_memory import MemoryEnds, MemoryOutbox, MemoryTable, Read

VN = timezone(timedelta(hours=7))
SETTINGS = WorkerSettings(bootstrap="unused:1")
AT_RISK = datetime(2026, 3, 6, 8, tzinfo=VN)
OVERDUE = datetime(2026, 3, 10, tzinfo=VN)


def received(dossier_id: str, at: datetime, procedure: str = "1.000894",
             days: int | None = 5) -> bytes:
    event: dict[str, Any] = {
        "schema_version": 1, "event_id": f"{dossier_id}-1", "dossier_id": dossier_id,
        "type": "RECEIVED", "occurred_at": at.isoformat(), "unit_code": "X-01",
        "procedure_code": procedure, "channel": "ONLINE",
    }
    if days is not None:
        event["processing_time"] = {"value": days, "unit": "working_days"}
    return json.dumps(event).encode()


class Now:
    """A wall clock the test moves."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def runtime(table: MemoryTable, outbox: MemoryOutbox, clock: Clock,
            settings: WorkerSettings = SETTINGS) -> WorkerRuntime:
    return WorkerRuntime(settings, load_catalog(settings.catalog), table, clock, outbox.opened)


def alerts(outbox: MemoryOutbox) -> list[tuple[str, str, datetime]]:
    return [
        (alert["dossier_id"], alert["kind"], datetime.fromisoformat(alert["at"]))
        for alert in (json.loads(sent.value) for sent in outbox.on(SETTINGS.alerts_topic))
    ]


def facts(outbox: MemoryOutbox) -> list[dict[str, Any]]:
    return [json.loads(sent.value) for sent in outbox.on(SETTINGS.facts_topic)]


async def test_a_batch_publishes_a_fact_per_new_event_and_stores_each_dossier() -> None:
    table, outbox = MemoryTable(), MemoryOutbox()
    worker = runtime(table, outbox, WallClock(Now(datetime(2026, 3, 2, 9, tzinfo=VN))))
    await worker.follow(frozenset({0, 1}), starts={0: 0, 1: 0})
    a = received("A", datetime(2026, 3, 2, 8, tzinfo=VN))
    await worker.apply([Read(0, 0, a), Read(1, 0, received("B", datetime(2026, 3, 2, 8, 30,
                                                                          tzinfo=VN))),
                        Read(0, 1, a)])  # A's event again: a duplicate
    assert [(f["dossier_id"], f["event_id"]) for f in facts(outbox)] == [("A", "A-1"),
                                                                        ("B", "B-1")]
    assert alerts(outbox) == []
    stored = table.get(b"A")
    assert stored is not None
    record = decode_record(stored)
    assert (record.partition, record.open, record.next_timer_at) == (0, True, AT_RISK)
    assert table.rows[b"B"][1] == 1


async def test_a_timer_fires_at_its_instant_and_only_once() -> None:
    now = Now(datetime(2026, 3, 2, 9, tzinfo=VN))
    outbox = MemoryOutbox()
    worker = runtime(MemoryTable(), outbox, WallClock(now))
    await worker.follow(frozenset({0}), starts={0: 0})
    await worker.apply([Read(0, 0, received("A", datetime(2026, 3, 2, 8, tzinfo=VN)))])
    now.at = AT_RISK - timedelta(seconds=1)
    await worker.fire_due_timers()
    assert alerts(outbox) == []
    now.at = AT_RISK
    await worker.fire_due_timers()
    await worker.fire_due_timers()
    assert alerts(outbox) == [("A", "AT_RISK", AT_RISK)]


async def test_a_timer_scan_with_nothing_due_opens_no_outbox_and_awaits_no_changelog() -> None:
    """Five scans a second on a quiet worker: each was an outbox, a delivery and a
    changelog wait for nothing."""
    now = Now(datetime(2026, 3, 2, 9, tzinfo=VN))
    table, outbox = CountingTable(), MemoryOutbox()
    opened = 0

    async def open_outbox() -> MemoryOutbox:
        nonlocal opened
        opened += 1
        return outbox

    worker = WorkerRuntime(SETTINGS, load_catalog(SETTINGS.catalog), table, WallClock(now),
                           open_outbox)
    await worker.follow(frozenset({0}), starts={0: 0})
    await worker.apply([Read(0, 0, received("A", datetime(2026, 3, 2, 8, tzinfo=VN)))])
    before = (opened, table.awaited)
    for _ in range(3):
        assert await worker.fire_due_timers() == now.at
    assert (opened, table.awaited) == before
    now.at = AT_RISK
    await worker.fire_due_timers()
    assert (opened, table.awaited) == (before[0] + 1, before[1] + 1)
    assert alerts(outbox) == [("A", "AT_RISK", AT_RISK)]


class CountingTable(MemoryTable):
    def __init__(self) -> None:
        super().__init__()
        self.awaited = 0

    async def changelog_delivered(self) -> None:
        self.awaited += 1


async def test_outputs_not_delivered_leave_the_state_as_it_was() -> None:
    table, outbox = MemoryTable(), MemoryOutbox()
    worker = runtime(table, outbox, WallClock(Now(datetime(2026, 3, 2, 9, tzinfo=VN))))
    await worker.follow(frozenset({0}), starts={0: 0})
    outbox.refusing = True
    with pytest.raises(ConnectionError):
        await worker.apply([Read(0, 0, received("A", datetime(2026, 3, 2, 8, tzinfo=VN)))])
    assert table.get(b"A") is None
    assert len(worker.timers) == 0


async def test_a_malformed_message_is_dead_lettered_and_the_next_event_applied() -> None:
    outbox = MemoryOutbox()
    worker = runtime(MemoryTable(), outbox, WallClock(Now(datetime(2026, 3, 2, 9, tzinfo=VN))))
    await worker.follow(frozenset({0}), starts={0: 0})
    await worker.apply([Read(0, 7, b"{not json", key=b"k"),
                        Read(0, 8, received("A", datetime(2026, 3, 2, 8, tzinfo=VN)))])
    (dead,) = outbox.on(SETTINGS.dead_letter_topic)
    headers = dict(dead.headers)
    assert (dead.key, dead.value) == (b"k", b"{not json")
    assert headers["dossierflow-reason"].startswith(b"not JSON: ")
    assert (headers["dossierflow-source-topic"], headers["dossierflow-source-partition"],
            headers["dossierflow-source-offset"]) == (b"dossier-events", b"0", b"7")
    assert [f["event_id"] for f in facts(outbox)] == ["A-1"]


async def test_a_reloaded_catalogue_that_knows_the_procedure_publishes_the_alerts_due(
    tmp_path: Path,
) -> None:
    """Procedure 9.999 is not in the catalogue: no deadline, no alert; the operator adds it
    (5 working days) and reloads; the clock is Tue 03-10 09:00: AT_RISK and OVERDUE."""
    sample = (resources.files("dossierflow") / "data" / "catalog.yaml").read_text()
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(sample)
    settings = WorkerSettings(bootstrap="unused:1", catalog=catalog)
    outbox = MemoryOutbox()
    worker = runtime(MemoryTable(), outbox,
                     WallClock(Now(datetime(2026, 3, 10, 9, tzinfo=VN))), settings)
    await worker.follow(frozenset({0}), starts={0: 0})
    unknown = received("U", datetime(2026, 3, 2, 8, tzinfo=VN), procedure="9.999", days=None)
    await worker.apply([Read(0, 0, unknown)])
    await worker.fire_due_timers()
    assert alerts(outbox) == []
    catalog.write_text("procedures: [")  # a file that does not load: the one in use stays
    await worker.reload_catalog()
    catalog.write_text(sample.replace("procedures:\n", (
        "procedures:\n"
        '  - {code: "9.999", name: Thủ tục mới, processing_time: {value: 5, unit: '
        "working_days}}\n"
    ), 1))
    await worker.reload_catalog()
    assert alerts(outbox) == [("U", "AT_RISK", AT_RISK), ("U", "OVERDUE", OVERDUE)]
    assert [f["due_at"] for f in facts(outbox)] == [None, "2026-03-09T08:00:00+07:00"]


class Monotonic:
    def __init__(self) -> None:
        self.at = 0.0

    def __call__(self) -> float:
        return self.at


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        # Read to its end: the clock is the largest occurred_at read, Tue 03-10 09:00.
        (2, [("A", "AT_RISK", AT_RISK), ("A", "OVERDUE", OVERDUE)]),
        # One more event to read: the clock trails B by the one-day bound, Mon 03-09 09:00.
        (3, [("A", "AT_RISK", AT_RISK)]),
    ],
)
async def test_the_event_time_clock_moves_with_the_events_read(
    end: int, expected: list[tuple[str, str, datetime]]
) -> None:
    monotonic = Monotonic()
    watermark = Watermark(idle_after=10.0, out_of_orderness=timedelta(days=1))
    clock = EventTimeClock(watermark, MemoryEnds({0: end}), monotonic)
    outbox = MemoryOutbox()
    worker = runtime(MemoryTable(), outbox, clock)
    await worker.follow(frozenset({0}), starts={0: 0})
    assert await worker.fire_due_timers() is None, "no event read: no clock yet"
    await worker.apply([Read(0, 0, received("A", datetime(2026, 3, 2, 8, tzinfo=VN))),
                        Read(0, 1, received("B", datetime(2026, 3, 10, 9, tzinfo=VN)))])
    monotonic.at = 10.0  # nothing new for `idle_after` seconds
    await worker.fire_due_timers()
    assert alerts(outbox) == expected


async def test_a_restarted_worker_fires_at_once_the_timers_missed_while_it_was_down() -> None:
    """B: 1 working day from Mon 03-02 09:00, due Tue 03-03 09:00, OVERDUE Wed 03-04 00:00,
    fired before the stop; A's AT_RISK (Fri 03-06 08:00) passes while the worker is down."""
    table = MemoryTable()
    now = Now(datetime(2026, 3, 2, 9, tzinfo=VN))
    before = MemoryOutbox()
    first = runtime(table, before, WallClock(now))
    await first.follow(frozenset({0}), starts={0: 0})
    await first.apply([Read(0, 0, received("A", datetime(2026, 3, 2, 8, tzinfo=VN))),
                       Read(0, 1, received("B", datetime(2026, 3, 2, 9, tzinfo=VN), days=1))])
    now.at = datetime(2026, 3, 4, 1, tzinfo=VN)
    await first.fire_due_timers()
    assert alerts(before) == [("B", "OVERDUE", datetime(2026, 3, 4, tzinfo=VN))]
    after = MemoryOutbox()
    restarted = runtime(table, after, WallClock(Now(datetime(2026, 3, 7, 12, tzinfo=VN))))
    await restarted.follow(frozenset({0}), starts={0: 2})
    await restarted.fire_due_timers()
    assert alerts(after) == [("A", "AT_RISK", AT_RISK)]


class ProgressOfTheLastRelease(msgspec.Struct, kw_only=True):
    """`PartitionProgress` as the release before the format field wrote and read it."""

    latest_occurred_at: datetime


async def test_the_progress_record_says_the_state_format_and_the_last_release_reads_it() -> None:
    table = MemoryTable()
    worker = runtime(table, MemoryOutbox(), WallClock(Now(datetime(2026, 3, 2, 9, tzinfo=VN))))
    await worker.follow(frozenset({0}), starts={0: 0})
    await worker.apply([Read(0, 0, received("A", datetime(2026, 3, 2, 8, tzinfo=VN)))])
    data = table.get(progress_key(0))
    assert data is not None
    assert msgspec.msgpack.decode(data) == {
        "latest_occurred_at": datetime(2026, 3, 2, 1, tzinfo=UTC), "state_format": 1,
    }
    rolled_back = msgspec.msgpack.decode(data, type=ProgressOfTheLastRelease)
    assert rolled_back.latest_occurred_at == datetime(2026, 3, 2, 8, tzinfo=VN)


async def test_a_table_written_before_the_format_field_is_read_as_format_1() -> None:
    table = MemoryTable()
    first = runtime(table, MemoryOutbox(), WallClock(Now(datetime(2026, 3, 2, 9, tzinfo=VN))))
    await first.follow(frozenset({0}), starts={0: 0})
    await first.apply([Read(0, 0, received("A", datetime(2026, 3, 2, 8, tzinfo=VN)))])
    last_release = ProgressOfTheLastRelease(latest_occurred_at=datetime(2026, 3, 2, 8,
                                                                         tzinfo=VN))
    table.put(progress_key(0), msgspec.msgpack.encode(last_release), 0)
    restarted = runtime(table, MemoryOutbox(), WallClock())
    await restarted.follow(frozenset({0}), starts={0: 1})
    assert len(restarted.timers) == 1
    stored = table.get(progress_key(0))
    assert stored is not None and decode_progress(stored).state_format == 1


@pytest.mark.parametrize(
    ("stored", "said"),
    [
        (encode_progress(PartitionProgress(latest_occurred_at=AT_RISK, state_format=2)),
         "is in format 2, written by a newer dossierflow"),
        (b"\x00garbage", "has a progress record this worker cannot read"),
    ],
    ids=["newer", "unreadable"],
)
async def test_a_state_in_another_format_is_refused_with_a_sentence(
    stored: bytes, said: str
) -> None:
    table = MemoryTable()
    table.put(progress_key(1), stored, 1)
    table.put(b"A", b"\xc1 a record this worker cannot read", 1)
    worker = runtime(table, MemoryOutbox(), WallClock())
    with pytest.raises(StateFormatError) as refused:
        await worker.follow(frozenset({0, 1}), starts={0: 0, 1: 0})
    sentence = str(refused.value)
    assert "the state of events partition 1 (table 'dossiers' of app 'dossierflow')" in sentence
    assert said in sentence
    assert "this worker reads format 1 only" in sentence
    assert "under a new --app-id" in sentence
    assert worker.owned is None


def test_the_runtime_imports_neither_faust_nor_a_kafka_or_clickhouse_client() -> None:
    code = "import dossierflow.streams.runtime, dossierflow.streams.clock"
    assert modules_imported_by(
        code, ["faust", "mode", "aiokafka", "kafka", "clickhouse_connect", "chdb"]
    ) == []


async def test_a_restarted_worker_whose_catalogue_now_knows_a_procedure_publishes_its_alerts(
    tmp_path: Path,
) -> None:
    """The restart reads only the timer fields of each record (streams/runtime.py); a
    dossier of an unknown procedure is still re-evaluated whole with the new catalogue."""
    sample = (resources.files("dossierflow") / "data" / "catalog.yaml").read_text()
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(sample)
    table = MemoryTable()
    clock = WallClock(Now(datetime(2026, 3, 10, 9, tzinfo=VN)))
    first = runtime(table, MemoryOutbox(), clock, WorkerSettings(bootstrap="unused:1",
                                                                 catalog=catalog))
    await first.follow(frozenset({0}), starts={0: 0})
    unknown = received("U", datetime(2026, 3, 2, 8, tzinfo=VN), procedure="9.999", days=None)
    await first.apply([Read(0, 0, unknown)])
    catalog.write_text(sample.replace("procedures:\n", (
        "procedures:\n"
        '  - {code: "9.999", name: Thủ tục mới, processing_time: {value: 5, unit: '
        "working_days}}\n"
    ), 1))
    outbox = MemoryOutbox()
    restarted = runtime(table, outbox, clock, WorkerSettings(bootstrap="unused:1",
                                                              catalog=catalog))
    await restarted.follow(frozenset({0}), starts={0: 1})
    assert alerts(outbox) == [("U", "AT_RISK", AT_RISK), ("U", "OVERDUE", OVERDUE)]
    assert len(restarted.timers) == 0  # both fired: nothing pending
