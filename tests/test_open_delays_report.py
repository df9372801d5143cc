"""Who caused the delay of a dossier still in progress, in the report, `GET /report` and
migration 017's `bi_overdue_causes`, through the real chDB store (the facts go through the
sink as the worker publishes them), against hand-worked dossiers of test_steps' calendar.

D1 (test_steps) with its history up to step 2's start: received Mon 2 March 08:00 by X-01,
due Thu 5 March 08:00; step 2 (PB-B) open since Mon 16:00, due Tue 16:00. At the end of
any period from Fri 6 March on it is in progress and overdue, and step 2's time ran out:
PB-B's delay.

D3, received by X-01 at the same instant and due then too: its one step (PB-A) began Wed 4
March 08:00 and is due Mon 9 March 17:00. Judged at Fri 6 March 00:00 the dossier is overdue
but the step is not late: nobody. Judged at Tue 10 March 00:00 the step's time ran out on
Monday at 17:00: PB-A's. One stored fact answers both (`open_delay_changes_at`). A supplement
requested Wed 11 March 09:00 comes after both period ends: each reads the fact before it.

Period [1 March, 10 March): X-01 received 2 in person, both in progress and overdue at its
end; PB-A and PB-B, which received nothing, each caused one: `in_progress_overdue_caused` 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest

from dossierflow.reporting.http import add_reporting_routes
from dossierflow.reporting.queries import fetch_report
from dossierflow.reporting.report import build_report, render, with_compliance
from dossierflow.rules.evaluation import evaluate
from dossierflow.rules.records import fact_records
from dossierflow.schemas.event import Channel
from dossierflow.store import Store, connect, migrate
from dossierflow.streams.processor import DossierProcessor
from tests.test_step_delays_view import write
from tests.test_steps import CATALOG, HISTORY, T, ev, step_started, vn

pytestmark = pytest.mark.clickhouse

TO_10_MARCH = (date(2026, 3, 1), date(2026, 3, 10))
TO_6_MARCH = (date(2026, 3, 1), date(2026, 3, 6))
D3 = [
    msgspec.structs.replace(event, dossier_id="D3") for event in (
        ev("d3-0", T.RECEIVED, vn(2, 8), unit_code="X-01", procedure_code="P3",
           channel=Channel.IN_PERSON),
        step_started("d3-1", "1", "PB-A", vn(4, 8), vn(9, 17)),
        ev("d3-2", T.SUPPLEMENT_REQUESTED, vn(11, 9)),
    )
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = connect(f"chdb://{tmp_path / 'ch'}")
    migrate(opened)
    d1 = fact_records(evaluate("D1", HISTORY[:4], CATALOG, vn(2, 17)), CATALOG)
    d3 = fact_records(evaluate("D3", D3, CATALOG, vn(12, 0)), CATALOG)
    write(opened, "facts", 0, d1 + d3)
    try:
        yield opened
    finally:
        opened.close()


def overdue_causes(store: Store, period: tuple[date, date]) -> list[tuple[Any, ...]]:
    return [
        tuple(row) for row in store.client.query(
            "SELECT dossier_id, overdue, unit_code, procedure_code, due_at, resolved_at,"
            " caused_by FROM bi_overdue_causes(period_from = {f:String}, period_to = {t:String})"
            " ORDER BY dossier_id",
            parameters={"f": period[0].isoformat(), "t": period[1].isoformat()},
        ).result_rows
    ]


def test_the_view_judges_each_open_overdue_dossier_at_the_periods_end(store: Store) -> None:
    due = vn(5, 8)
    assert overdue_causes(store, TO_10_MARCH) == [
        ("D1", "in_progress_overdue", "X-01", "P3", due, None, ["PB-B"]),
        ("D3", "in_progress_overdue", "X-01", "P3", due, None, ["PB-A"]),
    ]
    assert overdue_causes(store, TO_6_MARCH) == [
        ("D1", "in_progress_overdue", "X-01", "P3", due, None, ["PB-B"]),
        ("D3", "in_progress_overdue", "X-01", "P3", due, None, []),
    ]
    # Not overdue yet at Thu 5 March 00:00: the deadline's day has not passed.
    assert overdue_causes(store, (date(2026, 3, 1), date(2026, 3, 5))) == []


def test_the_report_counts_the_open_delays_for_the_departments(store: Store) -> None:
    figures, compliance = fetch_report(store, *TO_10_MARCH)
    report = with_compliance(build_report(figures, CATALOG.units, *TO_10_MARCH), compliance,
                             CATALOG.units)
    rows = {r["unit_code"]: r for r in json.loads(render(report, "json"))["rows"]}
    assert {code: r["in_progress_overdue_caused"] for code, r in rows.items()} == {
        "PB-A": 1, "PB-B": 1, "X-01": 0
    }
    assert (rows["X-01"]["received"], rows["X-01"]["in_progress_overdue"]) == (2, 2)
    assert {code: r["resolved_overdue_caused"] for code, r in rows.items()} == {
        "PB-A": 0, "PB-B": 0, "X-01": 0
    }
    header, *lines = render(report, "csv", "en").splitlines()
    column = header.split(",").index("in_progress_overdue_caused")
    assert [line.split(",")[column] for line in lines] == ["1", "1", "0", "2"]
    assert "Hồ sơ đang quá hạn do đơn vị gây ra" in render(report, "table", "vi")
    assert "Overdue in progress it caused" in render(report, "table", "en")
    _, before_monday = fetch_report(store, *TO_6_MARCH)
    assert {code: c.in_progress_overdue_caused for code, c in before_monday.items()} == {
        "PB-B": 1, "X-01": 0
    }


async def test_get_report_gives_the_open_delays(store: Store) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    app = web.Application()
    add_reporting_routes(app, store, CATALOG)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/report?from=2026-03-01&to=2026-03-10&format=json")
        assert response.status == 200
        body = await response.json()
    assert {r["unit_code"]: r["in_progress_overdue_caused"] for r in body["rows"]} == {
        "PB-A": 1, "PB-B": 1, "X-01": 0
    }
    assert body["total"]["in_progress_overdue_caused"] == 2


def test_a_transferred_dossiers_apology_keeps_its_row_in_the_views_that_need_dossiers(
    tmp_path: Path,
) -> None:
    """Review of migration 016: `bi_period_report` and `bi_compliance_report` keep the rows
    of `bi_report` with `dossiers` > 0. DT, received by X-01 on Mon 2 March 08:00 (due Thu 5
    March 08:00), is handed to PB-B at 10:00, which apologises on Fri 6 March 09:00, after
    the deadline: a late apology. Apologies count for the receiving unit (TRANSFERRED moves
    only the handling unit), whose dossier was received before them, so no row is dropped:
    PB-B has none anywhere, X-01 has the apology in both views."""
    history = [
        msgspec.structs.replace(event, dossier_id="DT") for event in (
            ev("t0", T.RECEIVED, vn(2, 8), unit_code="X-01", procedure_code="P3",
               channel=Channel.IN_PERSON),
            ev("t1", T.TRANSFERRED, vn(2, 10), unit_code="PB-B"),
            ev("t2", T.APOLOGY_ISSUED, vn(6, 9), new_due_at=vn(11, 17)),
        )
    ]
    store = connect(f"chdb://{tmp_path / 'ch'}")
    try:
        migrate(store)
        write(store, "facts", 0, fact_records(evaluate("DT", history, CATALOG, vn(6, 10)),
                                              CATALOG))
        bounds = {"f": "2026-03-01", "t": "2026-04-01"}

        def rows(sql: str) -> dict[str, dict[str, Any]]:
            result = store.client.query(sql, parameters=bounds)
            return {row[0]: dict(zip(result.column_names, row, strict=True))
                    for row in result.result_rows}

        whole = rows("SELECT * FROM bi_report(period_from = {f:String}, period_to = {t:String})")
        period = rows("SELECT * FROM bi_period_report(period_from = {f:String},"
                      " period_to = {t:String})")
        compliance = rows("SELECT * FROM bi_compliance_report(period_from = {f:String},"
                          " period_to = {t:String})")
    finally:
        store.close()
    assert set(whole) == set(period) == set(compliance) == {"X-01"}
    assert (period["X-01"]["apologies"], period["X-01"]["in_progress_overdue"]) == (1, 1)
    assert (compliance["X-01"]["apologies_late"],
            compliance["X-01"]["in_progress_overdue_no_apology"]) == (1, 0)


def test_the_live_workers_facts_and_replays_give_the_same_open_delays(store: Store) -> None:
    """L1 is D1 left open after step 3's start (Thu 10:00) with a wait for a payment, Tue
    09:00 to Wed 09:00, that arrives last: the worker publishes facts event by event (the late
    ones re-issue the facts after them), replay writes each dossier's facts once (as R1, R3
    here: chDB opens one store per process). L3 is D3. Every period end from 3 to 11 March
    gives the same rows. By hand: the wait (8 working hours, `extend`) moves L1's deadline to
    Fri 6 March 08:00 and step 2's to Wed 16:00; step 2 ended Thu 10:00 having held it 19.5 - 8
    = 11.5 h of its 8: at Sat 7 March 00:00 L1 is overdue, PB-B's delay."""
    pause = [ev("p1", T.FINANCIAL_OBLIGATION_REQUESTED, vn(3, 9)), ev("p2", T.RESUMED, vn(4, 9))]
    histories = {
        "1": [*HISTORY[:5], *pause],  # arrival order: the wait last
        "3": D3,
    }
    processor, offset = DossierProcessor(CATALOG), 100
    for number, arrivals in histories.items():
        record, latest = None, None
        for event in (msgspec.structs.replace(e, dossier_id=f"L{number}") for e in arrivals):
            late = latest is not None and event.occurred_at < latest
            effects = processor.on_event(record, event, partition=0, clock=event.occurred_at,
                                         late=late)
            write(store, "facts", offset, effects.facts)
            offset += len(effects.facts)
            record, latest = effects.record, max(latest or event.occurred_at, event.occurred_at)
    replayed = [
        evaluate(f"R{number}", [msgspec.structs.replace(e, dossier_id=f"R{number}")
                                for e in history], CATALOG, vn(12, 0))
        for number, history in histories.items()
    ]
    write(store, "facts", offset,
          [f for evaluation in replayed for f in fact_records(evaluation, CATALOG)])
    for day in range(3, 12):
        rows = overdue_causes(store, (date(2026, 3, 1), date(2026, 3, day)))
        live = [row[1:] for row in rows if row[0].startswith("L")]
        assert live == [row[1:] for row in rows if row[0].startswith("R")], day
    to_7_march = overdue_causes(store, (date(2026, 3, 1), date(2026, 3, 7)))
    assert [(row[0], row[4], row[-1]) for row in to_7_march if row[0].startswith("L")] == [
        ("L1", vn(6, 8), ["PB-B"]), ("L3", vn(5, 8), [])
    ]


def test_the_view_lists_the_dossiers_the_report_counts_overdue(
    store: Store, tmp_path: Path
) -> None:
    """Generated histories (pauses, resumptions that move deadlines, transfers, apologies)
    over a quarter, judged at period ends inside it (dossiers with events since: the last
    fact before the end) and after it: per receiving unit, the view's rows are the report's
    `resolved_overdue` and `in_progress_overdue`."""
    from dossierflow.backfill import backfill
    from dossierflow.replay import read_events, replay
    from dossierflow.rules.catalog import load_catalog
    from dossierflow.simulate import generate_lines
    from dossierflow.sinks.clickhouse import ClickHouseSink

    catalog = load_catalog()
    events_path = tmp_path / "events.jsonl"
    events_path.write_bytes(b"".join(generate_lines(3000, seed=7, days=90)))
    events = read_events(events_path, lambda n, reason: None)
    assert events.latest is not None
    backfill(replay(events, catalog, events.latest), catalog, ClickHouseSink(store), "test")
    checked = 0
    for end in (date(2026, 2, 2), date(2026, 3, 2), date(2026, 3, 17), date(2026, 6, 1)):
        period = (date(2026, 1, 1), end)
        figures, _ = fetch_report(store, *period)
        listed: dict[tuple[str, str], int] = {}
        for row in overdue_causes(store, period):  # the fixture's D1 and D3 as well
            listed[row[2], row[1]] = listed.get((row[2], row[1]), 0) + 1
        for unit, f in figures.items():
            assert listed.pop((unit, "resolved_overdue"), 0) == f.resolved_overdue, unit
            assert listed.pop((unit, "in_progress_overdue"), 0) == f.in_progress_overdue, unit
            checked += f.resolved_overdue + f.in_progress_overdue
        assert listed == {}
    assert checked > 100


def test_the_dashboard_says_a_dossier_stored_before_017_is_not_attributed_yet(
    tmp_path: Path
) -> None:
    """A store migrated to 016 holds D3-OLD's facts (D3's history); 017 is applied, then D1
    and D3 are written as the worker writes them now. At 6 March D3 is overdue and its step
    not late (a real "no step overran"); D3-OLD's attribution columns are 017's defaults,
    which say nothing: the dashboard labels it "not attributed yet", until 10 March too,
    when D3 is PB-A's."""
    from dossierflow.reporting.dashboard.pages import Selection, unit_fragments
    from dossierflow.reporting.dashboard.views import Period
    from dossierflow.reporting.queries import delayed_dossiers
    from dossierflow.rollups import RollupState
    from dossierflow.sinks.clickhouse import FACT_COLUMNS
    from dossierflow.store import bundled_migrations

    store = connect(f"chdb://{tmp_path / 'ch'}")
    try:
        migrate(store, [m for m in bundled_migrations() if m.version < 17])
        old = [msgspec.structs.replace(e, dossier_id="D3-OLD") for e in D3]
        facts = fact_records(evaluate("D3-OLD", old, CATALOG, vn(12, 0)), CATALOG)
        columns = [c for c in FACT_COLUMNS if not c.startswith("open_delay")]
        store.client.insert("dossier_facts", [[getattr(f, c) for f in facts] for c in columns],
                            column_names=columns, column_oriented=True)
        migrate(store)
        write(store, "facts", 0,
              fact_records(evaluate("D1", HISTORY[:4], CATALOG, vn(2, 17)), CATALOG)
              + fact_records(evaluate("D3", D3, CATALOG, vn(12, 0)), CATALOG))
        judged = {period: {d.dossier_id: (d.caused_by, d.attributed)
                           for d in delayed_dossiers(store, ["X-01"], *period)}
                  for period in (TO_6_MARCH, TO_10_MARCH)}
        assert judged[TO_6_MARCH] == {"D1": (("PB-B",), True), "D3": ((), True),
                                      "D3-OLD": ((), False)}
        assert judged[TO_10_MARCH] == {"D1": (("PB-B",), True), "D3": (("PB-A",), True),
                                       "D3-OLD": ((), False)}
        figures, _ = fetch_report(store, *TO_6_MARCH)
        report = build_report(figures, CATALOG.units, *TO_6_MARCH, unit="X-01")
        selection = Selection(Period(*TO_6_MARCH), "X-01", "vi")
        html = unit_fragments(report, RollupState(None, None, None), [], None, CATALOG.units,
                              selection, vn(6, 0),
                              delayed_dossiers(store, ["X-01"], *TO_6_MARCH))["delayed-list"]
        cells = {row.split('"')[0]: row.split('<td class="caused-by">')[1].split("<")[0]
                 for row in html.split('data-dossier="')[1:]}
        assert cells == {"D1": "Công chức địa chính", "D3": "Không bước nào quá hạn",  # PB-B
                         "D3-OLD": "Chưa phân tích bước (lưu trước bản cập nhật 017)"}
    finally:
        store.close()
