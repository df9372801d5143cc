"""Migration 019 on a store made by 018: the facts stored before it are read again into
`dossier_report_days`' new columns, and the command's one query (`bi_report_days`) gives the
same report as 018's, the departments that caused open delays included.

The dossiers are test_open_delays_report's: D1, whose last event is before both period ends
(its figures and departments come off its row of `dossier_report_days`), and D3, with an
event after both (off its last fact before the end).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from dossierflow.reporting.queries import fetch_report
from dossierflow.rules.evaluation import evaluate
from dossierflow.rules.records import fact_records
from dossierflow.store import Store, bundled_migrations, connect, migrate
from tests.test_open_delays_report import D3, TO_6_MARCH, TO_10_MARCH
from tests.test_step_delays_view import write
from tests.test_steps import CATALOG, HISTORY, vn

pytestmark = pytest.mark.clickhouse



def write_d1_d3(store: Store, offset: int = 0, dossier_suffix: str = "") -> None:
    import msgspec

    d1 = [msgspec.structs.replace(e, dossier_id="D1" + dossier_suffix) for e in HISTORY[:4]]
    d3 = [msgspec.structs.replace(e, dossier_id="D3" + dossier_suffix) for e in D3]
    write(store, "facts", offset,
          fact_records(evaluate(d1[0].dossier_id, d1, CATALOG, vn(2, 17)), CATALOG)
          + fact_records(evaluate(d3[0].dossier_id, d3, CATALOG, vn(12, 0)), CATALOG))


def report_rows(store: Store, period: tuple[date, date]) -> list[dict[str, Any]]:
    """The view's rows as BI tools read them (`fetch_report` sends the latest definition's
    text, which a store made by 018 lacks the columns for)."""
    return list(store.client.query(
        "SELECT * FROM bi_report_days(period_from = {f:String}, period_to = {t:String})"
        " ORDER BY unit_code",
        parameters={"f": period[0].isoformat(), "t": period[1].isoformat()},
    ).named_results())


def test_019_on_a_store_made_by_018_gives_the_same_report(tmp_path: Path) -> None:
    store = connect(f"chdb://{tmp_path / 'ch'}")
    try:
        migrate(store, [m for m in bundled_migrations() if m.version < 19])
        write_d1_d3(store)
        before = {period: report_rows(store, period) for period in (TO_6_MARCH, TO_10_MARCH)}
        assert {r["unit_code"]: r["in_progress_overdue_caused"] for r in before[TO_10_MARCH]} == {
            "PB-A": 1, "PB-B": 1, "X-01": 0
        }
        assert migrate(store) == ["019_report_days_delays.sql"]
        assert {period: report_rows(store, period) for period in before} == before
        _, compliance = fetch_report(store, *TO_10_MARCH)
        assert {c: v.in_progress_overdue_caused for c, v in compliance.items()} == {
            "PB-A": 1, "PB-B": 1, "X-01": 0
        }
        # facts written after 019 (through its materialized view) count alike
        write_d1_d3(store, 100, "-NEW")
        figures, compliance = fetch_report(store, *TO_10_MARCH)
        assert figures["X-01"].in_progress_overdue == 4
        assert {c: v.in_progress_overdue_caused for c, v in compliance.items()} == {
            "PB-A": 2, "PB-B": 2, "X-01": 0
        }
    finally:
        store.close()
