"""End to end on the real Kafka broker and real chDB: events -> worker -> facts -> sink -> report.

The events are those of `tests/district2022.py` (the district 2022 figures of DOMAIN.md),
produced to the events topic in time order; `dossierflow worker --event-time` (a subprocess,
memory store) derives deadlines and outcomes and publishes facts and alerts; the sink
(`sinks/kafka_sink.serve`, in-process, the code behind `dossierflow sink`) writes them into a
temporary chDB; `dossierflow report ... --format json` (a subprocess) reads the report through
the sink's HTTP endpoint. Nothing is mocked, except that the third test wraps the real chDB
client so that inserts fail for a while, as tests/test_kafka_sink.py does.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from clickhouse_connect.driver.exceptions import OperationalError
from dossierflow.rules.catalog import load_catalog
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.sinks.kafka_sink import SinkSettings, SinkStatus, serve
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from dossierflow.store import Store, connect, migrate
from tests.district2022 import (
    COMMUNE,
    DISTRICT,
    PERIOD_FROM,
    PERIOD_TO,
    as_lines,
    expected_total,
    generate,
)
from tests.worker_process import WorkerTopics, free_port, start_worker, stop_worker

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[1]
SCOPES: dict[str, tuple[str, ...]] = {
    "district": ("--level", "district"),
    "commune": ("--level", "commune"),
    "province": (),
}

Reports = dict[str, dict[str, Any]]
"""The JSON of `dossierflow report` per scope of `SCOPES`."""


# --- the pipeline --------------------------------------------------------------------------


class OutageClient:
    """The real chDB client, whose inserts fail like an unreachable ClickHouse server for
    `seconds` from the first insert after `after_rows` rows were stored."""

    def __init__(self, client: Any, after_rows: int, seconds: float) -> None:
        self._client = client
        self.after_rows = after_rows
        self.seconds = seconds
        self.stored_rows = 0
        self.down_from: float | None = None
        self.failed_inserts = 0
        self.rows_after_outage = 0

    def insert(self, table: str, data: list[list[Any]], *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if self.down_from is None and self.stored_rows >= self.after_rows:
            self.down_from = now
        if self.down_from is not None and now < self.down_from + self.seconds:
            self.failed_inserts += 1
            raise OperationalError("Error HTTPConnectionPool: Connection refused")
        result = self._client.insert(table, data, *args, **kwargs)
        rows = len(data[0]) if data else 0
        self.stored_rows += rows
        if self.down_from is not None:
            self.rows_after_outage += rows
        return result


@dataclass
class Run:
    """One pipeline on fresh topics and a fresh chDB directory."""

    bootstrap: str
    tmp: Path
    topics: WorkerTopics = field(init=False)
    settings: SinkSettings = field(init=False)
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    """Times the worker stopped itself (exit code 1) and was started again."""

    def __post_init__(self) -> None:
        self.topics = WorkerTopics(self.bootstrap, partitions=3)
        self.topics.create()
        self.settings = SinkSettings(
            bootstrap=self.bootstrap,
            facts_topic=self.topics.facts,
            alerts_topic=self.topics.alerts,
            group_id=f"sink-{uuid.uuid4().hex[:8]}",
            batch_size=5_000,
            batch_max_age=0.5,
            http_port=free_port(),
        )

    @property
    def sink_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http_port}"

    @property
    def store_url(self) -> str:
        return f"chdb://{self.tmp / 'clickhouse'}"

    def worker(self) -> subprocess.Popen[bytes]:
        self.process = start_worker(self.topics, self.tmp, "--event-time")
        return self.process

    # Kafka bookkeeping (blocking; called through asyncio.to_thread).

    def end_offsets(self, *topics: str) -> int:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            tps = [
                TopicPartition(topic, p)
                for topic in topics
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            return sum(consumer.end_offsets(tps).values())
        finally:
            consumer.close()

    def worker_committed(self) -> int:
        group = self.topics.app_id
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            offsets = admin.list_group_offsets({group: None}).get(group, {})
        except KafkaError:  # the group coordinator is still loading: nothing known yet
            return -1
        finally:
            admin.close()
        return sum(
            max(meta.offset, 0) for tp, meta in offsets.items() if tp.topic == self.topics.events
        )

    def report(self) -> Reports:
        """`dossierflow report --format json` per scope, through the running sink."""
        out: Reports = {}
        for scope, extra in SCOPES.items():
            done = subprocess.run(
                [
                    sys.executable, "-m", "dossierflow.cli", "report",
                    "--from", PERIOD_FROM, "--to", PERIOD_TO, *extra, "--format", "json",
                    "--store", self.store_url, "--sink-url", self.sink_url,
                ],
                capture_output=True, text=True, timeout=120, cwd=ROOT,
            )
            assert done.returncode == 0, done.stderr
            out[scope] = json.loads(done.stdout)
        return out


async def sink_health(run: Run) -> dict[str, Any] | None:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{run.sink_url}/healthz") as response,
        ):
            body: dict[str, Any] = await response.json(content_type=None)
            return body
    except aiohttp.ClientError:
        return None


async def settle(
    run: Run,
    events: int,
    sink: asyncio.Task[SinkStatus],
    timeout: float = 400,
) -> None:
    """Until the worker committed every event and the sink stored and committed every fact
    and alert, with no new output for a few seconds (event-time alerts come from timers)."""
    deadline = time.monotonic() + timeout
    stable_since: float | None = None
    last: tuple[int, int] | None = None
    while True:
        assert not sink.done(), f"the sink stopped: {sink.exception()!r}"
        code = run.process.poll() if run.process is not None else None
        if code == 1:  # the worker stopped itself (fail fast): restart it, as a supervisor does
            run.restarts += 1
            assert run.restarts <= 3, f"the worker keeps stopping; see {run.tmp / 'worker.log'}"
            run.worker()
        assert code in (None, 1), f"the worker stopped ({code}); see {run.tmp / 'worker.log'}"
        assert time.monotonic() < deadline, f"not settled in {timeout} s (last: {last})"
        worker = await asyncio.to_thread(run.worker_committed)
        produced = await asyncio.to_thread(
            run.end_offsets, run.topics.facts, run.topics.alerts
        )
        health = await sink_health(run)
        stored = sum(health["committed"].values()) if health else -1
        now = (worker, produced)
        if worker == events and stored == produced and now == last:
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= 3:
                return
        else:
            stable_since = None
        last = now
        await asyncio.sleep(0.5)


async def trickle_produce(run: Run, lines: list[bytes], chunk: int = 100) -> None:
    """`lines` in time order, `chunk` at a time every 0.1 s: a stream that keeps coming."""
    for start in range(0, len(lines), chunk):
        await asyncio.to_thread(run.topics.produce, lines[start : start + chunk])
        await asyncio.sleep(0.1)


async def pipeline(
    bootstrap: str,
    tmp: Path,
    lines: list[bytes],
    *,
    trickle: bool = False,
    kill_worker_after_facts: int | None = None,
    client_wrapper: Callable[[Any], Any] | None = None,
) -> tuple[Reports, dict[str, float]]:
    """Run worker and sink on fresh topics and store until every event of `lines` is in
    the report; the reports and timings. The events are produced up front (history already
    in Kafka, as in a backfill), or with `trickle` in chunks while the pipeline runs."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    run = Run(bootstrap, tmp)
    producing: asyncio.Task[None] | None = None
    if trickle:
        producing = asyncio.create_task(trickle_produce(run, lines))
    else:
        await asyncio.to_thread(run.topics.produce, lines)
        timings["produce"] = time.monotonic() - started
    write_store, report_store = connect(run.store_url), connect(run.store_url)
    migrate(write_store)
    report_store.client.database = report_store.database
    store = write_store
    if client_wrapper is not None:
        store = Store(client_wrapper(write_store.client), write_store.url)
    catalog = load_catalog()
    stop = asyncio.Event()
    sink = asyncio.create_task(
        serve(run.settings, ClickHouseSink(store, retry_after=0.3), report_store, catalog, stop)
    )
    worker = run.worker()
    try:
        if kill_worker_after_facts is not None:
            while await asyncio.to_thread(run.end_offsets, run.topics.facts) < (
                kill_worker_after_facts
            ):
                assert worker.poll() is None, "the worker stopped by itself"
                await asyncio.sleep(0.1)
            worker.send_signal(signal.SIGKILL)
            assert worker.wait(timeout=10) == -signal.SIGKILL
            timings["killed_at"] = time.monotonic() - started
            committed = await asyncio.to_thread(run.worker_committed)
            assert committed < len(lines), "the kill came too late to interrupt anything"
            run.worker()
        if producing is not None:
            await producing
        killed = kill_worker_after_facts is not None
        await settle(run, len(lines), sink, timeout=150 if killed else 400)
        timings["pipeline"] = time.monotonic() - started
        timings["worker_restarts"] = run.restarts
        reports = await asyncio.to_thread(run.report)
        timings["report"] = time.monotonic() - started - timings["pipeline"]
    finally:
        if producing is not None and not producing.done():
            producing.cancel()
        if run.process is not None:
            stop_worker(run.process)
        stop.set()
        await asyncio.wait_for(sink, 60)
        report_store.close()
        write_store.close()
    return reports, timings


# --- the expected figures ----------------------------------------------------------------


def check_district_2022(reports: Reports, *, communes: bool = True) -> None:
    district = reports["district"]
    assert district["period"] == {"from": PERIOD_FROM, "to": PERIOD_TO}
    assert [r["unit_code"] for r in district["rows"]] == ["H-01"]
    total = district["total"]
    assert {k: total[k] for k in expected_total(DISTRICT)} == expected_total(DISTRICT)
    # DOMAIN.md verbatim: 1,396 received; 1,332 early, 3 on time, 56 overdue, 5 in progress.
    assert (total["received"], total["resolved_early"], total["resolved_on_time"]) == (
        1_396, 1_332, 3,
    )
    assert (total["resolved_overdue"], total["in_progress"]) == (56, 5)
    assert total["received_in_person"] + total["received_online"] + total[
        "received_postal"
    ] == total["received"]
    if not communes:
        assert reports["commune"]["rows"] == []
        return
    commune = reports["commune"]
    assert [r["unit_code"] for r in commune["rows"]] == ["X-H01-01", "X-H01-02"]
    total = commune["total"]
    assert {k: total[k] for k in expected_total(COMMUNE)} == expected_total(COMMUNE)
    # DOMAIN.md verbatim: 31,125 received; 31,118 resolved, 7 in progress.
    resolved = total["resolved_early"] + total["resolved_on_time"] + total["resolved_overdue"]
    assert (total["received"], resolved, total["in_progress"]) == (31_125, 31_118, 7)
    province = reports["province"]["total"]
    assert province["received"] == 1_396 + 31_125
    assert province["in_progress"] == 5 + 7


# --- the tests ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def district_lines() -> list[bytes]:
    return as_lines(generate(communes=False))


def test_district_2022_figures_through_kafka_worker_clickhouse_and_report(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """All 32,521 dossiers (65,036 events) of DOMAIN.md's district 2022 example through
    the whole pipeline; the report reproduces the published figures exactly."""
    lines = as_lines(generate())
    assert len(lines) == 65_036
    reports, timings = asyncio.run(pipeline(kafka_bootstrap, tmp_path, lines))
    print(f"full district 2022 run: {timings}")
    check_district_2022(reports)


@pytest.fixture(scope="module")
def uninterrupted(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, district_lines: list[bytes]
) -> Reports:
    """The reports of an uninterrupted run on the district level's 2,789 events."""
    reports, timings = asyncio.run(
        pipeline(kafka_bootstrap, tmp_path_factory.mktemp("uninterrupted"), district_lines)
    )
    print(f"uninterrupted district run: {timings}")
    return reports


def test_district_level_2022_figures_through_kafka(uninterrupted: Reports) -> None:
    check_district_2022(uninterrupted, communes=False)


def test_worker_killed_mid_run_then_restarted_gives_the_same_report(
    kafka_bootstrap: str, tmp_path: Path, district_lines: list[bytes], uninterrupted: Reports
) -> None:
    """SIGKILL (no graceful stop: no final commit, no flush) while events keep coming and
    about a third of them are processed; a new worker on the same app id recovers its table
    from the changelog, re-reads from the last committed offset, and the report is exactly
    the one of an uninterrupted run."""
    reports, timings = asyncio.run(
        pipeline(
            kafka_bootstrap, tmp_path, district_lines,
            trickle=True, kill_worker_after_facts=len(district_lines) // 3,
        )
    )
    print(f"run with a SIGKILLed worker: {timings}")
    assert reports == uninterrupted
    check_district_2022(reports, communes=False)


def test_clickhouse_unreachable_for_a_while_then_the_report_is_complete_and_exact(
    kafka_bootstrap: str, tmp_path: Path, district_lines: list[bytes], uninterrupted: Reports
) -> None:
    """Every insert fails like an unreachable server for 6 s, starting once a third of the
    facts are stored while events keep coming; the sink pauses, backs off, catches up."""
    outages: list[OutageClient] = []

    def down_for_a_while(client: Any) -> OutageClient:
        outages.append(OutageClient(client, after_rows=len(district_lines) // 3, seconds=6.0))
        return outages[-1]

    reports, timings = asyncio.run(
        pipeline(
            kafka_bootstrap, tmp_path, district_lines,
            trickle=True, client_wrapper=down_for_a_while,
        )
    )
    print(f"run with ClickHouse down for 6 s: {timings}")
    (outage,) = outages
    assert outage.down_from is not None, "the outage never started"
    assert 1 <= outage.failed_inserts < 30  # retried with backoff, not in a busy loop
    assert outage.rows_after_outage > 0  # the rest landed after it
    assert reports == uninterrupted
    check_district_2022(reports, communes=False)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )


def test_district_2022_figures_through_replay_store(tmp_path: Path) -> None:
    """All 32,521 dossiers (65,036 events) through `dossierflow replay --store` (the same
    `ClickHouseSink` as the live sink) and `dossierflow report` on the store directly."""
    events = tmp_path / "district2022.jsonl"
    lines = as_lines(generate())
    assert len(lines) == 65_036
    events.write_bytes(b"\n".join(lines) + b"\n")
    store = f"chdb://{tmp_path / 'clickhouse'}"
    started = time.monotonic()
    done = cli("replay", str(events), "--store", store)
    assert done.returncode == 0, done.stderr
    assert "stored 65036 facts" in done.stderr
    replayed = time.monotonic() - started
    reports: Reports = {}
    for scope, extra in SCOPES.items():
        done = cli(
            "report", "--from", PERIOD_FROM, "--to", PERIOD_TO, *extra,
            "--format", "json", "--store", store,
            "--sink-url", f"http://127.0.0.1:{free_port()}",  # no sink: read the store
        )
        assert done.returncode == 0, done.stderr
        reports[scope] = json.loads(done.stdout)
    print(f"replay --store: {replayed:.1f} s, reports: {time.monotonic() - started:.1f} s")
    check_district_2022(reports)
