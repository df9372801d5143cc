"""The sink process against the real Kafka broker of the session and real chDB.

Facts are the hand-built set of tests/test_report.py, whose report figures are derived by
hand there, so "everything landed exactly once" is checked as "the report is exactly that".
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import msgspec
import pytest
from clickhouse_connect.driver.exceptions import OperationalError
from kafka.admin import KafkaAdminClient
from kafka.producer import KafkaProducer
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from dossierflow.reporting.client import fetch_from_sink
from dossierflow.reporting.report import report_from_json
from dossierflow.rules.catalog import Catalog
from dossierflow.schemas.facts import DossierAlert, Recipient
from dossierflow.sink_service import serve
from dossierflow.sinks.base import BatchingSink, SinkBatch
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.sinks.kafka_sink import SinkStatus, backoff_delay
from dossierflow.sinks.settings import SinkSettings
from dossierflow.store import Store, connect, migrate
from tests.test_report import EXPECTED, EXPECTED_TOTAL, FROM, TO, UNITS, all_facts
from tests.test_store import cli as _cli

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.timeout(300)]

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def alerts() -> list[DossierAlert]:
    deadline = datetime(2026, 3, 13, 17, tzinfo=HCM)
    return [
        DossierAlert(
            alert_id=f"D5-{kind}",
            kind=kind,
            dossier_id="D5",
            at=datetime(2026, 3, 12, 17, tzinfo=HCM),
            deadline=deadline,
            unit_code="X1",
            handling_unit_code="X1",
            procedure_code="1.000894",
            apology_issued=False,
            recipients=(Recipient("handling_unit_head", "X1"),),
            text_vi="Hồ sơ D5 sắp quá hạn",
            text_en="Dossier D5 is at risk",
        )
        for kind in ("AT_RISK", "OVERDUE")
    ]


@dataclass
class Topics:
    bootstrap: str
    facts: str
    alerts: str

    def produce(self, copies: int = 2) -> int:
        """Every fact and alert `copies` times (a re-delivery upstream); returns records."""
        producer = KafkaProducer(bootstrap_servers=self.bootstrap)
        encoder = msgspec.json.Encoder()
        count = 0
        for _ in range(copies):
            for fact in all_facts():
                producer.send(self.facts, key=fact.dossier_id.encode(), value=encoder.encode(fact))
                count += 1
            for alert in alerts():
                producer.send(self.alerts, key=b"X1", value=encoder.encode(alert))
                count += 1
        producer.flush()
        producer.close()
        return count


@pytest.fixture
def topics(kafka_bootstrap: str, topic_factory: Callable[..., str]) -> Topics:
    return Topics(kafka_bootstrap, topic_factory(partitions=3), topic_factory(partitions=3))


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    url = f"chdb://{tmp_path / 'ch'}"
    write_store, report_store = connect(url), connect(url)
    migrate(write_store)
    report_store.client.database = report_store.database
    try:
        yield write_store, report_store
    finally:
        report_store.close()
        write_store.close()


def settings(topics: Topics, group: str | None = None) -> SinkSettings:
    return SinkSettings(
        bootstrap=topics.bootstrap,
        facts_topic=topics.facts,
        alerts_topic=topics.alerts,
        group_id=group or f"g{uuid.uuid4().hex[:8]}",
        batch_size=7,
        batch_max_age=0.2,
        http_port=free_port(),
    )


@asynccontextmanager
async def running(
    cfg: SinkSettings, sink: BatchingSink[Any], report_store: Store
) -> AsyncIterator[asyncio.Task[SinkStatus]]:
    stop = asyncio.Event()
    task = asyncio.create_task(serve(cfg, sink, report_store, Catalog(units=UNITS), stop))
    try:
        yield task
    finally:
        stop.set()
        if not task.done():
            await asyncio.wait_for(task, 60)


async def http_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json(content_type=None)


async def wait_for(
    predicate: Callable[[], bool], timeout: float = 90, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def insert_failures(base: str) -> float:
    """`dossierflow_sink_insert_failures_total` as the sink's /metrics shows it."""
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
        text = await response.text()
    samples = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "dossierflow_sink_insert_failures_total"
    ]
    assert len(samples) == 1, "the sink does not expose its insert failures"
    return samples[0]


async def wait_committed(cfg: SinkSettings, records: int, task: asyncio.Task[Any]) -> None:
    """Until /healthz says every produced record was stored and its offset committed."""
    url = f"http://127.0.0.1:{cfg.http_port}/healthz"
    deadline = time.monotonic() + 90
    while True:
        assert not task.done(), task.exception() if task.done() else ""
        try:
            _, health = await http_json(url)
            if sum(health["committed"].values()) == records:
                return
        except aiohttp.ClientError:
            pass
        assert time.monotonic() < deadline, "timed out waiting for the commits"
        await asyncio.sleep(0.2)


def committed_offsets(bootstrap: str, group: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return sum(max(meta.offset, 0) for meta in offsets.values())


def final_counts(store: Store) -> tuple[int, int, int]:
    q = store.client.query
    return (
        q("SELECT count() FROM dossier_facts FINAL").result_rows[0][0],
        q("SELECT count() FROM dossier_facts").result_rows[0][0],
        q("SELECT count() FROM dossier_alerts FINAL").result_rows[0][0],
    )


async def test_sink_stores_commits_and_serves_the_report_over_http(
    topics: Topics, stores: tuple[Store, Store]
) -> None:
    write_store, report_store = stores
    # No background merge may collapse the duplicate rows before they are counted below.
    write_store.client.command("SYSTEM STOP MERGES dossier_facts")
    records = topics.produce(copies=1)
    cfg = settings(topics)
    base = f"http://127.0.0.1:{cfg.http_port}"
    async with running(cfg, ClickHouseSink(write_store), report_store) as task:
        await wait_committed(cfg, records, task)
        # The re-delivery comes once the first copy is stored: in inserts of its own.
        records += topics.produce(copies=1)
        await wait_committed(cfg, records, task)
        status, body = await http_json(f"{base}/report?from={FROM}&to={TO}")
        assert status == 200
        report = report_from_json(body)
        assert {r.unit_code: r.figures for r in report.rows} == EXPECTED
        assert report.total == EXPECTED_TOTAL
        async with aiohttp.ClientSession() as session:
            url = f"{base}/report?from={FROM}&to={TO}&level=commune&format=table&lang=en"
            async with session.get(url) as response:
                text = await response.text()
                assert response.headers["X-Dossierflow-Reconciliation"] == "ok"
            assert "Subtotal" not in text and "TOTAL" in text and "On-time rate" in text
            async with session.get(f"{base}/report?from={FROM}&to={TO}&format=csv") as response:
                assert response.content_type == "text/csv"
                assert (await response.text()).startswith("unit_code,unit_name,level")
        status, body = await http_json(f"{base}/report?from={TO}&to={FROM}")
        assert status == 400 and body["error"].startswith(
            "to (2026-03-01) must be after from (2026-04-01)"
        )
        status, body = await http_json(f"{base}/report?from=2026-03-01")
        assert status == 400 and "give one of to" in body["error"]
        # The inclusive end and the Vietnamese way of writing dates name the same period:
        status, body = await http_json(f"{base}/report?from=01/03/2026&through=31/03/2026")
        assert status == 200 and report_from_json(body) == report
        # `dossierflow report` reaches the store through the sink while it runs:
        via_cli = await asyncio.to_thread(
            fetch_from_sink, base, write_store.url.display, {"from": str(FROM), "to": str(TO)}
        )
        assert via_cli == (report, "")
        elsewhere = await asyncio.to_thread(fetch_from_sink, base, "chdb:///other", {})
        assert elsewhere[0] is None and "not 'chdb:///other'" in elsewhere[1]
    assert committed_offsets(topics.bootstrap, cfg.group_id) == records
    facts, raw, stored_alerts = final_counts(write_store)
    assert (facts, stored_alerts) == (len(all_facts()), 2)
    # Each copy of a fact came in an insert of its own (its own deduplication token): two
    # rows per fact while merges are stopped, one with FINAL.
    assert raw == 2 * facts

    # A new group re-delivers everything: the tables absorb it, the report is unchanged.
    again = settings(topics)
    async with running(again, ClickHouseSink(write_store), report_store) as task:
        await wait_committed(again, records, task)
        _, body = await http_json(f"http://127.0.0.1:{again.http_port}/report?from={FROM}&to={TO}")
    assert report_from_json(body) == report


class FlakyClient:
    """A real client whose inserts fail like a ClickHouse server that went away."""

    def __init__(self, client: Any, down_for: float) -> None:
        self._client = client
        self.down_until = time.monotonic() + down_for
        self.failed_inserts = 0

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < self.down_until:
            self.failed_inserts += 1
            raise OperationalError("Error HTTPConnectionPool: Connection refused")
        return self._client.insert(*args, **kwargs)


async def test_an_unreachable_store_pauses_then_everything_lands_exactly_once(
    topics: Topics, stores: tuple[Store, Store]
) -> None:
    write_store, report_store = stores
    records = topics.produce()
    flaky = FlakyClient(write_store.client, down_for=6.0)
    sink = ClickHouseSink(Store(flaky, write_store.url), retry_after=0.3)
    cfg = settings(topics)
    base = f"http://127.0.0.1:{cfg.http_port}"
    # The counter lives in this process, so earlier tests may have moved it.
    failures_before = REGISTRY.get_sample_value("dossierflow_sink_insert_failures_total") or 0
    async with running(cfg, sink, report_store) as task:
        await wait_for(lambda: flaky.failed_inserts >= 2, what="a failed insert")
        status, health = await http_json(f"{base}/healthz")  # alive, and says what is wrong
        assert status == 200 and health["status"] == "store_unavailable"
        assert health["paused"] and "Connection refused" in health["last_error"]
        assert health["committed"] == {} and health["written_records"] == 0
        async with aiohttp.ClientSession() as session, session.get(f"{base}/readyz") as response:
            assert response.status == 503
            assert "is unavailable: " in await response.text()
        assert committed_offsets(topics.bootstrap, cfg.group_id) == 0  # nothing committed
        await wait_committed(cfg, records, task)
        status, health = await http_json(f"{base}/healthz")
        assert status == 200 and not health["paused"]
        _, body = await http_json(f"{base}/report?from={FROM}&to={TO}")
        # Each refused batch failed at its first insert, so batches = inserts here.
        assert await insert_failures(base) - failures_before == flaky.failed_inserts
    assert 2 <= flaky.failed_inserts < 40  # exponential backoff, not a busy loop
    report = report_from_json(body)
    assert {r.unit_code: r.figures for r in report.rows} == EXPECTED
    facts, _, stored_alerts = final_counts(write_store)
    assert (facts, stored_alerts) == (len(all_facts()), 2)


class CrashAfterInsert(BatchingSink[Any]):
    """Stores the first batch, then dies before the runner can commit it."""

    def __init__(self, inner: ClickHouseSink) -> None:
        self.inner = inner
        self.stored: list[SinkBatch[Any]] = []

    def write(self, batch: SinkBatch[Any]) -> None:
        self.inner.write(batch)
        self.stored.append(batch)
        raise RuntimeError("crash between insert and commit")


async def test_offsets_are_committed_only_after_the_insert(
    topics: Topics, stores: tuple[Store, Store]
) -> None:
    write_store, report_store = stores
    records = topics.produce()
    cfg = settings(topics)
    crashing = CrashAfterInsert(ClickHouseSink(write_store))
    async with running(cfg, crashing, report_store) as task:
        with pytest.raises(RuntimeError, match="crash between insert and commit"):
            await asyncio.wait_for(task, 90)
    assert len(crashing.stored) == 1
    assert final_counts(write_store)[1] > 0  # the batch is in the store ...
    assert committed_offsets(topics.bootstrap, cfg.group_id) == 0  # ... but not committed
    restarted = settings(topics, group=cfg.group_id)
    async with running(restarted, ClickHouseSink(write_store), report_store) as task:
        await wait_committed(restarted, records, task)
        _, body = await http_json(
            f"http://127.0.0.1:{restarted.http_port}/report?from={FROM}&to={TO}"
        )
    assert report_from_json(body).total == EXPECTED_TOTAL
    assert final_counts(write_store)[0] == len(all_facts())


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff_delay(0.5, n, 4.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


async def test_report_command_goes_through_the_running_sink(
    topics: Topics, stores: tuple[Store, Store]
) -> None:
    write_store, report_store = stores
    records = topics.produce()
    cfg = settings(topics)
    url = write_store.url.display
    async with running(cfg, ClickHouseSink(write_store), report_store) as task:
        await wait_committed(cfg, records, task)
        sink_url = f"http://127.0.0.1:{cfg.http_port}"
        done = await asyncio.to_thread(
            _cli, "report", "--from", str(FROM), "--to", str(TO), "--format", "json",
            "--store", url, "--sink-url", sink_url,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["total"]["received"] == EXPECTED_TOTAL.received
        # The store is held by this process and no sink answers at the given address:
        refused = await asyncio.to_thread(
            _cli, "report", "--from", str(FROM), "--to", str(TO), "--store", url,
            "--sink-url", f"http://127.0.0.1:{free_port()}",
        )
        assert refused.returncode == 1  # the store is unavailable to this command
        assert "is in use by another process" in refused.stderr
        assert "no sink serving it answered" in refused.stderr
        assert "Cannot lock" not in refused.stderr and "Traceback" not in refused.stderr


async def test_report_through_a_sink_whose_store_is_empty_says_so(
    topics: Topics, stores: tuple[Store, Store]
) -> None:
    write_store, report_store = stores
    cfg = settings(topics)
    async with running(cfg, ClickHouseSink(write_store), report_store):
        sink_url = f"http://127.0.0.1:{cfg.http_port}"
        deadline = time.monotonic() + 90
        while True:  # until the sink's HTTP endpoint answers
            try:
                await http_json(f"{sink_url}/healthz")
                break
            except aiohttp.ClientError:
                assert time.monotonic() < deadline, "the sink never answered"
                await asyncio.sleep(0.2)
        done = await asyncio.to_thread(
            _cli, "report", "--from", str(FROM), "--to", str(TO), "--store",
            write_store.url.display, "--sink-url", sink_url,
        )
    assert done.returncode == 4 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"dossierflow report: the store {write_store.url.display} served by the sink at "
        f"{sink_url} holds no facts at all, so there is nothing to report; is the worker "
        "producing facts?"
    ]

