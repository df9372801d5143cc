"""When an event-time worker's alerts depend on more than the events (docs/benchmarks.md,
*Why one run counted 9,990 alerts and another 9,989*): only through a late event, one behind
the out-of-orderness bound, that contradicts an alert a timer scan had already published.
Real runtime (streams/runtime.py) in memory; instants as in tests/test_worker_runtime.py
(A received Mon 2026-03-02 08:00, AT_RISK Fri 03-06 08:00).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from dossierflow.streams.clock import EventTimeClock
from dossierflow.streams.watermark import Watermark
from tests.test_worker_runtime import AT_RISK, SETTINGS, VN, Monotonic, received, runtime
from tests.worker_memory import MemoryEnds, MemoryOutbox, MemoryTable, Read

RESOLVED_LATE = json.dumps({
    "schema_version": 1, "event_id": "A-2", "dossier_id": "A", "type": "RESOLVED",
    "occurred_at": datetime(2026, 3, 5, 9, tzinfo=VN).isoformat(),
}).encode()
"""A's resolution on Thu 03-05, before its AT_RISK instant, read after B of Sat 03-07 put
the clock (B less the one-day bound) past that instant: a late event."""


async def alert_ids(scan_between: bool) -> set[str]:
    """The alerts published when a timer scan ran (or not) between reading
    B and reading A's late resolution: the same three events in the same order."""
    watermark = Watermark(idle_after=10.0, out_of_orderness=timedelta(days=1))
    clock = EventTimeClock(watermark, MemoryEnds({0: 4}), Monotonic())
    outbox = MemoryOutbox()
    worker = runtime(MemoryTable(), outbox, clock)
    await worker.follow(frozenset({0}), starts={0: 0})
    first = [Read(0, 0, received("A", datetime(2026, 3, 2, 8, tzinfo=VN))),
             Read(0, 1, received("B", datetime(2026, 3, 7, 9, tzinfo=VN)))]
    late = [Read(0, 2, RESOLVED_LATE)]
    if scan_between:
        await worker.apply(first)
        await worker.fire_due_timers()
        await worker.apply(late)
    else:
        await worker.apply(first + late)
    await worker.fire_due_timers()
    sent = [json.loads(s.value) for s in outbox.on(SETTINGS.alerts_topic)]
    return {f"{a['dossier_id']} {a['kind']}" for a in sent}


async def test_a_scan_before_a_late_event_publishes_an_alert_its_full_history_does_not_fire(
) -> None:
    with_scan = await alert_ids(scan_between=True)
    without_scan = await alert_ids(scan_between=False)
    assert datetime(2026, 3, 7, 9, tzinfo=VN) - timedelta(days=1) > AT_RISK
    assert with_scan == {"A AT_RISK"}, "published by the scan, then contradicted"
    assert without_scan == set(), "the full history resolves A before its AT_RISK instant"


async def test_an_event_behind_one_read_earlier_in_the_same_batch_is_late() -> None:
    # The clock moves per event read, not per batch (streams/clock.py): the third event,
    # a day and more behind the second in the same batch, is behind its partition's clock.
    clock = EventTimeClock(
        Watermark(idle_after=10.0, out_of_orderness=timedelta(days=1)),
        MemoryEnds({0: 4}), Monotonic(),
    )
    await clock.follow(frozenset({0}), starts={0: 0}, seen={})
    clock.start_batch()
    occurred = [datetime(2026, 3, 2, 8, tzinfo=VN), datetime(2026, 3, 7, 9, tzinfo=VN),
                datetime(2026, 3, 5, 9, tzinfo=VN)]
    late = []
    for offset, at in enumerate(occurred):
        late.append(clock.read(0, offset, at))
        if offset == 1:
            assert clock.of(0) == datetime(2026, 3, 6, 9, tzinfo=VN)
    assert late == [False, False, True]
