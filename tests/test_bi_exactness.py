"""The dossier-level report, and the dashboards' rollup rebuilt from it, are exactly the
fold over every fact, whatever the delivery.

Synthetic histories (late and duplicate events included) go through the worker's own
`DossierProcessor` in arrival order, so late events re-issue facts with higher versions as in
production; the facts then reach chDB in uneven batches, part of them twice (a crash before
the commit), and stale lower-version copies arrive last. The expected figures are computed
here in Python from the rules' evaluation of each dossier's full history (the state as of
`to` is the last step before `to`), independently of any SQL.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta

import msgspec
import pytest

from dossierflow.reporting.queries import fetch_figures, fetch_report
from dossierflow.reporting.report import COMPLIANCE_KEYS, Compliance, Figures, period_bounds
from dossierflow.rules.catalog import Catalog, load_catalog
from dossierflow.rules.evaluation import Step, evaluate
from dossierflow.schemas.event import DossierEvent, EventType, decode_event
from dossierflow.schemas.facts import DossierAlert, DossierFact
from dossierflow.simulate import generate_events
from dossierflow.sinks.base import SinkBatch
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.store import Store, refresh_rollups
from dossierflow.streams.processor import DossierProcessor
from dossierflow.streams.state import DossierRecord

pytestmark = pytest.mark.clickhouse

PERIODS = [
    (date(2026, 1, 1), date(2026, 2, 1)),
    (date(2026, 2, 1), date(2026, 3, 1)),
    (date(2026, 2, 10), date(2026, 2, 17)),  # a week: most dossiers change after `to`
    (date(2026, 3, 1), date(2026, 4, 1)),
    (date(2026, 1, 1), date(2027, 1, 1)),  # everything
]


def _fact_time(step: Step) -> datetime:
    return step.state.as_of or step.event.occurred_at


def expected_figures(
    histories: Mapping[str, Sequence[DossierEvent]], catalog: Catalog, clock: datetime,
    period_from: date, period_to: date,
) -> dict[str, Figures]:
    """docs/domain.md's period report from the rules' steps, per receiving unit."""
    start, end = period_bounds(period_from, period_to)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for dossier_id, events in histories.items():
        before = [s for s in evaluate(dossier_id, events, catalog, clock).steps
                  if _fact_time(s) < end]
        if not before or before[-1].state.received_at is None:
            continue
        state = before[-1].state
        assert state.received_at is not None
        c = counts[state.unit_code or ""]
        if state.received_at < start:
            c["carried_over"] += state.closed_at is None or state.closed_at >= start
        else:
            c["received"] += 1
            c[f"received_{(state.channel or '').lower()}"] += 1
        if state.closed_at is None:
            c["in_progress"] += 1
            due = state.due_at
            c["in_progress_overdue"] += due is not None and (
                catalog.calendar.local(due).date() < period_to
            )
        elif state.closed_at >= start:
            if state.status.value in ("RESOLVED", "RETURNED"):
                assert state.outcome is not None
                c[f"resolved_{state.outcome.value.lower()}"] += 1
            else:
                c[state.status.value.lower()] += 1
        for step in before:  # an apology counts for the unit that had received the dossier
            unit = step.state.unit_code
            if step.event.type is EventType.APOLOGY_ISSUED and _fact_time(step) >= start and unit:
                counts[unit]["apologies"] += 1
    return {unit: Figures(**c) for unit, c in counts.items()}




def events(count: int, seed: int) -> list[DossierEvent]:
    return [decode_event(msgspec.json.encode(e)) for e in generate_events(count, seed, days=90)]


def histories_of(arrivals: Sequence[DossierEvent]) -> dict[str, list[DossierEvent]]:
    """Each dossier's events in arrival order, duplicates dropped (first arrival wins)."""
    histories: dict[str, list[DossierEvent]] = defaultdict(list)
    for event in arrivals:
        if all(seen.event_id != event.event_id for seen in histories[event.dossier_id]):
            histories[event.dossier_id].append(event)
    return histories


def worker_output(
    arrivals: Sequence[DossierEvent], catalog: Catalog
) -> tuple[list[DossierFact], list[DossierAlert]]:
    """The facts and alerts the live worker publishes for these arrivals (event time as the
    clock), re-issued facts included."""
    processor = DossierProcessor(catalog)
    records: dict[str, DossierRecord | None] = {}
    facts: list[DossierFact] = []
    alerts: list[DossierAlert] = []
    for event in arrivals:
        outcome = processor.on_event(
            records.get(event.dossier_id), event, 0, event.occurred_at
        )
        records[event.dossier_id] = outcome.record
        facts.extend(outcome.facts)
        alerts.extend(outcome.alerts)
    return facts, alerts


def batches(facts: Sequence[DossierFact], rng: random.Random) -> Iterator[Sequence[DossierFact]]:
    first = 0
    while first < len(facts):
        size = rng.randrange(1, 700)
        yield facts[first : first + size]
        first += size


def compliance_of_bi_report(
    store: Store, period_from: date, period_to: date
) -> dict[str, Compliance]:
    """The compliance figures per unit as `bi_report` (migration 016) gives them."""
    start, end = period_bounds(period_from, period_to)
    rows = store.client.query(
        f"SELECT unit_code, {', '.join(COMPLIANCE_KEYS)} FROM bi_report("
        "period_from = {f:String}, period_to = {t:String})",
        parameters={"f": start.strftime("%Y-%m-%d %H:%M:%S"),
                    "t": end.strftime("%Y-%m-%d %H:%M:%S")},
    ).result_rows
    return {str(row[0]): Compliance(*map(int, row[1:])) for row in rows if any(row[1:])}


def test_report_equals_the_fold_after_late_events_redeliveries_and_stale_copies(
    store: Store,
) -> None:
    catalog = load_catalog()
    arrivals = events(6000, seed=11)
    histories = histories_of(arrivals)
    facts, _ = worker_output(arrivals, catalog)
    reissued = len(facts) - sum(len(h) for h in histories.values())
    assert reissued > 20  # late events did re-issue histories with higher versions

    rng = random.Random(3)
    sink, offset = ClickHouseSink(store), 0
    for chunk in batches(facts, rng):
        sink.write(SinkBatch("facts", 0, offset, offset + len(chunk) - 1, tuple(chunk), "d"))
        offset += len(chunk)
        if rng.random() < 0.1:  # a crash before the commit: the batch comes again, re-cut
            cut = rng.randrange(len(chunk))
            for part in (chunk[:cut], chunk[cut:]):
                if part:
                    sink.write(SinkBatch("facts", 1, offset, offset + len(part) - 1,
                                         tuple(part), "r"))
                    offset += len(part)
    stale = [f for f in facts if f.version < max(
        g.version for g in facts if g.event_id == f.event_id)]
    assert stale
    sink.write(SinkBatch("facts", 2, offset, offset + len(stale) - 1, tuple(stale), "s"))

    clock = max(e.occurred_at for e in arrivals) + timedelta(days=1)
    refresh_rollups(store)  # the dashboards' rollup, rebuilt from everything written
    for period_from, period_to in PERIODS:
        expected = expected_figures(histories, catalog, clock, period_from, period_to)
        got = fetch_figures(store, period_from, period_to)
        assert got == expected, (period_from, period_to)
        assert sum(f.in_progress for f in got.values()) > 0
        rolled_up = fetch_figures(store, period_from, period_to, pre_aggregated=True)
        assert rolled_up == expected, ("rollup", period_from, period_to)
        # the command's one query (whole days, migration 018) gives the same figures, and
        # the same compliance figures as `bi_report`, which reads the instants
        figures, compliance = fetch_report(store, period_from, period_to)
        assert figures == expected, ("bi_report_days", period_from, period_to)
        assert compliance == compliance_of_bi_report(store, period_from, period_to)
    week = fetch_figures(store, *PERIODS[2])
    assert sum(f.in_progress_overdue for f in week.values()) > 0
    assert sum(f.apologies for f in fetch_figures(store, *PERIODS[4]).values()) > 0
