"""Hostile requests against the sink's HTTP surface: the real app on a real socket, real chDB.

A stranger's GET must not take the sink down: periods are bounded and refused with a 400
and a sentence before any query, a query is stopped at its time limit, and a client that
sends its request slowly is disconnected.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dossierflow.health import Readiness, start_health_server
from dossierflow.reporting.report import Figures, Report, ReportRow, report_csv
from dossierflow.reporting.runner import QueryRunner, QueryTimeout
from dossierflow.rules.catalog import Catalog
from dossierflow.sink_service import build_app, listener_access, start_http
from dossierflow.sinks.kafka_sink import SinkStatus
from dossierflow.sinks.settings import SinkSettings
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
        ("/report?from=2026-03-01&to=2026-04-01&level=province&lang=en",
         "the province level units (P) have no dossier in the period. Its 1 dossiers are at: "
         "commune level (1)."),
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


# --- who may ask: the token, the Host names, the headers --------------------------------

TOKEN = "t0ken-" + "9" * 40


@pytest.fixture
async def guarded(store: Store) -> AsyncIterator[str]:
    """The sink's app with a token, on a free port; its base URL."""
    settings = SinkSettings(http_port=free_port())
    status = SinkStatus(store=store.url.display)
    access = listener_access(settings, TOKEN)
    app = build_app(status, settings, store, Catalog(units=UNITS), access)
    runner = await start_http(app, settings)
    yield f"http://127.0.0.1:{settings.http_port}"
    await runner.cleanup()


MARCH = "from=2026-03-01&to=2026-04-01"
GUARDED_PATHS = [f"/report?{MARCH}", f"/dashboard?{MARCH}", f"/api/dashboard?{MARCH}",
                 "/dashboard/units/X1", "/dashboard/static/dashboard.css", "/metrics", "/nothing"]


@pytest.mark.parametrize("path", GUARDED_PATHS)
async def test_with_a_token_every_path_but_the_probes_wants_it(guarded: str, path: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(guarded + path) as answer:
            assert answer.status == 401
            assert answer.headers["WWW-Authenticate"] == 'Bearer realm="dossierflow"'
        wrong = {"Authorization": f"Bearer {TOKEN[:-1]}x"}
        async with session.get(guarded + path, headers=wrong) as answer:
            assert answer.status == 401
        right = {"Authorization": f"Bearer {TOKEN}"}
        async with session.get(guarded + path, headers=right) as answer:
            assert answer.status == (404 if path == "/nothing" else 200)


async def test_probes_tell_a_stranger_only_alive_and_ready(guarded: str) -> None:
    status, text = await get(guarded + "/healthz")
    assert (status, json.loads(text)) == (200, {"status": "alive"})
    status, text = await get(guarded + "/readyz")
    assert (status, text) == (503, "not ready\n")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, text = await get(guarded + "/healthz", **auth)
    assert json.loads(text)["store"].startswith("chdb://")
    status, text = await get(guarded + "/readyz", **auth)
    assert text.startswith("not ready: Kafka at ")


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8686", "10.0.0.7"])
async def test_a_name_the_sink_does_not_answer_to_is_refused(serve: Serve, host: str) -> None:
    base = await serve()
    status, text = await get(f"{base}/report?{MARCH}", Host=host)
    assert status == 421 and "does not answer to the name" in text
    status, text = await get(f"{base}/healthz", Host=host)  # a kubelet asks by pod address
    assert (status, json.loads(text)) == (200, {"status": "alive"})


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:1", "127.0.0.1", "[::1]:8686"])
async def test_the_loopback_names_are_answered(serve: Serve, host: str) -> None:
    base = await serve()
    status, _ = await get(f"{base}/report?{MARCH}", Host=host)
    assert status == 200


async def test_a_name_given_in_the_setting_is_answered(serve: Serve) -> None:
    base = await serve(http_allowed_hosts="bao-cao.example.gov.vn, other.example")
    assert (await get(f"{base}/report?{MARCH}", Host="bao-cao.example.gov.vn"))[0] == 200
    assert (await get(f"{base}/report?{MARCH}", Host="evil.example"))[0] == 421


HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer"}


def assert_secure_headers(headers: Mapping[str, str]) -> None:
    for name, value in HEADERS.items():
        assert headers[name] == value, name
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert headers["Server"] == "dossierflow"


@pytest.mark.parametrize("path", [f"/dashboard?{MARCH}", "/dashboard/static/dashboard.js",
                                  "/report?from=x", "/nothing", "/healthz", "/metrics"])
async def test_every_answer_carries_the_security_headers(serve: Serve, path: str) -> None:
    base = await serve()
    async with aiohttp.ClientSession() as session, session.get(base + path) as answer:
        assert_secure_headers(answer.headers)


def _http(port: int, path: str, host: str = "127.0.0.1") -> tuple[int, str, Mapping[str, str]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode(), dict(answer.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def _not_ready() -> Readiness:
    return Readiness(("Kafka at kafka.internal:9092 is unreachable",))


def test_the_workers_endpoint_checks_the_host_and_sends_the_headers() -> None:
    port = free_port()
    server = start_health_server("127.0.0.1", port, _not_ready, "--metrics-port")
    try:
        status, _text, headers = _http(port, "/metrics")
        assert status == 200
        assert_secure_headers(headers)
        assert _http(port, "/metrics", "evil.example")[0] == 421
        assert _http(port, "/readyz")[:2] == (503, "not ready: " + _not_ready().reasons[0] + "\n")
        assert _http(port, "/readyz", "evil.example")[:2] == (503, "not ready\n")
    finally:
        server.shutdown()


def test_the_workers_probes_keep_their_reasons_off_the_network() -> None:
    port = free_port()
    server = start_health_server("0.0.0.0", port, _not_ready, "--metrics-port",
                                 allowed_hosts=["*"])
    try:
        assert _http(port, "/readyz")[:2] == (503, "not ready\n")
        assert _http(port, "/metrics", "10.0.0.7")[0] == 200
    finally:
        server.shutdown()


async def test_the_report_command_sends_the_token(guarded: str, store: Store) -> None:
    args = ("report", "--store", store.url.display, "--sink-url", guarded,
            "--from", "2026-03-01", "--to", "2026-04-01", "--format", "csv")
    with_token = await asyncio.to_thread(cli, *args, env={"DOSSIERFLOW_SINK_TOKEN": TOKEN})
    assert with_token.returncode == 0, with_token.stderr
    assert _csv_rows(with_token.stdout)[0]["received"] == "1"
    without = await asyncio.to_thread(cli, *args)
    assert without.returncode != 0
    assert "DOSSIERFLOW_SINK_TOKEN" in without.stderr


def test_the_sink_refuses_to_serve_a_network_without_a_token(tmp_path: Path) -> None:
    done = cli("sink", "--http-host", "0.0.0.0", "--http-port", str(free_port()),
               "--store", f"chdb://{tmp_path / 'ch'}", "--bootstrap", "127.0.0.1:9")
    assert done.returncode == 2
    assert "give it a token (DOSSIERFLOW_SINK_TOKEN_FILE" in done.stderr


def test_a_short_token_is_refused(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("short\n")
    done = cli("sink", "--http-port", str(free_port()), "--store", f"chdb://{tmp_path / 'ch'}",
               env={"DOSSIERFLOW_SINK_TOKEN_FILE": str(token_file)})
    assert done.returncode == 2
    # Read through the generic `<SECRET>_FILE` form of every secret setting (config.py).
    assert "DOSSIERFLOW_SINK_TOKEN: the token has 5 characters" in done.stderr, done.stderr
