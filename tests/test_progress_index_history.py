"""The 766 figures of simulated history: the live worker's facts (late events re-issuing
histories, batches re-sent after a crash) and a replay's facts give the same figures, equal
to the pure rules' tally of every dossier's state as of the period's end, and a
province-month reconciles with the period report's counts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from dossierflow.backfill import backfill
from dossierflow.reporting.progress import fetch_procedure_times, fetch_progress
from dossierflow.reporting.queries import fetch_figures
from dossierflow.reporting.report import period_bounds
from dossierflow.rules.catalog import load_catalog
from dossierflow.rules.evaluation import evaluate
from dossierflow.rules.lifecycle import DossierState
from dossierflow.rules.progress_index import IndexCounts, IndexSettings, tally
from dossierflow.schemas.event import DossierEvent
from dossierflow.sinks.base import SinkBatch
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.store import Store, connect, migrate
from tests.test_bi_exactness import batches, events, histories_of, worker_output

pytestmark = pytest.mark.clickhouse

PERIODS = [(date(2026, 2, 1), date(2026, 3, 1)), (date(2026, 3, 1), date(2026, 3, 15))]


def _without_at_risk(counts: dict[str, IndexCounts]) -> dict[str, tuple[object, ...]]:
    """The figures both paths must agree on. AT_RISK alerts that fall after a dossier's last
    event are published by the worker's timers, which this test does not run."""
    return {
        unit: (c.received, c.on_time, c.overdue, c.completed, round(c.processing_days, 4))
        for unit, c in counts.items()
    }


def _figures(store: Store) -> dict[tuple[date, date], dict[str, IndexCounts]]:
    return {
        (period_from, period_to): fetch_progress(
            store, *period_bounds(period_from, period_to), IndexSettings())
        for period_from, period_to in PERIODS
    }


def _opened(path: Path) -> Store:
    store = connect(f"chdb://{path}")  # chDB: one data directory open at a time
    migrate(store)
    return store


def test_live_and_replay_give_the_rules_766_figures_and_reconcile_with_the_report(
    tmp_path: Path,
) -> None:
    catalog = load_catalog()
    arrivals = events(4000, seed=7)
    histories = histories_of(arrivals)
    clock = max(e.occurred_at for e in arrivals) + timedelta(days=1)

    facts, alerts = worker_output(arrivals, catalog)
    live = _opened(tmp_path / "live")
    rng, sink, offset = random.Random(5), ClickHouseSink(live), 0
    for chunk in batches(facts, rng):
        sink.write(SinkBatch("facts", 0, offset, offset + len(chunk) - 1, tuple(chunk), "d"))
        offset += len(chunk)
        if rng.random() < 0.1:  # a crash before the commit: the batch comes again
            sink.write(SinkBatch("facts", 1, offset, offset + len(chunk) - 1, tuple(chunk), "r"))
            offset += len(chunk)
    sink.write(SinkBatch("alerts", 0, 0, len(alerts) - 1, tuple(alerts), "a"))
    live_figures = _figures(live)
    live.close()
    replay = _opened(tmp_path / "replay")
    evaluations = [evaluate(d, h, catalog, clock) for d, h in histories.items()]
    backfill(evaluations, catalog, ClickHouseSink(replay), "replay")
    replay_figures = _figures(replay)

    settings = IndexSettings()
    for period_from, period_to in PERIODS:
        start, end = period_bounds(period_from, period_to)
        expected = tally(_states_before(histories, catalog, clock, end), start, end, settings,
                         catalog.calendar)
        got_live = live_figures[period_from, period_to]
        got_replay = replay_figures[period_from, period_to]
        assert _without_at_risk(got_live) == _without_at_risk(expected), period_from
        assert _without_at_risk(got_replay) == _without_at_risk(expected), period_from
        province = sum(expected.values(), IndexCounts())
        assert 0 < province.on_time < province.received and province.completed > 0
        # reconciliation with the period report: received or processed in the period is
        # carried over + received; the completed are resolved ones with a processing time
        report = fetch_figures(replay, period_from, period_to)
        for unit, figures in report.items():
            counts = got_replay.get(unit, IndexCounts())
            assert counts.received == figures.carried_over + figures.received, unit
            assert counts.completed <= figures.resolved, unit
        assert sum(c.completed for c in got_replay.values()) == sum(
            f.resolved for f in report.values()) - _resolved_without_time(
            histories, catalog, clock, start, end)
    replay.close()


def test_a_procedures_average_does_not_depend_on_the_order_its_times_are_added_in(
    tmp_path: Path,
) -> None:
    """Three resolved dossiers whose average time is exactly 12.965 days: added as floats in
    one order it reads 12.96, in another 12.97, as two stores holding the same times under
    other dossier ids add them (the engine's order follows its hash of the ids; parts and
    threads change it too). Summed exactly, every order gives one figure."""
    averages = []
    for name, days in (("one", (1.3376, 0.3173, 37.2401)), ("other", (37.2401, 1.3376, 0.3173))):
        store = _opened(tmp_path / name)
        store.client.insert(
            "dossier_facts",
            [[f"e-{i}", i, "RESOLVED", datetime(2026, 3, 2, 10), 0, 1, "RESOLVED", "U", "P",
              datetime(2026, 3, 2, 10), d, "working_days", d]
             for i, d in zip("abc", days, strict=True)],
            column_names=["event_id", "dossier_id", "type", "occurred_at", "position",
                          "version", "status", "unit_code", "procedure_code", "closed_at",
                          "processing_duration", "processing_unit", "processing_days"],
        )
        (time,) = fetch_procedure_times(store, *period_bounds(date(2026, 3, 1), date(2026, 4, 1)))
        averages.append((time.completed, time.average, time.average_days))
        store.close()
    assert averages[0] == averages[1]
    assert averages[0][0] == 3


def test_a_procedures_rows_of_two_units_of_time_come_in_one_order(tmp_path: Path) -> None:
    """A procedure whose dossiers carry their own processing time in another unit (the
    event's `processing_time`) has a row per unit: they come sorted by it, whatever the
    engine's order (two stores with the same facts listed them each its own way)."""
    times = []
    for name, units in (("one", ("working_days", "working_hours")),
                        ("other", ("working_hours", "working_days"))):
        store = _opened(tmp_path / name)
        store.client.insert(
            "dossier_facts",
            [[f"e-{i}", f"d-{i}", "RESOLVED", datetime(2026, 3, 2, 10), 0, 1, "RESOLVED",
              "U", "P", datetime(2026, 3, 2, 10), 1.0, unit, 1.0]
             for i, unit in enumerate(units)],
            column_names=["event_id", "dossier_id", "type", "occurred_at", "position",
                          "version", "status", "unit_code", "procedure_code", "closed_at",
                          "processing_duration", "processing_unit", "processing_days"],
        )
        found = fetch_procedure_times(store, *period_bounds(date(2026, 3, 1), date(2026, 4, 1)))
        times.append([t.processing_unit for t in found])
        store.close()
    assert times == [["working_days", "working_hours"]] * 2


def _states_before(
    histories: dict[str, list[DossierEvent]], catalog: object, clock: datetime, end: datetime
) -> Iterator[DossierState]:
    from dossierflow.rules.catalog import Catalog

    assert isinstance(catalog, Catalog)
    for dossier, history in histories.items():
        steps = [s for s in evaluate(dossier, history, catalog, clock).steps
                 if (s.state.as_of or s.event.occurred_at) < end]
        if steps:
            yield steps[-1].state


def _resolved_without_time(
    histories: dict[str, list[DossierEvent]], catalog: object, clock: datetime,
    start: datetime, end: datetime,
) -> int:
    """Resolved in the period with no processing time (unknown procedure): not in 2.2."""
    return sum(
        1 for s in _states_before(histories, catalog, clock, end)
        if s.resolved_at is not None and s.closed_at is not None and start <= s.closed_at < end
        and s.processing_time is None
    )
