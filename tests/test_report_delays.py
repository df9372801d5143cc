"""Who caused the delay in the period report (migration 016's `bi_delays_caused`), through the
real chDB store, against the hand-worked dossier D1 of test_steps.

D1 is received by commune X-01 on Mon 2 March and resolved overdue on Fri 6 March; of its
three steps only PB-B's (a department under X-01) overran, by 11.5 working hours, so the
delay is PB-B's (`delay_cause: first`). The facts reach the store as the worker publishes
them: the history without step 3's start, then the facts the late event re-issues. March's
report: X-01 received 1 in person and resolved 1 overdue without an apology; PB-B, which
received nothing, has a row of its own with `resolved_overdue_caused` 1.

A second late event, WITHDRAWN on Thu 5 March 11:00, ends D1 before its resolution: the
RESOLVED of Friday then changes nothing, its fact is re-issued without `delay_caused_by`,
and nobody caused a delay any more (X-01: withdrawn 1).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from dossierflow.reporting.dashboard.pages import Selection, unit_fragments
from dossierflow.reporting.dashboard.views import Period
from dossierflow.reporting.queries import (
    DelayedDossier,
    delayed_dossiers,
    fetch_compliance,
    fetch_figures,
)
from dossierflow.reporting.report import Report, build_report, render, with_compliance
from dossierflow.rollups import RollupState
from dossierflow.rules.evaluation import evaluate
from dossierflow.rules.records import fact_records
from dossierflow.schemas.event import EventType
from dossierflow.store import Store
from dossierflow.streams.processor import DossierProcessor
from dossierflow.streams.state import DossierRecord
from tests.test_step_delays_view import delays, write
from tests.test_steps import AFTER, CATALOG, CATALOG_YAML, HISTORY, ev, vn

pytestmark = pytest.mark.clickhouse

MARCH = (date(2026, 3, 1), date(2026, 4, 1))
LATE_STEP = HISTORY[4]
WITHDRAWN = ev("e9", EventType.WITHDRAWN, vn(5, 11))
FRESH = RollupState(refreshed_at=AFTER, attempted_at=AFTER, error=None)


def publish_with_late_step(store: Store) -> tuple[DossierProcessor, DossierRecord]:
    """D1's facts as the worker publishes them when step 3's start arrives last."""
    processor = DossierProcessor(CATALOG)
    record = None
    for event in [e for e in HISTORY if e is not LATE_STEP]:
        record = processor.on_event(record, event, partition=0, clock=AFTER).record
    assert record is not None
    write(store, "facts", 0, fact_records(evaluate("D1", record.history, CATALOG, AFTER), CATALOG))
    effects = processor.on_event(record, LATE_STEP, partition=0, clock=AFTER, late=True)
    write(store, "facts", 5, effects.facts)
    assert effects.record is not None
    return processor, effects.record


def report_of(store: Store, unit: str | None = None, level: str | None = None) -> Report:
    report = build_report(fetch_figures(store, *MARCH), CATALOG.units, *MARCH, unit=unit,
                          level=level)
    compliance = fetch_compliance(store, *MARCH)
    return with_compliance(report, compliance, CATALOG.units, unit=unit, level=level)


def caused(report: Report) -> dict[str, int]:
    return {r.unit_code: r.compliance.resolved_overdue_caused for r in report.rows}


def test_the_department_whose_step_overran_gets_the_delay_in_a_row_of_its_own(
    store: Store,
) -> None:
    publish_with_late_step(store)
    report = report_of(store)
    assert [(r.unit_code, r.level) for r in report.rows] == [
        ("PB-B", "department"), ("X-01", "commune")
    ]
    assert caused(report) == {"PB-B": 1, "X-01": 0}
    assert report.total_compliance.resolved_overdue_caused == 1
    x01 = report.rows[1]
    assert (x01.figures.received, x01.figures.resolved_overdue) == (1, 1)
    assert x01.compliance.resolved_overdue_no_apology == 1
    assert not report.violations
    # The scope of the report: PB-B is below X-01, and not of the commune level.
    assert caused(report_of(store, unit="X-01")) == {"PB-B": 1, "X-01": 0}
    assert caused(report_of(store, level="commune")) == {"X-01": 0}
    # bi_step_delays counts the same dossiers.
    assert [(row[0], row[-1]) for row in delays(store, "2026-03-01", "2026-04-01")] == [
        ("PB-A", 0), ("PB-B", 1), ("PB-X", 0)
    ]
    # A period that ends before the resolution (Fri 6 March 09:00) has no resolved delay; D1
    # is in progress and overdue at its end, and step 2 had overrun: still PB-B's delay.
    to_5_march = build_report({}, CATALOG.units, date(2026, 3, 1), date(2026, 3, 6))
    compliance = fetch_compliance(store, date(2026, 3, 1), date(2026, 3, 6))
    assert caused(with_compliance(to_5_march, compliance, CATALOG.units)) == {
        "PB-B": 0, "X-01": 0
    }
    assert {code: c.in_progress_overdue_caused for code, c in compliance.items()} == {
        "PB-B": 1, "X-01": 0
    }


def test_a_late_withdrawal_before_the_resolution_takes_the_delay_back(store: Store) -> None:
    processor, record = publish_with_late_step(store)
    effects = processor.on_event(record, WITHDRAWN, partition=0, clock=AFTER, late=True)
    assert [f.delay_caused_by for f in effects.facts if f.type == "RESOLVED"] == [()]
    write(store, "facts", 100, effects.facts)
    report = report_of(store)
    assert caused(report) == {"X-01": 0}
    assert (report.total.withdrawn, report.total.resolved_overdue) == (1, 0)
    assert report.total_compliance.resolved_overdue_caused == 0
    assert [(row[0], row[-1]) for row in delays(store, "2026-03-01", "2026-04-01")] == [
        ("PB-A", 0), ("PB-B", 0), ("PB-X", 0)
    ]


def test_json_csv_and_both_tables_name_the_department_that_caused_the_delay(
    store: Store,
) -> None:
    publish_with_late_step(store)
    report = report_of(store)
    rows = {r["unit_code"]: r for r in json.loads(render(report, "json"))["rows"]}
    assert rows["PB-B"]["resolved_overdue_caused"] == 1
    assert rows["X-01"]["resolved_overdue_caused"] == 0
    header, *lines = render(report, "csv").splitlines()
    column = header.split(",").index("resolved_overdue_caused")
    assert [line.split(",")[column] for line in lines] == ["1", "0", "1"]
    assert "Hồ sơ quá hạn do đơn vị gây ra" in render(report, "table", "vi")
    assert "Overdue dossiers it caused" in render(report, "table", "en")


def test_the_report_command_reads_the_delays_from_the_store(store: Store, tmp_path: Path) -> None:
    publish_with_late_step(store)
    store.close()  # chDB: one process per data directory
    catalog = tmp_path / "catalog.yaml"
    catalog.write_bytes(CATALOG_YAML)
    done = subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", "report", "--from", "2026-03-01",
         "--to", "2026-04-01", "--store", store.url.display, "--catalog", str(catalog),
         "--format", "json", "--sink-url", "http://127.0.0.1:9"],
        capture_output=True, text=True, encoding="utf-8", timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    assert {r["unit_code"]: r["resolved_overdue_caused"] for r in data["rows"]} == {
        "PB-B": 1, "X-01": 0
    }
    assert data["total"]["resolved_overdue_caused"] == 1


def test_the_unit_page_lists_the_overdue_dossier_with_the_department_that_caused_it(
    store: Store,
) -> None:
    publish_with_late_step(store)
    for unit in ("X-01", "PB-B"):  # the receiving unit's page and the department's
        (listed,) = delayed_dossiers(store, CATALOG.descendants(unit), *MARCH)
        assert (listed.dossier_id, listed.unit_code, listed.caused_by) == ("D1", "X-01", ("PB-B",))
        assert listed.resolved_at == vn(6, 9)
    assert delayed_dossiers(store, {"PB-A"}, *MARCH) == []
    report = report_of(store, unit="X-01")
    selection = Selection(Period(*MARCH), "X-01", "vi")
    html = unit_fragments(
        report, FRESH, [], None, CATALOG.units, selection, AFTER,
        delayed_dossiers(store, CATALOG.descendants("X-01"), *MARCH),
    )["delayed-list"]
    assert 'data-dossier="D1"' in html
    assert '<td class="caused-by">Công chức địa chính</td>' in html
    assert "09:00 06/03/2026" in html


def test_the_unit_page_says_when_no_step_overran() -> None:
    delayed = DelayedDossier("D2", "P3", "X-01", vn(5, 8), vn(6, 9), ())
    selection = Selection(Period(*MARCH), "X-01", "en")
    report = build_report({}, CATALOG.units, *MARCH, unit="X-01")
    html = unit_fragments(
        report, FRESH, [], None, CATALOG.units, selection, AFTER,
        [delayed],
    )["delayed-list"]
    assert '<td class="caused-by">No step overran</td>' in html
    empty = unit_fragments(
        report, FRESH, [], None, CATALOG.units, selection, AFTER
    )["delayed-list"]
    assert "No dossier overdue in the period." in empty
