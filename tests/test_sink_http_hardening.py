"""Hostile requests against the sink's HTTP surface: the real app on a real socket, real chDB.

A stranger's GET must not take the sink down: periods are bounded and refused with a 400
and a sentence before any query, a query is stopped at its time limit, and a client that
sends its request slowly is disconnected.
"""

from __future__ import annotations

import asyncio
import csv
import io
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from dossierflow.rules.catalog import Catalog
from dossierflow.sinks.kafka_sink import SinkStatus, build_app, start_http
from dossierflow.sinks.settings import SinkSettings

from dossierflow.health import Readiness, start_health_server
from dossierflow.reporting.report import Figures, Report, ReportRow, report_csv
from dossierflow.reporting.runner import QueryRunner, QueryTimeout
from dossierflow.store import Store, connect, migrate
from tests.test_kafka_sink import free_port
from tests.test_report import UNITS, History, write
from tests.test_store import cli

pytestmark = [pytest.mark.clickhouse, pytest.mark.timeout(120)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = connect(f"chdb://{tmp_path / 'ch'}")
    try:
        migrate(store)
        write(store, History("D1").received("2026-03-02 09:00", due="2026-03-20 17:00").facts())
        yield store
    finally:
        store.close()


Serve = Callable[..., Any]


@pytest.fixture
async def serve(store: Store) -> AsyncIterator[Serve]:
    """`await serve(**settings)`: the sink's HTTP app on a free port; its base URL."""
    runners = []

    async def start(**overrides: Any) -> str:
        settings = replace(SinkSettings(http_port=free_port()), **overrides)
        app = build_app(SinkStatus(store=store.url.display), settings, store, Catalog(units=UNITS))
        runners.append(await start_http(app, settings))
        return f"http://127.0.0.1:{settings.http_port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def get(url: str, **headers: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as answer:
        return answer.status, await answer.text()


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/dashboard?from=0001-01-08&to=9999-12-01", "outside the days a report covers"),
        ("/api/dashboard?from=2000-01-01&to=2099-12-01", "at most 366 days"),
        ("/api/dashboard?from=2026-01-01&through=2027-01-02", "at most 366 days"),
        ("/report?from=2026-01-01&through=9999-12-31", "through 9999-12-31: outside"),
        ("/report?from=2020-01-01&to=2026-01-02", "at most 1830 days"),
        ("/report?from=2026-01-01&to=2026-02-01&level=planet", "level 'planet'"),
        ("/report?from=2026-01-01&to=2026-02-01&unit=" + "X" * 65, "not a unit code"),
        ("/api/dashboard?from=2026-01-01&to=2026-02-01&unit=%0a", "not a unit code"),
    ],
)
async def test_an_unbounded_or_bad_request_is_refused_with_a_sentence(
    serve: Serve, path: str, says: str
) -> None:
    base = await serve()
    status, text = await get(base + path)
    assert status == 400, text[:300]
    assert says in text


async def test_the_longest_periods_allowed_are_answered(serve: Serve) -> None:
    base = await serve()
    status, text = await get(base + "/api/dashboard?from=2026-01-01&through=2026-12-31")
    assert status == 200, text[:300]
    status, text = await get(base + "/report?from=2021-01-01&through=2025-12-31&format=csv")
    assert status == 200, text[:300]


def _count_forever(store: Store) -> Any:
    return store.client.query("SELECT count() FROM system.numbers WHERE number % 7 = 3")


async def test_a_query_past_its_time_limit_is_stopped_and_the_store_serves_again(
    store: Store,
) -> None:
    runner = QueryRunner(store, time_limit=1)
    with pytest.raises(QueryTimeout, match="time limit of 1 s"):
        await runner.run(_count_forever)
    # the lock was given back when the engine stopped the query
    assert await runner.run(lambda s: s.client.command("SELECT 41 + 1")) == 42


async def test_probes_answer_while_a_query_holds_the_store(store: Store, serve: Serve) -> None:
    base = await serve()
    runner = QueryRunner(store, time_limit=20)
    heavy = asyncio.create_task(runner.run(_count_forever))
    await asyncio.sleep(0.5)
    status, _ = await get(base + "/healthz")
    assert status == 200
    assert not heavy.done()
    with pytest.raises(QueryTimeout):
        await heavy


def _read_until_closed(port: int, partial_request: bytes) -> bytes:
    """Send the beginning of a request and never the rest; what the server sends until it
    closes the connection (the test's timeout fails a server that never does)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(partial_request)
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
        return received


PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


async def test_a_client_that_never_finishes_its_request_is_disconnected(serve: Serve) -> None:
    base = await serve(http_idle_timeout=1.0)
    port = int(base.rsplit(":", 1)[1])
    assert await asyncio.to_thread(_read_until_closed, port, PARTIAL) == b""


def test_the_workers_health_server_disconnects_a_slow_client() -> None:
    port = free_port()
    server = start_health_server(
        "127.0.0.1", port, Readiness, "--metrics-port", idle_timeout=1.0
    )
    try:
        assert _read_until_closed(port, PARTIAL) == b""
    finally:
        server.shutdown()


# --- CSV exports never carry a formula -------------------------------------------------

FORMULA = '=HYPERLINK("http://phish.example/","Xem")'


def _formula_store(path: Path) -> str:
    url = f"chdb://{path}"
    store = connect(url)
    try:
        migrate(store)
        facts = History("D9", unit=FORMULA).received("2026-03-02 09:00", due="2026-03-20 17:00")
        write(store, facts.facts())
    finally:
        store.close()
    return url


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


async def test_a_formula_in_a_unit_code_reaches_the_csv_of_the_sink_as_text(
    tmp_path: Path,
) -> None:
    store = connect(_formula_store(tmp_path / "ch"))
    settings = SinkSettings(http_port=free_port())
    app = build_app(SinkStatus(store=store.url.display), settings, store, Catalog(units=UNITS))
    runner = await start_http(app, settings)
    try:
        status, text = await get(
            f"http://127.0.0.1:{settings.http_port}/report?from=2026-03-01&to=2026-04-01"
            "&format=csv"
        )
    finally:
        await runner.cleanup()
        store.close()
    assert status == 200
    [row, total] = _csv_rows(text)
    assert (row["unit_code"], row["unit_name"], row["received"]) == ("'" + FORMULA,) * 2 + ("1",)
    assert total["received"] == "1"


def test_a_formula_in_a_unit_code_reaches_the_csv_of_the_command_as_text(
    tmp_path: Path,
) -> None:
    url = _formula_store(tmp_path / "ch")
    done = cli("report", "--store", url, "--sink-url", f"http://127.0.0.1:{free_port()}",
               "--from", "2026-03-01", "--to", "2026-04-01", "--format", "csv")
    assert done.returncode == 0, done.stderr
    [row, _total] = _csv_rows(done.stdout)
    assert row["unit_code"] == "'" + FORMULA


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_prefix_is_neutralised_and_negative_figures_stay_numbers(
    prefix: str,
) -> None:
    row = ReportRow(prefix + "1+2", prefix + "cmd", "commune", Figures(carried_over=-3))
    report = Report(date(2026, 3, 1), date(2026, 4, 1), (row,), row.figures)
    [written, total] = _csv_rows(report_csv(report))
    assert written["unit_code"] == "'" + prefix + "1+2"
    assert written["unit_name"] == "'" + prefix + "cmd"
    assert (written["carried_over"], total["carried_over"]) == ("-3", "-3")
