"""The dashboard says how old its figures are: the rollup's last refresh, from ClickHouse.

Served by the dashboard's real routes over a real chDB store. The expected instant and text
are formatted by ClickHouse itself from `system.view_refreshes` (its own time zone
conversion), not by the code under test. The rollup's scheduled refreshes are paused after
each forced one, so nothing moves the time between the two readings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from clickhouse_connect.driver.exceptions import DatabaseError
from kafka.producer import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from dossierflow.kafka.local_broker import free_port
from dossierflow.reporting import queries
from dossierflow.reporting.dashboard import handlers
from dossierflow.reporting.dashboard.handlers import add_dashboard_routes
from dossierflow.reporting.queries import WeekCount
from dossierflow.reporting.report import LOCAL, report_from_json
from dossierflow.reporting.runner import QueryRunner
from dossierflow.rules.catalog import Catalog
from dossierflow.sink_service import build_app, serve
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.sinks.kafka_sink import SinkStatus
from dossierflow.sinks.rollup_refresh import RollupRefresher
from dossierflow.sinks.settings import SinkSettings
from dossierflow.store import Store, connect, migrate, pause_rollup_refreshes, refresh_rollups
from tests.test_report import EXPECTED_TOTAL, FROM, TO, UNITS, History, all_facts, write

pytestmark = pytest.mark.clickhouse

MARCH = {"from": "2026-03-01", "to": "2026-04-01"}
LAST_REFRESH_SQL = """
SELECT
    formatDateTime(last_success_time, '%Y-%m-%dT%H:%i:%S+07:00', 'Asia/Ho_Chi_Minh'),
    formatDateTime(last_success_time, '%H:%i:%S %d/%m/%Y', 'Asia/Ho_Chi_Minh'),
    last_success_time < now()
FROM system.view_refreshes
WHERE database = currentDatabase() AND view = 'unit_day_changes_mv'
"""


Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Store, Client]]:
    """A fresh store and the dashboard's routes over it."""
    store = connect(f"chdb://{tmp_path / 'ch'}")
    try:
        migrate(store)
        app = web.Application()
        add_dashboard_routes(
            app, QueryRunner(store), Catalog(units=UNITS), lambda: datetime.now(LOCAL)
        )
        async with TestClient(TestServer(app)) as client:
            yield store, client
    finally:
        store.close()


def refresh_and_hold(store: Store) -> tuple[str, str]:
    """Refresh the rollup now, then stop its schedule; the last refresh as ClickHouse gives
    it: ISO 8601 with the offset, and the Vietnamese page's format."""
    refresh_rollups(store)
    pause_rollup_refreshes(store)
    ((iso, shown, _past),) = store.client.query(LAST_REFRESH_SQL).result_rows
    return str(iso), str(shown)


def wait_for_the_next_second(store: Store) -> None:
    """The refresh time has whole seconds: a later refresh shows only in a later second."""
    while not store.client.query(LAST_REFRESH_SQL).result_rows[0][2]:
        time.sleep(0.2)


LAST_WRITE_SQL = """
SELECT formatDateTime(max(inserted_at), '%H:%i:%S %d/%m/%Y', 'Asia/Ho_Chi_Minh')
FROM dossier_facts
"""
"""The newest fact's write time as the Vietnamese page shows it, formatted by ClickHouse."""


async def get(client: Client, path: str) -> dict[str, Any]:
    response = await client.get(path, params=MARCH)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_figures_are_as_of_the_rollups_last_refresh(
    served: tuple[Store, Client],
) -> None:
    store, client = served
    write(store, History("D1").received("2026-03-02 09:00", due="2026-03-20 17:00").facts())
    first_iso, first_shown = refresh_and_hold(store)

    body = await get(client, "/api/dashboard")
    assert body["total"]["received"] == 1
    assert body["figures_as_of"] == first_iso
    assert body["html"]["figures-as-of"] == f"Số liệu tính đến {first_shown}"

    # a fact written after the refresh is not in the figures yet, and the time says so
    write(store, History("D2").received("2026-03-03 09:00", due="2026-03-20 17:00").facts(), 10)
    body = await get(client, "/api/dashboard")
    assert (body["total"]["received"], body["figures_as_of"]) == (1, first_iso)

    wait_for_the_next_second(store)
    second_iso, second_shown = refresh_and_hold(store)
    assert second_iso > first_iso
    body = await get(client, "/api/dashboard")
    assert (body["total"]["received"], body["figures_as_of"]) == (2, second_iso)
    assert body["html"]["figures-as-of"] == f"Số liệu tính đến {second_shown}"

    unit = await get(client, "/api/units/X1/open")
    assert unit["figures_as_of"] == second_iso
    assert "Số liệu tính đến" not in unit["html"]["open-list"]


# --- a refresh that fails -------------------------------------------------------------


@pytest.fixture
async def sink_served(tmp_path: Path) -> AsyncIterator[tuple[Store, Client]]:
    """A fresh store and the sink's whole HTTP app over it (dashboard and /metrics)."""
    store = connect(f"chdb://{tmp_path / 'ch'}")
    try:
        migrate(store)
        app = build_app(
            SinkStatus(store=store.url.display), SinkSettings(), store, Catalog(units=UNITS)
        )
        async with TestClient(TestServer(app)) as client:
            yield store, client
    finally:
        store.close()


async def scrape(client: Client) -> dict[str, float]:
    response = await client.get("/metrics")
    assert response.status == 200
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(await response.text())
        for sample in family.samples
        if sample.name.startswith("dossierflow_rollup_")
    }


async def test_a_failing_refresh_is_shown_on_the_dashboard_and_in_the_metrics(
    sink_served: tuple[Store, Client], caplog: pytest.LogCaptureFixture
) -> None:
    store, client = sink_served
    write(store, History("D1").received("2026-03-02 09:00", due="2026-03-20 17:00").facts())
    _iso, shown = refresh_and_hold(store)
    healthy = await scrape(client)
    assert healthy["dossierflow_rollup_refresh_failed"] == 0
    assert 0 <= healthy["dossierflow_rollup_age_seconds"] < 3600

    # a genuine failure of the real view: a table its query reads is gone
    store.client.command("RENAME TABLE dossier_milestones TO dossier_milestones_away")
    with pytest.raises(DatabaseError, match="UNKNOWN_TABLE"):
        refresh_rollups(store)
    pause_rollup_refreshes(store)

    body = await get(client, "/api/dashboard")
    assert body["total"]["received"] == 1  # the last good figures stay
    assert "Unknown table" in body["figures_error"]
    note = body["html"]["figures-as-of"]
    assert note.startswith(f'Số liệu tính đến {shown} <span class="failed">')
    assert "Lần tính gần nhất bị lỗi" in note and "Unknown table" in note
    assert "một phút" not in note
    # the live compliance figures read that table too: their panel says so, the rest stays
    assert "Unknown table" in body["compliance_error"]
    assert "Không đọc được số liệu tuân thủ" in body["html"]["compliance"]

    with caplog.at_level(logging.ERROR, logger="dossierflow.sinks.metrics"):
        failed = await scrape(client)
        await scrape(client)
    assert failed["dossierflow_rollup_refresh_failed"] == 1
    assert failed["dossierflow_rollup_age_seconds"] >= healthy["dossierflow_rollup_age_seconds"]
    logged = [r.getMessage() for r in caplog.records if "rollup failed" in r.getMessage()]
    assert len(logged) == 1 and "Unknown table" in logged[0]  # once per distinct error

    store.client.command("RENAME TABLE dossier_milestones_away TO dossier_milestones")
    refresh_rollups(store)
    pause_rollup_refreshes(store)
    assert (await scrape(client))["dossierflow_rollup_refresh_failed"] == 0
    body = await get(client, "/api/dashboard")
    assert body["figures_error"] is None and body["compliance_error"] is None
    assert 'data-key="apologies_late"' in body["html"]["compliance"]
    assert "failed" not in body["html"]["figures-as-of"]


def test_a_refresh_between_the_figures_and_the_trend_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real refresh lands, with a new dossier, right after the figures were read (the
    trend's query is wrapped to run it first, once): the figures and the trend then come
    from different contents, and the dashboard must read both again."""
    store = connect(f"chdb://{tmp_path / 'ch'}")
    try:
        migrate(store)
        write(store, History("D1").received("2026-03-02 09:00", due="2026-03-20 17:00").facts())
        refresh_and_hold(store)
        wait_for_the_next_second(store)
        real_trend = queries.weekly_trend
        calls: list[tuple[Any, ...]] = []

        def refresh_first(*args: Any) -> list[WeekCount]:
            if not calls:
                write(
                    store,
                    History("D2").received("2026-03-03 09:00", due="2026-03-20 17:00").facts(),
                    10,
                )
                refresh_and_hold(store)
            calls.append(args)
            return real_trend(*args)

        monkeypatch.setattr(handlers, "weekly_trend", refresh_first)
        selection = handlers.parse_selection(MARCH, datetime.now(LOCAL).date())
        report, rollup, weeks, _ = handlers._dashboard_data(
            store, Catalog(units=UNITS), selection
        )
        assert report.total.received == sum(w.received for w in weeks) == 2
        assert len(calls) == 2
        assert rollup.refreshed_at is not None
    finally:
        store.close()


# --- figures that trail the data say so, where the figures are ---------------------------

async def test_facts_written_after_the_refresh_are_said_to_be_missing_beside_the_figures(
    served: tuple[Store, Client],
) -> None:
    store, client = served
    write(store, History("D1").received("2026-03-02 09:00", due="2026-03-20 17:00").facts())
    refresh_and_hold(store)
    body = await get(client, "/api/dashboard")
    assert (body["total"]["received"], body["figures_behind"]) == (1, False)
    assert "behind" not in body["html"]["figures-as-of"]

    write(store, History("D2").received("2026-03-03 09:00", due="2026-03-20 17:00").facts(), 10)
    ((written,),) = store.client.query(LAST_WRITE_SQL).result_rows
    for path in ("/api/dashboard", "/api/units/X1/open"):
        body = await get(client, path)
        assert (body["total"]["received"], body["figures_behind"]) == (1, True)
        note = body["html"]["figures-as-of"]
        assert '<strong class="behind" role="status">Chưa gồm dữ liệu ghi từ thời điểm đó ' \
            f"(mới nhất lúc {written}): các con số dưới đây có thể thấp hơn báo cáo hiện thời" \
            in note
    page = await client.get("/dashboard", params=MARCH)
    assert 'class="behind"' in await page.text()  # the first paint says it too

    refresh_and_hold(store)
    body = await get(client, "/api/dashboard")
    assert (body["total"]["received"], body["figures_behind"]) == (2, False)
    assert "behind" not in body["html"]["figures-as-of"]


# --- the sink rebuilds the rollup after it writes ----------------------------------------


@pytest.mark.kafka
@pytest.mark.timeout(300)
async def test_the_sink_rebuilds_the_rollup_after_writing_so_the_dashboard_equals_the_report(
    tmp_path: Path, kafka_bootstrap: str, topic_factory: Callable[..., str],
) -> None:
    url = f"chdb://{tmp_path / 'ch'}"
    write_store, report_store = connect(url), connect(url)
    try:
        migrate(write_store)
        report_store.client.database = report_store.database
        refresh_rollups(write_store)
        # Only the sink's request can rebuild it within this test: the schedule is moved to
        # next year (an out-of-schedule `SYSTEM REFRESH VIEW` still runs).
        write_store.client.command("ALTER TABLE unit_day_changes_mv MODIFY REFRESH EVERY 1 YEAR")
        facts, alerts_topic = topic_factory(partitions=2), topic_factory(partitions=1)
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        for fact in all_facts():
            producer.send(facts, key=fact.dossier_id.encode(), value=msgspec.json.encode(fact))
        producer.flush()
        producer.close()
        settings = SinkSettings(bootstrap=kafka_bootstrap, facts_topic=facts,
                                alerts_topic=alerts_topic, group_id=f"g-{facts}",
                                batch_size=5, batch_max_age=0.2, http_port=free_port())
        refresher = RollupRefresher(write_store, interval=0.5)
        stop = asyncio.Event()
        task = asyncio.create_task(serve(settings, ClickHouseSink(write_store), report_store,
                                         Catalog(units=UNITS), stop, refresher=refresher))
        base = f"http://127.0.0.1:{settings.http_port}"
        period = f"from={FROM.isoformat()}&to={TO.isoformat()}"
        try:
            async with aiohttp.ClientSession() as session:
                async def json_of(path: str) -> dict[str, Any]:
                    async with session.get(f"{base}{path}?{period}") as response:
                        body: dict[str, Any] = await response.json(content_type=None)
                        return body

                loop = asyncio.get_running_loop()
                deadline = loop.time() + 120
                while True:
                    assert not task.done(), task
                    with contextlib.suppress(aiohttp.ClientError, ValueError):
                        report = await json_of("/report")
                        dashboard = await json_of("/api/dashboard")
                        live = report_from_json(report)
                        if (live.total == EXPECTED_TOTAL
                                and report_from_json(dashboard) == live
                                and not dashboard["figures_behind"]):
                            break
                    assert loop.time() < deadline, "the dashboard never caught up"
                    await asyncio.sleep(0.2)
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
        assert refresher.requests >= 1
    finally:
        report_store.close()
        write_store.close()
