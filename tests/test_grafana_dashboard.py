"""The Grafana province dashboard: every panel's SQL runs on chDB and agrees with the report.

The panels are read from `deploy/grafana/dashboards/province.json` (what Grafana loads), the
plugin's time macros are expanded as its backend does for a Grafana range of whole local days
(ending at 23:59:59.999, as Grafana's ranges do), and the numbers are compared with the period
report of the same days, over synthetic histories that went through the worker's processor.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from devtools import grafana_panels as panels
from dossierflow.reporting.progress import fetch_progress
from dossierflow.reporting.queries import fetch_figures
from dossierflow.reporting.report import LOCAL, Report, build_report, period_bounds
from dossierflow.rules.catalog import load_catalog
from dossierflow.rules.progress_index import IndexSettings
from dossierflow.schemas.facts import DossierAlert, DossierFact
from dossierflow.sinks.base import SinkBatch
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.store import Store, connect, migrate, refresh_rollups
from tests.test_bi_exactness import events, worker_output

pytestmark = pytest.mark.clickhouse

ROOT = Path(__file__).resolve().parents[1]
PERIODS = [(date(2026, 2, 1), date(2026, 3, 1)), (date(2026, 1, 1), date(2026, 7, 1))]




@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, list[DossierAlert]]]:
    store = connect(f"chdb://{tmp_path_factory.mktemp('grafana') / 'ch'}")
    migrate(store)
    facts, alerts = worker_output(events(6000, seed=23), load_catalog())
    records: list[DossierFact | DossierAlert] = [*facts, *alerts]
    ClickHouseSink(store).write(SinkBatch("out", 0, 0, len(records) - 1, tuple(records), "g"))
    refresh_rollups(store)  # as the minute's refresh would: the panels read the rollup
    try:
        yield store, alerts
    finally:
        store.close()


def dashboard_panels() -> dict[str, dict[str, Any]]:
    model = json.loads((ROOT / "deploy/grafana/dashboards/province.json").read_text())
    return {p["title"]: p for p in model["panels"]}


def run_panel(store: Store, title: str, period: tuple[date, date]) -> list[dict[str, Any]]:
    """The panel's rows for a Grafana range covering the period's days."""
    panel = dashboard_panels()[title]
    start, end = period_bounds(*period)
    grafana_end = end - timedelta(milliseconds=1)
    sql = panels.expand_macros(panel["targets"][0]["rawSql"], start, grafana_end)
    result = store.client.query(sql)
    expected = next(p.columns for p in panels.PANELS if p.title == title)
    assert tuple(result.column_names) == expected, title
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def local_instant(value: datetime) -> datetime:
    """A DateTime column's instant in local time; clickhouse-connect returns a naive value
    in UTC when chDB's result type carries no time zone."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(LOCAL)


def title(start: str) -> str:
    return next(p.title for p in panels.PANELS if p.title.startswith(start))


def test_the_json_is_generated_from_the_panel_definitions() -> None:
    model = json.loads((ROOT / "deploy/grafana/dashboards/province.json").read_text())
    assert model == panels.dashboard()
    for panel in model["panels"]:
        assert panel["datasource"]["type"] == "grafana-clickhouse-datasource"
        assert "$__fromTime" in panel["targets"][0]["rawSql"]


def test_panels_reading_the_rollup_say_they_may_trail_the_report(
    loaded: tuple[Store, list[DossierAlert]],
) -> None:
    described = {
        title.split(" / ")[1]: panel["description"]
        for title, panel in dashboard_panels().items()
    }
    trailing = {name for name, text in described.items() if "about a minute behind" in text}
    assert trailing == {
        "On-time rate by unit", "Received and resolved per week", "Overdue backlog by unit",
        "Online share", "Period report by unit",
    }
    for name in trailing:
        assert "chậm khoảng một phút" in described[name]
        assert "bi_rollup_freshness" in described[name]
    # the description's query answers (as of the fixture's refresh, no error)
    query = described[trailing.pop()].split("`")[-2]
    ((as_of, status, error),) = loaded[0].client.query(query).result_rows
    assert isinstance(as_of, datetime) and status and error == ""
    assert described["Procedures most often late"] == described["Alerts per day"] == ""


def test_macros_expand_as_the_plugin_does() -> None:
    start = datetime.fromisoformat("2014-11-12T11:45:26+00:00")
    end = datetime.fromisoformat("2015-11-12T11:45:26.456+00:00")
    assert panels.expand_macros("$__fromTime|$__toTime_ms|$__timeFilter(c)", start, end) == (
        "toDateTime(1415792726)|fromUnixTimestamp64Milli(1447328726456)|"
        "c >= toDateTime(1415792726) AND c <= toDateTime(1447328726)"
    )
    with pytest.raises(ValueError, match=r"\$__interval_s"):
        panels.expand_macros("$__interval_s", start, end)


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: str(p))
def test_every_panel_agrees_with_the_period_report(
    loaded: tuple[Store, list[DossierAlert]], period: tuple[date, date]
) -> None:
    store, alerts = loaded
    report: Report = build_report(fetch_figures(store, *period), load_catalog().units, *period)
    rows = {r.unit_code: r.figures for r in report.rows}
    total = report.total
    assert total.received > 0 and total.resolved_overdue > 0

    on_time = run_panel(store, title("Tỷ lệ đúng hạn"), period)
    assert {r["unit_code"]: r["on_time_rate"] for r in on_time} == {
        code: f.on_time_rate for code, f in rows.items() if f.on_time_rate is not None
    }
    assert sum(r["overdue"] for r in on_time) == total.resolved_overdue

    weekly = run_panel(store, title("Tiếp nhận và giải quyết"), period)
    assert sum(r["received_count"] for r in weekly) == total.received
    assert sum(r["resolved_count"] for r in weekly) == (
        total.resolved_early + total.resolved_on_time + total.resolved_overdue
    )
    assert all(local_instant(r["time"]).weekday() == 0 for r in weekly)
    assert all(local_instant(r["time"]).time() == time(0) for r in weekly)

    backlog = run_panel(store, title("Hồ sơ quá hạn"), period)
    assert {r["unit_code"]: r["in_progress_overdue"] for r in backlog} == {
        code: f.in_progress_overdue for code, f in rows.items() if f.in_progress_overdue
    }

    (online,) = run_panel(store, title("Tỷ lệ tiếp nhận trực tuyến"), period)
    assert online["online_share"] == total.online_rate
    assert online["all_channels"] == total.received

    late = run_panel(store, title("Thủ tục trễ hạn"), period)
    assert 0 < len(late) <= 10
    assert sum(r["overdue"] for r in late) == total.resolved_overdue  # ≤ 10 procedures
    assert [r["overdue"] for r in late] == sorted(
        (r["overdue"] for r in late), reverse=True
    )

    per_day = run_panel(store, title("Cảnh báo theo ngày"), period)
    start, end = period_bounds(*period)
    fired = {a.alert_id for a in alerts if start <= a.at < end}
    assert fired and sum(r["alerts"] for r in per_day) == len(fired)

    table = run_panel(store, title("Báo cáo kỳ"), period)
    assert {r["unit_code"]: r["received"] for r in table} == {
        code: f.received for code, f in rows.items()
    }


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: str(p))
def test_the_766_panel_equals_the_index_of_the_report(
    loaded: tuple[Store, list[DossierAlert]], period: tuple[date, date]
) -> None:
    store, _ = loaded
    expected = fetch_progress(store, *period_bounds(*period), IndexSettings())
    got = run_panel(store, title("Chỉ số 766"), period)
    assert {r["unit_code"]: (r["received"], r["on_time"], r["score"]) for r in got} == {
        code: (c.received, c.on_time, c.score(20.0)) for code, c in expected.items()
    }
    assert sum(r["received"] for r in got) > sum(r["on_time"] for r in got) > 0
