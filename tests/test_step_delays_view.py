"""`bi_step_delays` (migration 015) in chDB against the hand-worked dossier of test_steps.

The facts go through the sink as the worker publishes them: first the history without step
3's start (step 2 then runs to the resolution, 18.5 working hours over), then the facts the
late event re-issues (version 6; step 2 ends at Thursday 10:00, 11.5 hours over). The view
must count the newest history only.
"""

from __future__ import annotations

from typing import Any

from dossierflow.rules.evaluation import evaluate
from dossierflow.rules.records import alert_record, fact_records
from dossierflow.schemas.facts import DossierAlert, DossierFact
from dossierflow.sinks.base import SinkBatch
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.store import Store
from dossierflow.streams.processor import DossierProcessor
from tests.test_steps import AFTER, CATALOG, HISTORY

HOUR_MS = 3_600_000


def write(store: Store, topic: str, offset: int,
          records: list[DossierFact] | list[DossierAlert]) -> None:
    batch = SinkBatch(topic, 0, offset, offset + len(records) - 1, tuple(records), "t")
    ClickHouseSink(store).write(batch)  # type: ignore[arg-type]


def delays(store: Store, period_from: str, period_to: str) -> list[tuple[Any, ...]]:
    return [
        tuple(row) for row in store.client.query(
            "SELECT unit_code, steps, overrun_steps, overrun_ms, overrun_working_hours,"
            " dossiers_delayed FROM bi_step_delays(period_from = {f:String},"
            " period_to = {t:String})",
            parameters={"f": period_from, "t": period_to},
        ).result_rows
    ]


def test_the_view_counts_each_departments_steps_of_the_newest_history(store: Store) -> None:
    late = HISTORY[4]
    processor = DossierProcessor(CATALOG)
    record = None
    for event in [e for e in HISTORY if e is not late]:
        record = processor.on_event(record, event, partition=0, clock=AFTER).record
    assert record is not None
    first = evaluate("D1", record.history, CATALOG, AFTER)
    write(store, "facts", 0, fact_records(first, CATALOG))
    effects = processor.on_event(record, late, partition=0, clock=AFTER, late=True)
    write(store, "facts", 5, effects.facts)
    alerts = evaluate("D1", HISTORY, CATALOG, AFTER).alerts
    write(store, "alerts", 0, [alert_record(a, CATALOG) for a in alerts])

    assert delays(store, "2026-03-01", "2026-04-01") == [
        ("PB-A", 1, 0, 0, 0.0, 0),
        ("PB-B", 1, 1, 41_400_000, 11.5, 1),
        ("PB-X", 1, 0, 0, 0.0, 0),
    ]
    assert delays(store, "2026-03-05", "2026-03-06") == [("PB-B", 1, 1, 41_400_000, 11.5, 0)]
    assert delays(store, "2026-02-01", "2026-03-01") == []
    step_alerts = store.client.query(
        "SELECT kind, step_id, step_department, step_unit_code FROM dossier_alerts FINAL"
        " WHERE step_id IS NOT NULL ORDER BY at"
    ).result_rows
    assert [tuple(r) for r in step_alerts] == [
        ("STEP_AT_RISK", "1", "PB-A", "PB-A"),
        ("STEP_AT_RISK", "2", "PB-B", "PB-B"),
        ("STEP_OVERDUE", "2", "PB-B", "PB-B"),
        ("STEP_AT_RISK", "3", "PB-X", "X-01"),
    ]
