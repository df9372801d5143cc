"""The period report against real chDB, on a hand-built fact set with figures derived by hand."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import msgspec
import pytest

from dossierflow.errors import ExitCode
from dossierflow.reporting.queries import fetch_figures
from dossierflow.reporting.report import (
    REPORT_KEYS,
    ROW_KEYS,
    Figures,
    LevelWithoutDossiers,
    Report,
    ReportError,
    build_report,
    parse_date,
    report_csv,
    report_from_json,
    report_json,
    report_period,
)
from dossierflow.reporting.report_table import render_text
from dossierflow.rules.catalog import Unit
from dossierflow.schemas.facts import DossierFact
from dossierflow.sinks.base import SinkBatch
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.store import Store, connect, migrate, refresh_rollups
from tests.import_probe import modules_imported_by

pytestmark = pytest.mark.clickhouse

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
FROM, TO = date(2026, 3, 1), date(2026, 4, 1)

UNITS = {
    "P": Unit("P", "UBND tỉnh", "province"),
    "S": Unit("S", "Sở Tư pháp", "department", "P"),
    "H": Unit("H", "UBND huyện Đông Sơn", "district", "P"),
    "X1": Unit("X1", "UBND xã Đông Hòa", "commune", "H"),
    "X2": Unit("X2", "UBND phường Hạc Thành", "commune", "P"),
}


def at(text: str) -> datetime:
    """A local instant, `YYYY-MM-DD HH:MM`."""
    return datetime.fromisoformat(text).replace(tzinfo=HCM)


@dataclass
class History:
    """Builds a dossier's facts the way the worker does: the state after each event."""

    dossier_id: str
    unit: str = "X1"
    channel: str = "IN_PERSON"
    steps: list[tuple[str, datetime, dict[str, Any]]] = field(default_factory=list)

    def received(self, when: str, due: str) -> History:
        return self.add("RECEIVED", when, due_at=at(due))

    def add(self, kind: str, when: str, **changes: Any) -> History:
        self.steps.append((kind, at(when), changes))
        return self

    def facts(self, version: int | None = None) -> list[DossierFact]:
        state: dict[str, Any] = {
            "status": "PENDING", "unit_code": None, "handling_unit_code": None,
            "procedure_code": None, "sector_code": None, "channel": None,
            "online_level": None, "received_at": None, "due_at": None,
            "rescheduled_due_at": None, "resolved_at": None, "closed_at": None,
            "outcome": None, "apologies": 0,
        }
        out = []
        for position, (kind, when, step_changes) in enumerate(self.steps):
            changes = dict(step_changes)
            if kind == "RECEIVED":
                state.update(
                    status="OPEN", unit_code=self.unit, handling_unit_code=self.unit,
                    procedure_code="1.000894", channel=self.channel, received_at=when,
                )
            elif kind == "SUBMITTED":
                state["status"] = "SUBMITTED"
            elif kind == "NOT_ACCEPTED":
                state.update(status="NOT_ACCEPTED", closed_at=when)
            elif kind == "RESOLVED":
                state.update(status="RESOLVED", resolved_at=when, closed_at=when)
            elif kind in ("WITHDRAWN", "STOPPED"):
                state.update(status=kind, closed_at=when)
            elif kind == "SUPPLEMENT_REQUESTED":
                state["status"] = "PAUSED"
            elif kind == "TRANSFERRED":
                state["handling_unit_code"] = changes.pop("to")
            elif kind == "APOLOGY_ISSUED":
                state.update(apologies=state["apologies"] + 1)
            state.update(changes)
            out.append(
                DossierFact(
                    event_id=f"{self.dossier_id}-{kind}-{when:%m%d%H%M}",
                    dossier_id=self.dossier_id,
                    type=kind,
                    occurred_at=when,
                    sequence=None,
                    position=position,
                    version=version or len(self.steps),
                    **state,
                )
            )
        return out


def dossiers() -> list[History]:
    """The fact set; the expected figures below are derived from these lines by hand."""
    return [
        # X1 (commune under district H)
        History("D1", "X1", "IN_PERSON").received("2026-02-20 09:00", due="2026-02-27 17:00")
        .add("RESOLVED", "2026-03-05 10:00", outcome="OVERDUE"),
        History("D2", "X1", "ONLINE").received("2026-03-02 08:00", due="2026-03-10 08:00")
        .add("RESOLVED", "2026-03-09 15:00", outcome="EARLY"),
        History("D3", "X1", "POSTAL").received("2026-03-10 08:00", due="2026-03-20 17:00")
        .add("TRANSFERRED", "2026-03-12 08:00", to="S")
        .add("RESOLVED", "2026-03-20 09:00", outcome="ON_TIME"),
        History("D4", "X1", "ONLINE").received("2026-03-25 08:00", due="2026-04-05 17:00"),
        History("D5", "X1", "IN_PERSON").received("2026-03-03 08:00", due="2026-03-13 17:00")
        .add("APOLOGY_ISSUED", "2026-03-12 09:00", rescheduled_due_at=at("2026-03-20 17:00")),
        History("D13", "X1", "ONLINE").add("SUBMITTED", "2026-03-05 08:00"),
        History("D14", "X1", "ONLINE").add("SUBMITTED", "2026-03-05 08:00")
        .add("NOT_ACCEPTED", "2026-03-06 08:00"),
        # X2 (commune directly under the province)
        History("D6", "X2", "ONLINE").received("2026-01-10 08:00", due="2026-01-25 17:00")
        .add("RESOLVED", "2026-01-20 08:00", outcome="EARLY"),
        History("D7", "X2", "IN_PERSON").received("2026-02-25 08:00", due="2026-03-10 17:00")
        .add("WITHDRAWN", "2026-03-04 08:00"),
        History("D8", "X2", "IN_PERSON").received("2026-03-15 08:00", due="2026-03-25 17:00")
        .add("STOPPED", "2026-03-16 08:00"),
        History("D9", "X2", "ONLINE").received("2026-03-30 08:00", due="2026-04-08 17:00")
        .add("SUPPLEMENT_REQUESTED", "2026-03-31 08:00"),
        History("D15", "X2", "POSTAL").received("2026-03-30 08:00", due="2026-03-31 17:00"),
        History("D16", "X2", "IN_PERSON").received("2026-03-31 10:00", due="2026-04-01 10:00"),
        # S (department): received on the last evening, resolved after `to`
        History("D10", "S", "ONLINE").received("2026-03-31 23:30", due="2026-04-03 17:00")
        .add("RESOLVED", "2026-04-01 00:30", outcome="EARLY"),
        History("D11", "S", "IN_PERSON").received("2026-04-01 00:00", due="2026-04-03 17:00"),
        # H (district): carried over, overdue, still open
        History("D12", "H", "IN_PERSON").received("2026-02-01 08:00", due="2026-02-10 17:00")
        .add("TRANSFERRED", "2026-03-10 08:00", to="S"),
    ]


def figures(**values: int) -> Figures:
    return Figures(**values)


EXPECTED = {
    "X1": figures(
        carried_over=1, received=4, received_online=2, received_in_person=1, received_postal=1,
        resolved_early=1, resolved_on_time=1, resolved_overdue=1,
        in_progress=2, in_progress_overdue=1, apologies=1,
    ),
    "X2": figures(
        carried_over=1, received=4, received_online=1, received_in_person=2, received_postal=1,
        withdrawn=1, stopped=1, in_progress=3, in_progress_overdue=1,
    ),
    "S": figures(received=1, received_online=1, in_progress=1),
    "H": figures(carried_over=1, in_progress=1, in_progress_overdue=1),
}
EXPECTED_TOTAL = figures(
    carried_over=3, received=9, received_online=4, received_in_person=3, received_postal=2,
    resolved_early=1, resolved_on_time=1, resolved_overdue=1, withdrawn=1, stopped=1,
    in_progress=7, in_progress_overdue=3, apologies=1,
)


def all_facts() -> list[DossierFact]:
    return [f for d in dossiers() for f in d.facts()]


def store_report(
    store: Store, period_from: date, period_to: date, *, rollup: bool = False, **scope: str
) -> Report:
    """The report of the store's figures, as `dossierflow report` builds it (live), or as the
    dashboard does (`rollup`: from the rollup, brought up to every fact written so far)."""
    if rollup:
        refresh_rollups(store)
    figures = fetch_figures(store, period_from, period_to, pre_aggregated=rollup)
    return build_report(figures, UNITS, period_from, period_to, **scope)


class ReportOf(Protocol):
    def __call__(self, store: Store, period_from: date, period_to: date, **scope: str) -> Report:
        ...


@pytest.fixture(params=["live", "rollup"])
def report_of(request: pytest.FixtureRequest) -> ReportOf:
    """The hand-worked cases hold for the live report and for the dashboards' rollup alike
    (their periods are whole local days, which is all the rollup serves)."""
    rollup = request.param == "rollup"

    def report(store: Store, period_from: date, period_to: date, **scope: str) -> Report:
        return store_report(store, period_from, period_to, rollup=rollup, **scope)

    return report


def write(store: Store, facts: Sequence[DossierFact], first_offset: int = 0) -> None:
    ClickHouseSink(store).write(
        SinkBatch("facts", 0, first_offset, first_offset + len(facts) - 1, tuple(facts), "t")
    )


def test_hand_built_figures(
    store: Store, report_of: ReportOf
) -> None:
    write(store, all_facts())
    report = report_of(store, FROM, TO)
    assert {r.unit_code: r.figures for r in report.rows} == EXPECTED
    assert report.total == EXPECTED_TOTAL
    assert report.violations == []
    assert [r.unit_code for r in report.rows] == ["S", "H", "X1", "X2"]  # by level, then code
    x1 = next(r for r in report.rows if r.unit_code == "X1")
    assert x1.figures.on_time_rate == pytest.approx(0.6667)
    assert x1.figures.online_rate == 0.5
    assert next(r for r in report.rows if r.unit_code == "X2").figures.on_time_rate is None


def test_redelivery_and_reissued_versions_do_not_double_count(
    store: Store, report_of: ReportOf
) -> None:
    facts = all_facts()
    write(store, facts)
    before = report_json(report_of(store, FROM, TO))
    assert report_of(store, FROM, TO).total == EXPECTED_TOTAL
    # re-delivered in other batch boundaries (other dedup tokens: real duplicate rows) ...
    write(store, facts[:7], first_offset=100)
    write(store, facts[5:], first_offset=200)
    # ... and a late event re-issues D2's history with a higher version (the worker's way):
    late = (
        History("D2", "X1", "ONLINE").received("2026-03-02 08:00", due="2026-03-10 08:00")
        .add("SUPPLEMENT_REQUESTED", "2026-03-03 08:00")
        .add("RESOLVED", "2026-03-09 15:00", outcome="EARLY")
    )
    write(store, late.facts(version=5), first_offset=300)
    write(store, [f for f in facts if f.dossier_id == "D2"], first_offset=400)  # stale copy
    raw = store.client.query("SELECT count() FROM dossier_facts").result_rows[0][0]
    assert raw > len(facts) + 3  # the duplicates are physically there
    assert report_json(report_of(store, FROM, TO)) == before
    state = store.client.query(
        "SELECT status, state_version FROM dossier_state FINAL WHERE dossier_id = 'D2'"
    ).result_rows
    assert state == [("RESOLVED", (5 << 32) + 2)]


def test_same_batch_twice_is_dropped_by_the_dedup_token(store: Store) -> None:
    facts = all_facts()
    write(store, facts)
    write(store, facts)
    raw = store.client.query("SELECT count() FROM dossier_facts").result_rows[0][0]
    assert raw == len(facts)


def test_scope_by_unit_tree_and_level(
    store: Store, report_of: ReportOf
) -> None:
    write(store, all_facts())
    by_unit = report_of(store, FROM, TO, unit="H")
    assert [r.unit_code for r in by_unit.rows] == ["H", "X1"]
    assert by_unit.total == EXPECTED["H"] + EXPECTED["X1"]
    communes = report_of(store, FROM, TO, level="commune")
    assert [r.unit_code for r in communes.rows] == ["X1", "X2"]
    assert communes.total == EXPECTED["X1"] + EXPECTED["X2"]
    quiet = report_of(store, FROM, TO, unit="P")
    assert quiet.total == EXPECTED_TOTAL
    province_only = build_report({}, UNITS, FROM, TO, unit="P")
    assert [(r.unit_code, r.figures) for r in province_only.rows] == [("P", Figures())]


def test_daily_rollup_matches_the_report(store: Store) -> None:
    write(store, all_facts())
    rows = store.client.query(
        "SELECT sum(received), sum(resolved_early), sum(resolved_on_time), "
        "sum(resolved_overdue), sum(withdrawn), sum(stopped), sum(apologies) "
        "FROM daily_rollup WHERE day >= {f:Date} AND day < {t:Date}",
        parameters={"f": FROM, "t": TO},
    ).result_rows
    t = EXPECTED_TOTAL
    assert rows == [(t.received, t.resolved_early, t.resolved_on_time, t.resolved_overdue,
                     t.withdrawn, t.stopped, t.apologies)]


def test_reconciliation_violation_is_reported_not_hidden() -> None:
    broken = Figures(received=2, resolved_early=1)
    report = build_report({"X1": broken}, UNITS, FROM, TO)
    assert len(report.violations) == 2  # the row and the total
    assert report.violations[0].startswith("X1: carried_over 0 + received 2 = 2")
    assert report.violations[0].endswith("but resolved 1+0+0 + withdrawn 0 + stopped 0 + "
                                         "in_progress 0 = 1")
    assert "CẢNH BÁO" in render_text(report, "vi")
    assert "WARNING" in render_text(report, "en")


def test_json_shape_csv_and_table() -> None:
    report = build_report(EXPECTED, UNITS, FROM, TO)
    data = report_json(report)
    assert list(data) == ["period", "rows", "total"]
    assert data["period"] == {"from": "2026-03-01", "to": "2026-04-01"}
    assert list(data["rows"][0]) == ["unit_code", "unit_name", "level", *ROW_KEYS]
    assert list(data["total"]) == list(ROW_KEYS)
    assert ROW_KEYS[: len(REPORT_KEYS)] == REPORT_KEYS  # docs/domain.md's keys first, in order
    assert data["total"]["on_time_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert report_from_json(data) == report
    rows = list(csv.DictReader(io.StringIO(report_csv(report, "en"))))
    assert rows[-1]["unit_name"] == "TOTAL" and rows[-1]["received"] == "9"
    assert rows[0]["online_rate"] == "1.0"
    text = render_text(report, "vi")
    assert "BÁO CÁO TÌNH HÌNH" in text and "từ ngày 01/03/2026 đến ngày 31/03/2026" in text
    assert "Cộng cấp xã" in text and "TỔNG CỘNG" in text and "Đối soát" in text
    english = render_text(report, "en")
    assert "On-time rate" in english and "66.67%" in english and "TOTAL" in english


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"unit": "NOPE"}, "--unit 'NOPE'"),
        ({"level": "hamlet"}, "--level 'hamlet': no unit has this level"),
        ({"unit": "X1", "level": "commune"}, "exclude each other"),
    ],
)
def test_bad_parameters_say_which_and_why(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ReportError, match=message):
        build_report({}, UNITS, FROM, TO, **kwargs)


def test_a_level_without_dossiers_says_which_levels_have_them() -> None:
    """Issue 19: `--level province` printed "Không có hồ sơ trong kỳ." and exited 0 while the
    period held dossiers at the departments and communes. X1 and X2 concern 5 dossiers each
    (carried over + received), S and H one each; P, the province level, none."""
    with pytest.raises(LevelWithoutDossiers) as refused:
        build_report(EXPECTED, UNITS, FROM, TO, level="province")
    assert str(refused.value) == (
        "--level province: các đơn vị cấp tỉnh (P) không có hồ sơ nào trong kỳ. 12 hồ sơ của "
        "kỳ thuộc: sở, ban, ngành (1); cấp huyện (1); cấp xã (10). Bỏ --level để có báo cáo "
        "toàn tỉnh, hoặc chọn một trong: --level department, --level district, --level commune"
    )
    assert refused.value.exit_code == ExitCode.NO_DATA
    with pytest.raises(LevelWithoutDossiers, match=r"Its 13 dossiers are at: departments "
                       r"\(1\); district level \(1\); commune level \(10\); units not in "
                       r"the catalogue \(1\)\. Leave out --level"):
        build_report({**EXPECTED, "Z9": figures(received=1, in_progress=1)}, UNITS, FROM, TO,
                     level="province", lang="en")
    # A period without any dossier keeps its empty report, and a level with some its rows.
    assert build_report({}, UNITS, FROM, TO, level="province").rows == ()
    assert [r.unit_code for r in build_report(EXPECTED, UNITS, FROM, TO, level="district").rows
            ] == ["H"]


def test_period_must_be_forward() -> None:
    with pytest.raises(ReportError, match=r"--to \(2026-03-01\) must be after --from"):
        build_report({}, UNITS, TO - timedelta(days=31), FROM)


def test_late_event_reissues_a_history_and_changes_the_outcome(
    store: Store, report_of: ReportOf
) -> None:
    """D20 was resolved while paused, so OVERDUE against its first deadline; a RESUMED that
    arrives late restarts the clock (a new deadline) and re-issues the facts from its
    position with a higher version: the outcome becomes EARLY, and on 11 March the dossier
    was no longer overdue. D21's apology came before the period and must not count. D22 was
    overdue on 11 March; its RESUMED on 12 March moved the deadline later, which must not
    reach back."""
    first = (
        History("D20", "X2").received("2026-03-02 08:00", due="2026-03-10 17:00")
        .add("SUPPLEMENT_REQUESTED", "2026-03-03 08:00")
        .add("RESOLVED", "2026-03-12 09:00", outcome="OVERDUE")
    )
    late = (
        History("D20", "X2").received("2026-03-02 08:00", due="2026-03-10 17:00")
        .add("SUPPLEMENT_REQUESTED", "2026-03-03 08:00")
        .add("RESUMED", "2026-03-05 14:00", status="OPEN", due_at=at("2026-03-13 17:00"))
        .add("RESOLVED", "2026-03-12 09:00", outcome="EARLY")
    )
    other = (
        History("D21", "X2").received("2026-02-20 08:00", due="2026-03-20 17:00")
        .add("APOLOGY_ISSUED", "2026-02-25 08:00", rescheduled_due_at=at("2026-03-25 17:00"))
        .add("RESOLVED", "2026-03-15 09:00", outcome="EARLY")
    )
    moved = (
        History("D22", "X2").received("2026-03-02 08:00", due="2026-03-06 17:00")
        .add("SUPPLEMENT_REQUESTED", "2026-03-04 08:00")
        .add("RESUMED", "2026-03-12 08:00", status="OPEN", due_at=at("2026-03-20 17:00"))
    )
    march, ten_days = (FROM, TO), (FROM, date(2026, 3, 11))
    common = {"carried_over": 1, "received": 2, "received_in_person": 2}
    write(store, first.facts() + other.facts() + moved.facts())
    assert report_of(store, *march).total == figures(
        **common, resolved_early=1, resolved_overdue=1, in_progress=1, in_progress_overdue=1)
    assert report_of(store, *ten_days).total == figures(
        **common, in_progress=3, in_progress_overdue=2)

    write(store, late.facts(version=4)[2:], first_offset=100)  # the worker re-issues from 2
    after_march = figures(**common, resolved_early=2, in_progress=1, in_progress_overdue=1)
    after_ten_days = figures(**common, in_progress=3, in_progress_overdue=1)
    assert report_of(store, *march).total == after_march
    assert report_of(store, *ten_days).total == after_ten_days
    write(store, first.facts(), first_offset=200)  # a stale copy re-delivered afterwards
    assert report_of(store, *march).total == after_march
    assert report_of(store, *ten_days).total == after_ten_days


def test_unknown_procedure_counts_dossiers_in_progress_at_the_end(
    store: Store, report_of: ReportOf
) -> None:
    unknown = [
        *History("D30", "X1").received("2026-03-02 08:00", due="2026-03-10 17:00").facts(),
        *History("D31", "X1").received("2026-03-03 08:00", due="2026-03-10 17:00")
        .add("RESOLVED", "2026-03-04 08:00", outcome="EARLY").facts(),
    ]
    known = History("D32", "X1").received("2026-03-03 08:00", due="2026-03-10 17:00").facts()
    write(store, [*(msgspec.structs.replace(f, procedure_unknown=True) for f in unknown), *known])
    report = report_of(store, FROM, TO)
    assert report.total.unknown_procedure == 1  # D31 was resolved: no longer in progress
    assert report.total.in_progress == 2


# --- the period as people write it, and a table nobody has to guess at ----------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-30", date(2026, 6, 30)),
        ("30/06/2026", date(2026, 6, 30)),
        ("1/7/2026", date(2026, 7, 1)),
    ],
)
def test_dates_in_iso_and_vietnamese_order(text: str, expected: date) -> None:
    assert parse_date(text, "--from") == expected


@pytest.mark.parametrize("text", ["30/06/26", "06/30/2026", "31/02/2026", "2026/06/30", "mai"])
def test_a_bad_date_names_the_parameter_and_both_forms(text: str) -> None:
    with pytest.raises(ReportError, match=r"--to .*: not a date; write YYYY-MM-DD or dd/mm/yyyy"):
        parse_date(text, "--to")


def test_to_is_exclusive_and_through_inclusive() -> None:
    first_half = (date(2026, 1, 1), date(2026, 7, 1))
    assert report_period("2026-01-01", "2026-07-01", None) == first_half
    assert report_period("01/01/2026", None, "30/06/2026") == first_half
    assert report_period("2026-03-05", None, "2026-03-05") == (date(2026, 3, 5), date(2026, 3, 6))


@pytest.mark.parametrize(
    ("end", "through", "message"),
    [
        ("2026-07-01", "2026-06-30", "give one of --to .* and --through"),
        (None, None, "give one of --to .* and --through"),
        (None, "2025-12-31", r"--through \(2025-12-31\) is before --from \(2026-01-01\)"),
        ("2025-12-31", None, r"--to \(2025-12-31\) must be after --from \(2026-01-01\)"),
        ("01/01/2026", None, r"--to \(2026-01-01\) must be after --from \(2026-01-01\)"),
    ],
)
def test_the_end_of_the_period_is_given_once(
    end: str | None, through: str | None, message: str
) -> None:
    with pytest.raises(ReportError, match=message):
        report_period("2026-01-01", end, through)


@pytest.mark.parametrize("prefix", ["--", ""])
def test_a_period_without_its_first_day_names_the_parameter(prefix: str) -> None:
    with pytest.raises(ReportError, match=f"^{prefix}from is required"):
        report_period(None, "2026-07-01", None, prefix)


def test_a_period_that_ends_before_it_begins_is_named_as_the_query_spells_it() -> None:
    with pytest.raises(ReportError, match=r"^to \(2026-03-01\) must be after from \(2026-03-31\)"):
        report_period("2026-03-31", "2026-03-01", None, prefix="")


@pytest.mark.parametrize(
    ("end", "line"),
    [
        (["--to", "2026-03-01"], "--to (2026-03-01) must be after --from (2026-03-31); the "
         "period is [from 00:00, to 00:00)"),
        (["--through", "30/03/2026"], "--through (2026-03-30) is before --from (2026-03-31); "
         "the period is [from, through], both days included"),
    ],
)
def test_the_report_command_refuses_a_backward_period_before_asking_anyone(
    tmp_path: Path, end: list[str], line: str
) -> None:
    """Said at once, in one line, exit 2: no sink is asked (none answers at port 9) and no
    store opened (none exists, which would be exit 4)."""
    done = subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", "report", "--store",
         f"chdb://{tmp_path / 'none'}", "--sink-url", "http://127.0.0.1:9",
         "--from", "31/03/2026", *end],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert (done.returncode, done.stderr.splitlines()) == (2, [f"dossierflow report: {line}"])


def test_the_heading_names_the_period_with_both_ends_included() -> None:
    report = build_report({}, UNITS, date(2026, 1, 1), date(2026, 7, 1))
    assert "Kỳ báo cáo: từ ngày 01/01/2026 đến ngày 30/06/2026" in render_text(report, "vi")
    assert "Period: from 1 Jan 2026 to 30 Jun 2026 inclusive" in render_text(report, "en")


LARGE = {
    "X1": figures(
        carried_over=1_234_567, received=2_345_678, received_online=1_500_001,
        received_in_person=845_677, resolved_early=2_222_222, resolved_on_time=33_333,
        resolved_overdue=44_444, withdrawn=5_555, stopped=666, in_progress=1_274_025,
        in_progress_overdue=77_777, apologies=8_888,
    ),
    "X2": figures(received=63_512, received_online=40_333, received_in_person=23_179,
                  resolved_overdue=1_000, in_progress=62_512),
    "S": figures(received=3, received_online=1, received_in_person=2, resolved_early=3),
    "H": figures(carried_over=98_765, in_progress=98_765, in_progress_overdue=12_345),
}


def _whole_figures(data: dict[str, Any], lang: str) -> list[str]:
    """Every figure of the JSON report as a person reads it (Vietnamese: 1.234.567 and
    63,51%; English: 1,234,567 and 63.51%), written out here independently of the renderer."""
    out = []
    for values in [*data["rows"], data["total"]]:
        for key in REPORT_KEYS:
            value = values[key]
            if key.endswith("_rate"):
                if value is not None:
                    text = f"{value * 100:.2f}%"
                    out.append(text.replace(".", ",") if lang == "vi" else text)
            else:
                text = f"{value:,}"
                out.append(text.replace(",", ".") if lang == "vi" else text)
    return out


@pytest.mark.parametrize("width", [80, 100, 120, 240])
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_figure_appears_whole_at_any_width(width: int, lang: str) -> None:
    report = build_report(LARGE, UNITS, FROM, TO)
    text = render_text(report, lang, width=width)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    numbers = re.findall(r"(?<![\w.,])[\d.,]+%?(?![\w.,%])", text)
    for figure in _whole_figures(report_json(report), lang):
        assert figure in numbers, f"{figure} is not whole in the {width}-column table"
    assert "Đơn vị" in text or "Unit" in text


def test_a_narrow_table_repeats_the_units_in_each_part() -> None:
    report = build_report(LARGE, UNITS, FROM, TO)
    text = render_text(report, "vi", width=80)
    parts = text.count("TỔNG CỘNG")
    assert parts >= 2  # the columns did not fit side by side
    assert text.count("Sở Tư pháp") == parts


def test_the_report_command_prints_a_whole_table_when_piped(tmp_path: Path) -> None:
    opened = connect(f"chdb://{tmp_path / 'ch'}")
    migrate(opened)
    write(opened, all_facts())
    opened.close()
    command = [
        sys.executable, "-m", "dossierflow.cli", "report", "--store", f"chdb://{tmp_path / 'ch'}",
        "--sink-url", "http://127.0.0.1:9", "--from", "01/03/2026",
    ]
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    table = subprocess.run(
        [*command, "--through", "31/03/2026"], capture_output=True, text=True, env=env,
        timeout=120, check=False,
    )
    assert table.returncode == 0, table.stderr
    assert "từ ngày 01/03/2026 đến ngày 31/03/2026" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80  # piped: 80 columns
    data = subprocess.run(
        [*command, "--to", "2026-04-01", "--format", "json"], capture_output=True, text=True,
        env=env, timeout=120, check=False,
    )
    assert data.returncode == 0, data.stderr
    numbers = re.findall(r"(?<![\w.,])[\d.,]+%?(?![\w.,%])", table.stdout)
    for figure in _whole_figures(json.loads(data.stdout), "vi"):
        assert figure in numbers


def test_the_report_reads_the_units_and_the_reading_as_the_whole_catalogue_gives_them(
    tmp_path: Path,
) -> None:
    """`load_report_catalog` reads two sections of the file; they equal what
    `load_catalog` makes of them, and a unit whose parent is not a unit is refused alike."""
    from dossierflow.rules.catalog import CatalogError, load_catalog
    from dossierflow.rules.catalog_units import load_report_catalog

    custom = tmp_path / "catalog.yaml"
    custom.write_text(
        "report: {outcome_reading: instant, appointment: rescheduled}\n"
        "calendar: {weekend: [sun]}\n"
        "procedures:\n  - {code: T1, name: t, processing_time: {value: 3, unit: working_days}}\n"
        "units:\n  - {code: P, name: Tỉnh, level: province}\n"
        "  - {code: X, name: Xã, level: commune, parent: P, until: 2025-06-30}\n",
        encoding="utf-8",
    )
    for path in (None, custom):
        whole, part = load_catalog(path), load_report_catalog(path)
        assert dict(part.units) == dict(whole.units) and part.units
        assert part.report == whole.report
    assert load_report_catalog(custom).report.outcome_reading.value == "instant"
    orphan = tmp_path / "orphan.yaml"
    orphan.write_text("units:\n  - {code: X, name: Xã, level: commune, parent: Z}\n")
    messages = []
    for load in (load_catalog, load_report_catalog):
        with pytest.raises(CatalogError) as refused:
            load(orphan)
        messages.append(str(refused.value))
    assert messages == [f"{orphan}: unit X: parent 'Z' is not a unit"] * 2


def test_the_report_command_imports_none_of_the_catalogues_rules(tmp_path: Path) -> None:
    """The report's own modules and its reading of the catalogue leave out the calendar,
    the procedures and the steps (docs/benchmarks.md, Report: about 15 ms of a run)."""
    code = (
        "import dossierflow.commands.report\n"
        "from dossierflow.reporting import client, queries, report\n"
        "from dossierflow.rules.catalog_units import load_report_catalog\n"
        "load_report_catalog()"
    )
    assert modules_imported_by(code, [
        "dossierflow.rules.catalog", "dossierflow.rules.calendar_years",
        "dossierflow.rules.steps", "dossierflow.schemas.event",
    ], cwd=tmp_path) == []
