"""The Decision 766 progress index: hand-worked dossiers, read by the pure rules and by the
store's `bi_progress_766` view after a backfill, against figures worked out here by hand.

Office hours 07:30–11:30 and 13:00–17:00, Monday–Friday (8 working hours a day); March 2026
has no holiday. Every dossier of procedure P5 is due 5 working days (40 h) after its clock
starts; received Mon 2/3 08:00 it is due Mon 9/3 08:00 (Mon 7.5 h + Tue–Fri 32 h + 0.5 h).
The period is March 2026, [1/3 00:00, 1/4 00:00).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dossierflow.backfill import backfill
from dossierflow.reporting.http import add_reporting_routes
from dossierflow.reporting.progress import fetch_progress, progress_report, render_progress
from dossierflow.rules.calendar import VIETNAM
from dossierflow.rules.catalog import Catalog, parse_catalog
from dossierflow.rules.evaluation import evaluate
from dossierflow.rules.lifecycle import DossierState
from dossierflow.rules.progress_index import (
    ApologyAppointment,
    IndexCounts,
    IndexSettings,
    Reading,
    build_index,
    parse_bands,
    processing_duration,
    reading,
    tally,
)
from dossierflow.rules.records import fact_records
from dossierflow.schemas.event import DossierEvent, EventType
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.store import Store, connect, migrate
from tests.test_report import History, write

T = EventType
CATALOG_YAML = b"""
procedures:
  - {code: P5, name: p5, processing_time: {value: 5, unit: working_days},
     pause_policy: {supplement: ignore, financial: ignore}}
units:
  - {code: P, name: UBND tinh, level: province}
  - {code: S1, name: So Mot, level: department, parent: P}
  - {code: S2, name: So Hai, level: department, parent: P}
  - {code: X1, name: Xa Mot, level: commune, parent: P}
  - {code: X2, name: Xa Hai, level: commune, parent: P}
"""
CATALOG: Catalog = parse_catalog(CATALOG_YAML, "index-catalog")
_ids = itertools.count()
START = datetime(2026, 3, 1, tzinfo=VIETNAM)
END = datetime(2026, 4, 1, tzinfo=VIETNAM)
CLOCK = datetime(2026, 6, 1, tzinfo=VIETNAM)


def vn(mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=VIETNAM)


def ev(dossier: str, kind: EventType, at: datetime, **fields: Any) -> DossierEvent:
    return DossierEvent(
        schema_version=1, event_id=f"E{next(_ids)}", dossier_id=dossier, type=kind,
        occurred_at=at, **fields,
    )


def received(dossier: str, unit: str, at: datetime) -> DossierEvent:
    return ev(dossier, T.RECEIVED, at, unit_code=unit, procedure_code="P5", channel="ONLINE")


# Each dossier with its hand-worked reading for March (appointment 9/3 08:00 unless said).
HISTORIES: dict[str, list[DossierEvent]] = {
    # on time by local date (same day), overdue by instant: 15:00 > 08:00
    "D1": [received("D1", "S1", vn(3, 2, 8)), ev("D1", T.RESOLVED, vn(3, 9, 15))],
    # on time by instant but not by date: resolved Tue 10/3 10:00, a day after the
    # appointment (by date OVERDUE: the policy `ignore` leaves the deadline), but 48 h of
    # supplement waiting (Tue 3/3 08:00 to Thu 5/3 08:00) are subtracted: Sun 8/3 10:00
    "D2": [
        received("D2", "S1", vn(3, 2, 8)),
        ev("D2", T.SUPPLEMENT_REQUESTED, vn(3, 3, 8)),
        ev("D2", T.RESUMED, vn(3, 5, 8)),
        ev("D2", T.RESOLVED, vn(3, 10, 10)),
    ],
    # two supplements, still waiting for the second at the period's end: OVERDUE although
    # subtracting the waits would leave it far before its appointment (Mon 30/3 08:00)
    "D3": [
        received("D3", "S1", vn(3, 23, 8)),
        ev("D3", T.SUPPLEMENT_REQUESTED, vn(3, 24, 8)),
        ev("D3", T.RESUMED, vn(3, 25, 8)),
        ev("D3", T.SUPPLEMENT_REQUESTED, vn(3, 26, 8)),
    ],
    # one supplement, requested after the appointment and still waited for: ON_TIME
    "D4": [
        received("D4", "S2", vn(3, 2, 8)),
        ev("D4", T.SUPPLEMENT_REQUESTED, vn(3, 20, 8)),
    ],
    # received in February, resolved in March before its appointment Thu 5/3 08:00: ON_TIME
    "D5": [received("D5", "S2", vn(2, 26, 8)), ev("D5", T.RESOLVED, vn(3, 4, 10))],
    # ended before the period: not counted
    "D6": [received("D6", "S2", vn(2, 23, 8)), ev("D6", T.RESOLVED, vn(2, 27, 10))],
    # withdrawn Wed 11/3 09:00, after its appointment: its end of processing, OVERDUE
    "D7": [received("D7", "X1", vn(3, 2, 8)), ev("D7", T.WITHDRAWN, vn(3, 11, 9))],
    # in progress at the period's end, due Wed 1/4 08:00: judged at 1/4 00:00, ON_TIME
    # (it ends overdue in April); its AT_RISK alert fired Tue 31/3 08:00 (8 working hours)
    "D8": [received("D8", "X1", vn(3, 25, 8)), ev("D8", T.RESOLVED, vn(4, 3, 10))],
    # in progress at the period's end, due Mon 23/3 08:00: OVERDUE
    "D9": [received("D9", "X2", vn(3, 16, 8)), ev("D9", T.RESOLVED, vn(4, 2, 10))],
    # apology on Fri 6/3 with a new appointment Fri 13/3 17:00, resolved Thu 12/3 10:00:
    # ON_TIME against the synced appointment, OVERDUE against the original one
    "D10": [
        received("D10", "X2", vn(3, 2, 8)),
        ev("D10", T.APOLOGY_ISSUED, vn(3, 6, 10), new_due_at=vn(3, 13, 17)),
        ev("D10", T.RESOLVED, vn(3, 12, 10)),
    ],
    # payment waiting is not subtracted: D2's history with a financial obligation, OVERDUE
    "D11": [
        received("D11", "X2", vn(3, 2, 8)),
        ev("D11", T.FINANCIAL_OBLIGATION_REQUESTED, vn(3, 3, 8)),
        ev("D11", T.RESUMED, vn(3, 5, 8)),
        ev("D11", T.RESOLVED, vn(3, 10, 10)),
    ],
}

# By hand, per unit: (received or processed, on time, overdue, resolved in March, at risk)
SYNCED = {
    "S1": (3, 1, 2, 2, 0),   # D1 overdue, D2 on time, D3 overdue; D1 and D2 resolved
    "S2": (2, 2, 0, 1, 1),   # D4 and D5 on time; D5 resolved; D4 open, on time, AT_RISK fired 6/3
    "X1": (2, 1, 1, 0, 1),   # D7 overdue (withdrawn), D8 on time and at risk
    "X2": (3, 1, 2, 2, 0),   # D9 overdue, D10 on time, D11 overdue; D10 and D11 resolved
}
# Processing days (reception to result, working time / 8 h) of the March resolutions:
# D1 2/3 08:00 -> 9/3 15:00 = 40 + 3.5 + 2 = 45.5 h = 5.6875; D2 and D11 2/3 08:00 -> 10/3
# 10:00 = 40 (to 9/3 08:00) + 7.5 + 2.5 = 50 h = 6.25; D5 26/2 08:00 -> 4/3 10:00
# = 7.5 + 8 + 8 + 8 + 2.5 = 34 h = 4.25; D10 2/3 08:00 -> 12/3 10:00
# = 40 + 7.5 + 8 + 8 + 2.5 = 66 h = 8.25.
AVERAGE_DAYS = {"S1": 5.97, "S2": 4.25, "X1": None, "X2": 7.25}  # S1 11.9375 / 2, X2 14.5 / 2


def states_at(instant: datetime) -> Iterator[DossierState]:
    for dossier, events in HISTORIES.items():
        steps = [s for s in evaluate(dossier, events, CATALOG, CLOCK).steps
                 if s.event.occurred_at < instant]
        if steps:
            yield steps[-1].state


def at_risk_before(instant: datetime) -> frozenset[str]:
    return frozenset(
        dossier
        for dossier, events in HISTORIES.items()
        for alert in evaluate(dossier, events, CATALOG, CLOCK).alerts
        if alert.kind.value == "AT_RISK" and alert.at < instant
    )


def as_tuple(counts: IndexCounts) -> tuple[int, int, int, int, int]:
    return (counts.received, counts.on_time, counts.overdue, counts.completed, counts.at_risk)


# --- the pure rules -------------------------------------------------------------------


def test_each_dossier_reads_as_worked_out_by_hand() -> None:
    settings = IndexSettings()
    got = {s.dossier_id: reading(s, END, settings) for s in states_at(END)}
    on, late = Reading.ON_TIME, Reading.OVERDUE
    assert got == {
        "D1": late, "D2": on, "D3": late, "D4": on, "D5": on, "D6": on, "D7": late,
        "D8": on, "D9": late, "D10": on, "D11": late,
    }
    original = IndexSettings(apology_appointment=ApologyAppointment.ORIGINAL)
    assert reading(next(s for s in states_at(END) if s.dossier_id == "D10"), END, original) \
        is Reading.OVERDUE


def test_processing_days_add_up_to_the_same_sum_in_any_order() -> None:
    """A unit's, group's or province's total must not depend on the order of its parts (the
    store returns units in any order; a Float64 sum would differ in its last bits)."""
    parts = [IndexCounts(completed=1, processing_days=d) for d in (0.1, 0.2, 0.3, 1.0003)]
    sums = {sum(order, IndexCounts()).processing_days for order in itertools.permutations(parts)}
    assert sums == {1.6003}


def test_by_instant_and_by_date_disagree_both_ways() -> None:
    by_id = {s.dossier_id: s for s in states_at(CLOCK)}
    assert by_id["D1"].outcome is not None and by_id["D1"].outcome.value == "ON_TIME"
    assert reading(by_id["D1"], CLOCK, IndexSettings()) is Reading.OVERDUE
    assert by_id["D2"].outcome is not None and by_id["D2"].outcome.value == "OVERDUE"
    assert reading(by_id["D2"], CLOCK, IndexSettings()) is Reading.ON_TIME
    assert by_id["D2"].supplement_wait == timedelta(hours=48)
    assert by_id["D11"].supplement_wait == timedelta(0)


def test_a_third_supplement_allowed_makes_the_two_supplement_dossier_on_time() -> None:
    d3 = next(s for s in states_at(END) if s.dossier_id == "D3")
    assert d3.supplement_requests == 2
    assert reading(d3, END, IndexSettings(max_supplements_while_waiting=2)) is Reading.ON_TIME


def test_tally_per_unit_equals_the_hand_worked_counts() -> None:
    counts = tally(states_at(END), START, END, IndexSettings(), CATALOG.calendar,
                   at_risk_before(END))
    assert {unit: as_tuple(c) for unit, c in counts.items()} == SYNCED
    assert {unit: c.average_days for unit, c in counts.items()} == AVERAGE_DAYS


def test_scores_ranks_and_classes_by_hand() -> None:
    counts = tally(states_at(END), START, END, IndexSettings(), CATALOG.calendar,
                   at_risk_before(END))
    index = build_index(counts, CATALOG.units, IndexSettings())
    units = {row.code: row for row in index.units}
    # 20 x on time / received: S1 20/3, S2 20, X1 10, X2 20/3; province 20 x 5/10
    assert {c: r.score for c, r in units.items()} == {
        "S1": 6.67, "S2": 20.0, "X1": 10.0, "X2": 6.67}
    assert {c: r.rank for c, r in units.items()} == {"S2": 1, "S1": 2, "X1": 1, "X2": 2}
    # bands on the share of 20: S2 1.0 Tốt; X1 0.5, S1 and X2 0.33: Yếu
    assert {c: r.band.label_vi for c, r in units.items() if r.band} == {
        "S1": "Yếu", "S2": "Tốt", "X1": "Yếu", "X2": "Yếu"}
    assert index.province.score == 10.0 and index.province.counts.received == 10
    groups = {g.code: as_tuple(g.counts) for g in index.groups}
    assert groups == {"commune": (5, 2, 3, 2, 1), "department": (5, 3, 2, 3, 1)}
    # if the at-risk dossiers went overdue: X1 20 x 0/2, S2 20 x 1/2
    assert units["X1"].score_if_at_risk_overdue == 0.0
    assert units["S2"].score_if_at_risk_overdue == 10.0


def test_processing_duration_in_the_procedures_unit() -> None:
    d1 = next(s for s in states_at(CLOCK) if s.dossier_id == "D1")
    duration = processing_duration(d1, CATALOG.calendar)
    assert duration is not None and duration.value == 5.6875 and duration.days == 5.6875


def test_bands_are_checked() -> None:
    assert parse_bands("0.5:Đạt:pass,0:Chưa đạt:fail")[0].label_vi == "Đạt"
    with pytest.raises(ValueError, match="last band must start at 0"):
        parse_bands("0.9:Tốt:good,0.5:Khá:fair")
    with pytest.raises(ValueError, match="from the best down"):
        parse_bands("0.5:Khá:fair,0.9:Tốt:good,0:Yếu:weak")


# --- the store ------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = connect(f"chdb://{tmp_path / 'ch'}")
    migrate(opened)
    evaluations = [evaluate(d, events, CATALOG, CLOCK) for d, events in HISTORIES.items()]
    backfill(evaluations, CATALOG, ClickHouseSink(opened), "hand-worked")
    try:
        yield opened
    finally:
        opened.close()


@pytest.mark.clickhouse
def test_the_store_reads_the_hand_worked_index(store: Store) -> None:
    report = progress_report(store, CATALOG.units, date(2026, 3, 1), date(2026, 4, 1), CLOCK,
                             IndexSettings())
    assert {r.code: as_tuple(r.counts) for r in report.index.units} == SYNCED
    assert {r.code: r.counts.average_days for r in report.index.units} == AVERAGE_DAYS
    assert report.index.province.score == 10.0
    times = {(p.unit_code, p.procedure_code): (p.completed, p.average) for p in report.procedures}
    assert times == {("S1", "P5"): (2, 5.97), ("S2", "P5"): (1, 4.25), ("X2", "P5"): (2, 7.25)}
    original = progress_report(
        store, CATALOG.units, date(2026, 3, 1), date(2026, 4, 1), CLOCK,
        IndexSettings(apology_appointment=ApologyAppointment.ORIGINAL),
    )
    assert {r.code: r.counts.on_time for r in original.index.units}["X2"] == 0


@pytest.mark.clickhouse
def test_this_month_so_far_is_judged_now(store: Store) -> None:
    """On 31/3 at 12:00, D8 (due 1/4 08:00) is on time and at risk; D9 (due 23/3) overdue;
    D3 waits for its second supplement (overdue); the others as at the month's end."""
    now = vn(3, 31, 12)
    report = progress_report(store, CATALOG.units, date(2026, 3, 1), date(2026, 4, 1), now,
                             IndexSettings())
    assert report.as_of == now
    expected = tally(states_at(now), START, now, IndexSettings(), CATALOG.calendar,
                     at_risk_before(now))
    assert {r.code: as_tuple(r.counts) for r in report.index.units} == {
        u: as_tuple(c) for u, c in expected.items()}
    assert as_tuple(expected["X1"]) == (2, 1, 1, 0, 1)


@pytest.mark.clickhouse
def test_renderings_carry_the_figures(store: Store) -> None:
    report = progress_report(store, CATALOG.units, date(2026, 3, 1), date(2026, 4, 1), CLOCK,
                             IndexSettings())
    csv_text = render_progress(report, "csv", "en")
    assert "S2,So Hai,department,2,2,0,1.0,20.0,1,good,4.25,1,1,10.0" in csv_text
    table = render_progress(report, "table", "vi")
    assert "TOÀN TỈNH" in table and "Sở, ban, ngành" in table and "6,67" in table


def _closed_store(tmp_path: Path) -> str:
    url = f"chdb://{tmp_path / 'cli'}"
    opened = connect(url)
    migrate(opened)
    evaluations = [evaluate(d, events, CATALOG, CLOCK) for d, events in HISTORIES.items()]
    backfill(evaluations, CATALOG, ClickHouseSink(opened), "hand-worked")
    opened.close()
    return url


@pytest.mark.clickhouse
def test_the_report_command_prints_the_index(tmp_path: Path) -> None:
    url = _closed_store(tmp_path)
    catalog = tmp_path / "catalog.yaml"
    catalog.write_bytes(CATALOG_YAML)
    done = subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", "report", "--index", "766", "--store", url,
         "--sink-url", "http://127.0.0.1:9", "--catalog", str(catalog),
         "--from", "01/03/2026", "--through", "31/03/2026", "--format", "json"],
        capture_output=True, text=True, timeout=180, check=False,
        env={**os.environ, "DOSSIERFLOW_INDEX766_APOLOGY_APPOINTMENT": "original"},
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["settings"]["apology_appointment"] == "original"
    # the original appointment makes D10 overdue: X2 0 of 3, the province 4 of 10
    assert {u["code"]: (u["received"], u["on_time"]) for u in data["units"]} == {
        "S1": (3, 1), "S2": (2, 2), "X1": (2, 1), "X2": (3, 0)}
    assert data["province"]["score"] == 8.0


@pytest.mark.clickhouse
def test_get_report_index_766_over_http(store: Store) -> None:
    async def scenario() -> tuple[int, dict[str, Any], int, str]:
        app = web.Application()
        add_reporting_routes(app, store, CATALOG, clock=lambda: CLOCK,
                             index_settings=IndexSettings())
        async with TestClient(TestServer(app)) as client:
            good = await client.get("/report", params={
                "from": "2026-03-01", "to": "2026-04-01", "index": "766", "lang": "en"})
            bad = await client.get("/report", params={
                "from": "2026-03-01", "to": "2026-04-01", "index": "767"})
            scoped = await client.get("/report", params={
                "from": "2026-03-01", "to": "2026-04-01", "index": "766", "unit": "X1"})
            assert scoped.status == 400
            for refused in ({"lang": "xx", "format": "csv"}, {"appointment": "original"}):
                answer = await client.get("/report", params={
                    "from": "2026-03-01", "to": "2026-04-01", "index": "766", **refused})
                assert answer.status == 400, refused
            csv_answer = await client.get("/report", params={
                "from": "2026-03-01", "to": "2026-04-01", "index": "766", "format": "csv"})
            assert (await csv_answer.read()).count(b"\r\n") >= 2  # RFC 4180, as report_csv
            return good.status, await good.json(), bad.status, (await bad.json())["error"]

    status, data, bad_status, error = asyncio.run(scenario())
    assert status == 200
    assert {u["code"]: u["score"] for u in data["units"]} == {
        "S1": 6.67, "S2": 20.0, "X1": 10.0, "X2": 6.67}
    assert {g["code"]: g["score"] for g in data["groups"]} == {"commune": 8.0, "department": 12.0}
    assert (bad_status, error) == (400, "index '767': the one index known is 766")


# --- what the lifecycle keeps for the index ----------------------------------------------


def fold_of(events: list[DossierEvent]) -> DossierState:
    return evaluate(events[0].dossier_id, events, CATALOG, CLOCK).state


def test_a_supplement_wait_ended_by_resolution_or_withdrawal_is_counted() -> None:
    """Requested Mon 2/3 09:00; resolved (or withdrawn) while waiting, Wed 4/3 09:00: 48 h."""
    for ending in (T.RESOLVED, T.WITHDRAWN):
        state = fold_of([
            received("W1", "S1", vn(3, 2, 8)),
            ev("W1", T.SUPPLEMENT_REQUESTED, vn(3, 2, 9)),
            ev("W1", ending, vn(3, 4, 9)),
        ])
        assert (state.supplement_requests, state.supplement_wait) == (1, timedelta(hours=48))
        assert state.pause_kind is None and state.appointment_at == vn(3, 9, 8)


def test_a_financial_wait_is_not_a_supplement_wait_and_pauses_never_move_the_appointment() -> None:
    """EXTEND moves the deadline in force by the working time paused; the appointment stays."""
    catalog = parse_catalog(CATALOG_YAML.replace(b"ignore", b"extend"), "extend")
    events = [
        received("F1", "S1", vn(3, 2, 8)),
        ev("F1", T.FINANCIAL_OBLIGATION_REQUESTED, vn(3, 3, 8)),
        ev("F1", T.RESUMED, vn(3, 4, 8)),  # 8 working hours paused
    ]
    state = evaluate("F1", events, catalog, CLOCK).state
    assert (state.supplement_requests, state.supplement_wait) == (0, timedelta(0))
    assert state.appointment_at == vn(3, 9, 8) and state.due_at == vn(3, 10, 8)


def test_the_facts_carry_both_readings_and_the_supplements() -> None:
    facts = fact_records(evaluate("D2", HISTORIES["D2"], CATALOG, CLOCK), CATALOG)
    waiting, resolved = facts[1], facts[-1]
    assert waiting.supplement_waiting_since == vn(3, 3, 8) and waiting.supplement_requests == 1
    assert (resolved.outcome, resolved.outcome_by_instant) == ("OVERDUE", "ON_TIME")
    assert resolved.supplement_wait_ms == 48 * 3600 * 1000
    assert resolved.processing_ended_at == vn(3, 10, 10)
    assert (resolved.processing_unit, resolved.processing_duration) == ("working_days", 6.25)


def test_facts_stored_before_migration_010_are_read_against_their_receipts_deadline(
    tmp_path: Path,
) -> None:
    """Facts without the 766 columns (as stored before migration 010): the RECEIVED fact's
    deadline stands for the appointment. Due 9/3 17:00, resolved 10/3 10:00: overdue; due
    9/3 17:00, resolved 9/3 16:00: on time."""
    old = [
        History("OLD1", "X1").received("2026-03-02 08:00", due="2026-03-09 17:00")
        .add("RESOLVED", "2026-03-10 10:00", outcome="OVERDUE"),
        History("OLD2", "X1").received("2026-03-02 08:00", due="2026-03-09 17:00")
        .add("RESOLVED", "2026-03-09 16:00", outcome="ON_TIME"),
    ]
    opened = connect(f"chdb://{tmp_path / 'old'}")
    try:
        migrate(opened)
        write(opened, [fact for history in old for fact in history.facts()])
        counts = fetch_progress(opened, START, END, IndexSettings())
    finally:
        opened.close()
    assert as_tuple(counts["X1"]) == (2, 1, 1, 0, 0)


def test_the_index_refuses_a_unit_or_level_scope_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", "report", "--index", "766", "--store",
         f"chdb://{tmp_path / 'none'}", "--sink-url", "http://127.0.0.1:9", "--level",
         "commune", "--from", "01/03/2026", "--through", "31/03/2026"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert (done.returncode, done.stderr.splitlines()) == (2, [
        "dossierflow report: --unit, --level, --outcome-reading and --appointment do not apply "
        "to --index 766: it lists every unit, ranked within its group, with each group's total "
        "and the province's, by the DOSSIERFLOW_INDEX766_* settings"])
