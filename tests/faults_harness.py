"""The whole pipeline on a real broker and a real chDB, and the checks that what it published
is exactly what `dossierflow replay` gives for the same events (test helper).

`Pipeline` puts worker processes (`dossierflow worker`, the real command) and the sink
(`dossierflow/sink_service.serve`, the code behind `dossierflow sink`, in this process) on fresh
topics and a fresh chDB directory. A test produces a history, injects its fault, lets the
pipeline settle, and `Pipeline.check` compares every output with the known answer
(`Expected`, from `dossierflow replay` of the same events):

- every expected `alert_id` published at least once on the alerts topic, and no alert outside
  the expected (alert_id, kind, instant) set; the sink's `dossier_alerts` the same set;
- the period reports through the sink and chDB equal those of `replay --store`;
- every malformed event in the dead letters, with a reason and its source partition and offset;
- the worker group's committed offsets at the end offsets of the events topic.

Nothing is mocked except ClickHouse outages: `OutageClient` wraps the real chDB client so that
its inserts fail for a while, as an unreachable server's would.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from clickhouse_connect.driver.exceptions import OperationalError
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from dossierflow.replay import read_events, replay
from dossierflow.rules.catalog import load_catalog
from dossierflow.schemas.facts import alert_decoder
from dossierflow.simulate import generate_events
from dossierflow.sink_service import serve
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.sinks.kafka_sink import SinkStatus
from dossierflow.sinks.settings import SinkSettings
from dossierflow.store import Store, connect, migrate
from dossierflow.streams.settings import WorkerSettings
from tests.worker_process import WorkerTopics, free_port, start_worker, stop_worker

ROOT = Path(__file__).resolve().parents[1]

Reports = dict[str, dict[str, Any]]
"""The JSON of `dossierflow report` per name of a `ReportQuery`."""

ReportQuery = tuple[str, str, tuple[str, ...]]
"""(from, to, extra options of `dossierflow report`)."""

AlertKey = tuple[str, str, int]
"""(alert_id, kind, instant in epoch milliseconds): what must match between worker and replay."""

Positions = dict[int, int]
"""Offset per partition."""


# --- histories with a known answer --------------------------------------------------------


def timed_history(
    count: int, seed: int, *, days: int = 40, duplicates: float = 0.05
) -> list[bytes]:
    """`count` synthetic events of `dossierflow.simulate` (pauses, transfers, apologies,
    refusals), ordered by `occurred_at` as event-time mode requires, plus a share of
    `duplicates` re-sent right after the original (same `event_id`)."""
    events = sorted(
        generate_events(count, seed, days=days),
        key=lambda e: datetime.fromisoformat(e["occurred_at"]),
    )
    rng = random.Random(seed)
    lines: list[bytes] = []
    for event in events:
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        lines.append(line)
        if rng.random() < duplicates:
            lines.append(line)
    return lines


@dataclass(frozen=True)
class Expected:
    """What `dossierflow replay` gives for a history's valid events."""

    alerts: dict[AlertKey, str]
    """Every alert of the history, to its dossier (for the failure messages)."""
    reports: Reports


def _millis(instant: datetime) -> int:
    return round(instant.astimezone(UTC).timestamp() * 1000)


def replay_alerts(lines: list[bytes], tmp: Path) -> dict[AlertKey, str]:
    """The alerts of `dossierflow replay` for `lines` (clock: the largest `occurred_at`, as
    the event-time worker's once it has read everything); `lines` are kept in
    `tmp/events.jsonl`."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    events = read_events(path, lambda _number, _reason: None)
    assert events.latest is not None, "the history has no valid event"
    return {
        (alert.alert_id, alert.kind.value, _millis(alert.at)): alert.dossier_id
        for evaluation in replay(events, load_catalog(), events.latest)
        for alert in evaluation.alerts
    }


def replay_expected(lines: list[bytes], tmp: Path, queries: dict[str, ReportQuery]) -> Expected:
    """`replay_alerts`, and the reports of `replay --store` into a chDB of its own."""
    alerts = replay_alerts(lines, tmp)
    store = f"chdb://{tmp / 'clickhouse'}"
    done = cli("replay", str(tmp / "events.jsonl"), "--store", store)
    assert done.returncode == 0, done.stderr
    no_sink = f"http://127.0.0.1:{free_port()}"  # nothing listens: report reads the store
    return Expected(alerts, report_json(store, no_sink, queries))


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`dossierflow ARGS` in a subprocess (stdout discarded for `replay`, which prints a
    line per dossier)."""
    return subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", *args],
        stdout=subprocess.DEVNULL if args[0] == "replay" else subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, timeout=timeout, cwd=ROOT,
    )


def report_json(store: str, sink_url: str, queries: dict[str, ReportQuery]) -> Reports:
    """`dossierflow report --format json` of each query (through the sink at `sink_url` when
    it serves `store`, else on the store directly)."""
    out: Reports = {}
    for name, (start, end, extra) in queries.items():
        done = cli(
            "report", "--from", start, "--to", end, *extra, "--format", "json",
            "--store", store, "--sink-url", sink_url, timeout=120,
        )
        assert done.returncode == 0, f"report {name}: {done.stderr}"
        out[name] = json.loads(done.stdout)
    return out


# --- faults ------------------------------------------------------------------------------


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


# --- the pipeline ------------------------------------------------------------------------


@dataclass
class Pipeline:
    """Workers and sink on fresh topics and a fresh chDB directory; see `pipeline()`."""

    bootstrap: str
    tmp: Path
    partitions: int = 3
    worker_options: tuple[str, ...] = ("--event-time",)
    worker_env: dict[str, str] = field(default_factory=dict)
    max_restarts: int = 3
    topics: WorkerTopics = field(init=False)
    settings: SinkSettings = field(init=False)
    sink_url: str = field(init=False)
    """The sink's HTTP endpoint (reports, health)."""
    store_url: str = field(init=False)
    """The sink's chDB."""
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    """The workers that should be running, by name (each has its own directory)."""
    restarts: int = 0
    """Times a worker stopped itself (exit code 1) and was started again."""
    store: Store | None = None
    """The report side's connection to the sink's chDB (set while `pipeline()` runs)."""

    def __post_init__(self) -> None:
        self.topics = WorkerTopics(self.bootstrap, partitions=self.partitions)
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
        self.sink_url = f"http://127.0.0.1:{self.settings.http_port}"
        self.store_url = f"chdb://{self.tmp / 'clickhouse'}"

    def start_worker(self, name: str = "worker") -> subprocess.Popen[bytes]:
        """Start (or restart, on the same local state) the worker `name`."""
        directory = self.tmp / name
        directory.mkdir(exist_ok=True)
        self.workers[name] = start_worker(
            self.topics, directory, *self.worker_options, env=self.worker_env
        )
        return self.workers[name]

    def kill_worker(self, name: str = "worker") -> None:
        """SIGKILL: no graceful stop, no final commit, no flush."""
        process = self.workers[name]
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL, f"{name} had already stopped"

    def log(self, name: str = "worker") -> Path:
        return self.tmp / name / "worker.log"

    def assignment(self, name: str) -> list[int]:
        """The events partitions worker `name` owns now, by its log (the worker logs them
        after every rebalance: "timer index rebuilt: N dossiers on partitions [..]")."""
        found = re.findall(
            r"timer index rebuilt: .*? partitions (\[[0-9, ]*\])",
            self.log(name).read_text(errors="replace"),
        )
        return json.loads(found[-1]) if found else []

    # Kafka bookkeeping (blocking; called through asyncio.to_thread).

    def end_offsets(self, topic: str) -> Positions:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
        finally:
            consumer.close()

    def committed(self) -> Positions | None:
        """The worker group's committed offsets on the events topic (None while the group
        coordinator cannot tell)."""
        group = self.topics.app_id
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            offsets = admin.list_group_offsets({group: None}).get(group, {})
        except KafkaError:
            return None
        finally:
            admin.close()
        return {
            tp.partition: max(meta.offset, 0)
            for tp, meta in offsets.items()
            if tp.topic == self.topics.events
        }

    def messages(self, topic: str) -> list[Any]:
        """Every message of `topic` up to its end offsets."""
        ends = self.end_offsets(topic)
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, consumer_timeout_ms=1000
        )
        out: list[Any] = []
        try:
            tps = [TopicPartition(topic, p) for p in ends]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            deadline = time.monotonic() + 120
            while any(consumer.position(tp) < ends[tp.partition] for tp in tps):
                assert time.monotonic() < deadline, f"could not read {topic} to its end"
                out.extend(consumer)
        finally:
            consumer.close()
        return [m for m in out if m.offset < ends[m.partition]]

    def produced_outputs(self) -> int:
        return sum(self.end_offsets(self.topics.facts).values()) + sum(
            self.end_offsets(self.topics.alerts).values()
        )

    async def facts_reach(self, count: int, timeout: float = 300) -> None:
        """Until the facts topic holds `count` records (a point `mid-run`)."""
        deadline = time.monotonic() + timeout
        while sum((await asyncio.to_thread(self.end_offsets, self.topics.facts)).values()) < count:
            self.supervise()
            assert time.monotonic() < deadline, f"fewer than {count} facts in {timeout} s"
            await asyncio.sleep(0.05)

    def quiet_period(self) -> float:
        """The workers' `idle_partition_seconds`, as their environment sets it."""
        settings = WorkerSettings.from_env({**os.environ, **self.worker_env})
        return settings.idle_partition_seconds

    def supervise(self) -> None:
        """Restart a worker that stopped itself (exit code 1, fail fast), as a supervisor
        (systemd Restart=on-failure) does; any other stop is a failure."""
        for name, process in list(self.workers.items()):
            code = process.poll()
            if code == 1:
                self.restarts += 1
                assert self.restarts <= self.max_restarts, (
                    f"the worker keeps stopping; see {self.log(name)}"
                )
                self.start_worker(name)
            assert code in (None, 1), f"{name} stopped ({code}); see {self.log(name)}"

    async def settle(self, sink: asyncio.Task[SinkStatus], timeout: float = 300) -> None:
        """Until the worker group committed the end of every events partition and the sink
        stored and committed every fact and alert, with no new output for 3 s beyond the
        workers' quiet period (event-time alerts come from timers, and the last ones only
        once every partition has been quiet for `idle_partition_seconds`)."""
        stable_for = 3.0 + self.quiet_period()
        deadline = time.monotonic() + timeout
        stable_since: float | None = None
        last: tuple[Positions | None, int] | None = None
        while True:
            assert not sink.done(), f"the sink stopped: {sink.exception()!r}"
            self.supervise()
            assert time.monotonic() < deadline, f"not settled in {timeout} s (last: {last})"
            ends = await asyncio.to_thread(self.end_offsets, self.topics.events)
            committed = await asyncio.to_thread(self.committed)
            produced = await asyncio.to_thread(self.produced_outputs)
            health = await sink_health(self.sink_url)
            stored = sum(health["committed"].values()) if health else -1
            now = (committed, produced)
            if committed == ends and stored == produced and now == last:
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since >= stable_for:
                    return
            else:
                stable_since = None
            last = now
            await asyncio.sleep(0.5)

    # The checks against the known answer.

    async def check(
        self,
        expected: Expected,
        queries: dict[str, ReportQuery],
        malformed: dict[tuple[int, int], tuple[bytes, str]] | None = None,
    ) -> None:
        """Everything the module doc lists, while the sink runs (it serves the reports); one
        failure names every part that failed. `malformed`: the original bytes and a part of
        the reason of each malformed event, by (partition, offset)."""
        failures: list[str] = []

        async def part(name: str, check: Callable[..., None], *args: Any) -> None:
            try:
                await asyncio.to_thread(check, *args)
            except AssertionError as exc:
                failures.append(f"{name}: {exc}")

        await part("alerts", self.check_alerts, expected.alerts)
        await part("reports", self.check_reports, expected.reports, queries)
        await part("dead letters", self.check_dead_letters, malformed or {})
        await part("offsets", self.check_committed)
        assert not failures, "\n".join(failures)

    def check_reports(self, expected: Reports, queries: dict[str, ReportQuery]) -> None:
        got = report_json(self.store_url, self.sink_url, queries)
        assert got == expected, report_diff(got, expected)

    def check_committed(self) -> None:
        committed, ends = self.committed(), self.end_offsets(self.topics.events)
        assert committed == ends, f"committed {committed}, end offsets {ends}"

    def check_alerts(self, expected: dict[AlertKey, str]) -> None:
        published = {
            (a.alert_id, a.kind, _millis(a.at)): a.dossier_id
            for a in (alert_decoder.decode(m.value) for m in self.messages(self.topics.alerts))
        }
        published_ids = {alert_id for alert_id, _, _ in published}
        missing = sorted(
            (dossier, kind, at, alert_id)
            for (alert_id, kind, at), dossier in expected.items()
            if alert_id not in published_ids
        )
        extra = sorted(
            (dossier, kind, at, alert_id)
            for (alert_id, kind, at), dossier in published.items()
            if (alert_id, kind, at) not in expected
        )
        assert not missing and not extra, alert_diff(missing, extra, len(expected))
        assert self.store is not None
        rows = self.store.client.query(
            "SELECT alert_id, kind, toUnixTimestamp64Milli(at), dossier_id "
            "FROM dossier_alerts FINAL"
        ).result_rows
        stored = {(alert_id, kind, int(at)): dossier for alert_id, kind, at, dossier in rows}
        assert stored == expected, "the sink's dossier_alerts differ from replay's alerts"

    def check_dead_letters(self, malformed: dict[tuple[int, int], tuple[bytes, str]]) -> None:
        letters: dict[tuple[int, int], tuple[bytes, str]] = {}
        for message in self.messages(self.topics.dead_letters):
            headers = {k: v.decode() for k, v in message.headers}
            assert headers["dossierflow-source-topic"] == self.topics.events
            source = (
                int(headers["dossierflow-source-partition"]),
                int(headers["dossierflow-source-offset"]),
            )
            letters[source] = (message.value, headers["dossierflow-reason"])
        assert sorted(letters) == sorted(malformed), (
            f"dead letters: {len(set(malformed) - set(letters))} malformed events missing, "
            f"{len(set(letters) - set(malformed))} valid ones dead-lettered"
        )
        for source, (value, reason) in letters.items():
            original, problem = malformed[source]
            assert value == original, f"dead letter of {source}: not the original bytes"
            assert problem in reason, f"dead letter of {source}: {reason!r}, not {problem!r}"


def alert_diff(
    missing: list[tuple[str, str, int, str]], extra: list[tuple[str, str, int, str]], total: int
) -> str:
    """Which alerts were never published, and which were published but not replay's."""

    def show(rows: list[tuple[str, str, int, str]]) -> str:
        return "".join(
            f"\n  {dossier} {kind} at "
            f"{datetime.fromtimestamp(at / 1000, UTC).isoformat()} ({alert_id})"
            for dossier, kind, at, alert_id in rows[:25]
        )

    return (
        f"of {total} expected alerts, {len(missing)} never published:{show(missing)}\n"
        f"{len(extra)} published alerts replay does not have:{show(extra)}"
    )


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Every figure of a report by its path; a list's rows are named by their codes (a unit,
    `group:code`, `unit/procedure`) where they have them, else by their index."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= _leaves(item, f"{path} {key}")
        return out
    if isinstance(value, list):
        out = {}
        for index, row in enumerate(value):
            name = str(index)
            if isinstance(row, dict):
                codes = [row.get(k) for k in ("group", "code", "unit_code", "procedure_code",
                                            "processing_unit")]
                name = ":".join(str(c) for c in codes if c is not None) or name
            out |= _leaves(row, f"{path}[{name}]")
        return out
    return {path: value}


def report_diff(got: Reports, expected: Reports) -> str:
    """The figures that differ, by report and path (`total` for the province total), or the
    lists whose rows are the same but in another order."""
    lines: list[str] = []
    for name in sorted(expected.keys() | got.keys()):
        mine, theirs = _leaves(got.get(name)), _leaves(expected.get(name))
        lines += [
            f"  {name}{path}: {mine.get(path)!r}, replay {theirs.get(path)!r}"
            for path in sorted(mine.keys() | theirs.keys())
            if mine.get(path) != theirs.get(path)
        ]
        if mine == theirs and got.get(name) != expected.get(name):
            lines.append(f"  {name}: the same rows in another order")
    return "the reports differ from replay's:\n" + "\n".join(lines[:40])


async def sink_health(url: str) -> dict[str, Any] | None:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}/healthz") as response,
        ):
            body: dict[str, Any] = await response.json(content_type=None)
            return body
    except aiohttp.ClientError:
        return None


@asynccontextmanager
async def pipeline(
    run: Pipeline,
    client_wrapper: Callable[[Any], Any] | None = None,
    workers: Iterable[str] = ("worker",),
) -> AsyncIterator[asyncio.Task[SinkStatus]]:
    """The sink (its chDB client wrapped by `client_wrapper`, if given) and the `workers`
    running on `run`; all stopped at the end. Yields the sink's task for `Pipeline.settle`."""
    write_store, report_store = connect(run.store_url), connect(run.store_url)
    migrate(write_store)
    report_store.client.database = report_store.database
    store = write_store
    if client_wrapper is not None:
        store = Store(client_wrapper(write_store.client), write_store.url)
    stop = asyncio.Event()
    sink = asyncio.create_task(
        serve(
            run.settings, ClickHouseSink(store, retry_after=0.3), report_store,
            load_catalog(), stop,
        )
    )
    run.store = report_store
    try:
        for name in workers:
            run.start_worker(name)
        yield sink
    finally:
        for process in run.workers.values():
            stop_worker(process)
        stop.set()
        await asyncio.wait_for(sink, 60)
        run.store = None
        report_store.close()
        write_store.close()
