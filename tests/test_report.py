"""The period report against real chDB, on a hand-built fact set with figures derived by hand."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dossierflow.rules.catalog import Unit
from dossierflow.schemas.facts import DossierFact
from dossierflow.sinks.base import SinkBatch
from dossierflow.sinks.clickhouse import ClickHouseSink

from dossierflow.reporting.report import (
    REPORT_KEYS,
    Figures,
    ReportError,
    build_report,
    render_text,
    report_csv,
    report_from_json,
    report_json,
    run_report,
)
from dossierflow.store import Store, connect, migrate

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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = connect(f"chdb://{tmp_path / 'ch'}")
    migrate(opened)
    try:
        yield opened
    finally:
        opened.close()


def write(store: Store, facts: Sequence[DossierFact], first_offset: int = 0) -> None:
    ClickHouseSink(store).write(
        SinkBatch("facts", 0, first_offset, first_offset + len(facts) - 1, tuple(facts), "t")
    )


def test_hand_built_figures(store: Store) -> None:
    write(store, all_facts())
    report = run_report(store, UNITS, FROM, TO)
    assert {r.unit_code: r.figures for r in report.rows} == EXPECTED
    assert report.total == EXPECTED_TOTAL
    assert report.violations == []
    assert [r.unit_code for r in report.rows] == ["S", "H", "X1", "X2"]  # by level, then code
    x1 = next(r for r in report.rows if r.unit_code == "X1")
    assert x1.figures.on_time_rate == pytest.approx(0.6667)
    assert x1.figures.online_rate == 0.5
    assert next(r for r in report.rows if r.unit_code == "X2").figures.on_time_rate is None


def test_redelivery_and_reissued_versions_do_not_double_count(store: Store) -> None:
    facts = all_facts()
    write(store, facts)
    before = report_json(run_report(store, UNITS, FROM, TO))
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
    assert report_json(run_report(store, UNITS, FROM, TO)) == before
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


def test_scope_by_unit_tree_and_level(store: Store) -> None:
    write(store, all_facts())
    by_unit = run_report(store, UNITS, FROM, TO, unit="H")
    assert [r.unit_code for r in by_unit.rows] == ["H", "X1"]
    assert by_unit.total == EXPECTED["H"] + EXPECTED["X1"]
    communes = run_report(store, UNITS, FROM, TO, level="commune")
    assert [r.unit_code for r in communes.rows] == ["X1", "X2"]
    assert communes.total == EXPECTED["X1"] + EXPECTED["X2"]
    quiet = run_report(store, UNITS, FROM, TO, unit="P")
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
    assert "CẢNH BÁO" in render_text(report, "vi")
    assert "WARNING" in render_text(report, "en")


def test_json_shape_csv_and_table() -> None:
    report = build_report(EXPECTED, UNITS, FROM, TO)
    data = report_json(report)
    assert list(data) == ["period", "rows", "total"]
    assert data["period"] == {"from": "2026-03-01", "to": "2026-04-01"}
    assert list(data["rows"][0]) == ["unit_code", "unit_name", "level", *REPORT_KEYS]
    assert list(data["total"]) == list(REPORT_KEYS)
    assert data["total"]["on_time_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert report_from_json(data) == report
    rows = list(csv.DictReader(io.StringIO(report_csv(report, "en"))))
    assert rows[-1]["unit_name"] == "TOTAL" and rows[-1]["received"] == "9"
    assert rows[0]["online_rate"] == "1.0"
    text = render_text(report, "vi")
    assert "BÁO CÁO TÌNH HÌNH" in text and "đến hết ngày 31/03/2026" in text
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


def test_period_must_be_forward() -> None:
    with pytest.raises(ReportError, match=r"--to \(2026-03-01\) must be after --from"):
        build_report({}, UNITS, TO - timedelta(days=31), FROM)
