"""The fault suite (`pytest -m faults`): the pipeline under faults gives exactly the answer of
`dossierflow replay` for the same events.

Each scenario produces a generated history (`faults_harness.timed_history`: about 3,000
events of some 500 dossiers with pauses, transfers, apologies and 5 % duplicates, ordered by
`occurred_at` as event-time mode requires) to fresh topics up front, runs the event-time
worker and the sink, injects its fault mid-run, waits until everything is committed and
then checks, by `Pipeline.check`: every alert of `replay` published at least once and none
outside them (kind and instant), also in the sink's `dossier_alerts`; the reports through the
sink and chDB equal to `replay --store`'s; every malformed event in the dead letters with its
reason and source offset; the worker group's committed offsets at the end offsets.

A worker that stops itself (exit code 1: its fail-fast checks) is restarted, as its
supervisor would; the workers run with small batches (`BATCH_SIZE` 100) so that a fault
falls in the middle of the run rather than after it.
"""

from __future__ import annotations

import asyncio
import json
import random
import string
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from dossierflow.kafka.local_broker import LocalKafka, ensure_jars, free_port
from tests.faults_harness import (
    OutageClient,
    Pipeline,
    ReportQuery,
    pipeline,
    replay_expected,
    timed_history,
)

pytestmark = [
    pytest.mark.faults,
    pytest.mark.kafka,
    pytest.mark.clickhouse,
    pytest.mark.timeout(600),
]

EVENTS = 3_000
QUERIES: dict[str, ReportQuery] = {
    "january": ("2026-01-01", "2026-02-01", ()),
    "rest-of-year": ("2026-02-01", "2027-01-01", ()),
    "communes": ("2026-01-01", "2027-01-01", ("--level", "commune")),
    # a past period, so that live and replay judge its open dossiers at the same instant
    "index-766-january": ("2026-01-01", "2026-02-01", ("--index", "766")),
}
SMALL_BATCHES = {"DOSSIERFLOW_BATCH_SIZE": "100"}

Fault = Callable[[Pipeline], Awaitable[None]]

TEXT = string.ascii_letters + string.digits + " :,{}[]"
"""Characters of junk that is UTF-8 but not JSON (it starts with a letter where a key must be)."""


async def run_scenario(
    run: Pipeline,
    lines: list[bytes],
    fault: Fault,
    *,
    keys: list[bytes] | None = None,
    malformed: dict[int, str] | None = None,
    client_wrapper: Callable[[Any], Any] | None = None,
    workers: tuple[str, ...] = ("worker",),
    produce_first: bool = True,
) -> None:
    """Produce `lines` (`malformed`: the index of each malformed line and a part of its
    dead-letter reason), run the pipeline, inject `fault`, settle and check. Without
    `produce_first` the fault produces `lines` itself."""
    malformed = malformed or {}
    valid = [line for index, line in enumerate(lines) if index not in malformed]
    expected = await asyncio.to_thread(replay_expected, valid, run.tmp / "replay", QUERIES)
    index = expected.reports["index-766-january"]["province"]
    assert index["received"] > index["on_time"] > 0  # the 766 figures compared are not void
    letters: dict[tuple[int, int], tuple[bytes, str]] = {}
    if produce_first:
        positions = await asyncio.to_thread(run.topics.produce, lines, keys)
        letters = {positions[i]: (lines[i], problem) for i, problem in malformed.items()}
    async with pipeline(run, client_wrapper, workers) as sink:
        await fault(run)
        await run.settle(sink, timeout=240)
        await run.check(expected, QUERIES, letters)


def produce_at_once(run: Pipeline, lines: list[bytes]) -> None:
    """`lines` to the events topic in one produce request (no batch is sent before flush)."""
    producer = KafkaProducer(
        bootstrap_servers=run.bootstrap,
        linger_ms=60_000,
        batch_size=1 << 20,
        max_request_size=64 << 20,
    )
    try:
        for line in lines:
            key = json.loads(line)["dossier_id"].encode()
            producer.send(run.topics.events, key=key, value=line)
        producer.flush()
    finally:
        producer.close()


def facts_per_run(lines: list[bytes]) -> int:
    """About how many facts a run publishes (one per distinct valid event)."""
    return len(set(lines))


def scenario_pipeline(bootstrap: str, tmp: Path, **options: Any) -> Pipeline:
    return Pipeline(bootstrap, tmp, worker_env=SMALL_BATCHES, **options)


# --- (a) the worker SIGKILLed 5 times ----------------------------------------------------


def test_worker_sigkilled_five_times_on_rocksdb_gives_replays_alerts_and_report(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Event time, the production store (RocksDB): SIGKILL each time the restarted worker
    has published a further eighth of the facts, five times; each new worker recovers its
    table from the changelog (and its local RocksDB files) and resumes from the committed
    offsets."""
    lines = timed_history(EVENTS, seed=11)
    run = scenario_pipeline(
        kafka_bootstrap, tmp_path,
        worker_options=("--event-time", "--store", "rocksdb://"), max_restarts=5,
    )
    interrupted: list[bool] = []

    async def kill_five_times(run: Pipeline) -> None:
        step = facts_per_run(lines) // 8
        published = 0
        for _ in range(5):
            published += step
            await run.facts_reach(published)
            run.kill_worker()
            committed = await asyncio.to_thread(run.committed)
            ends = await asyncio.to_thread(run.end_offsets, run.topics.events)
            interrupted.append(committed != ends)
            run.start_worker()

    started = time.monotonic()
    asyncio.run(run_scenario(run, lines, kill_five_times))
    print(f"5 kills: {time.monotonic() - started:.0f} s, restarts after exit 1: {run.restarts}")
    assert interrupted == [True] * 5, "a kill came after the worker had committed everything"


# --- (b) the broker stopped for 20 s ------------------------------------------------------


@pytest.fixture
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A broker of this test alone (the session's is shared), on fixed ports so that it can
    be stopped and started again on the same data directory."""
    ensure_jars()
    broker = LocalKafka(
        tmp_path_factory.mktemp("own-kafka"), free_port(),
        controller_port=free_port(), die_with_parent=True,
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_broker_stopped_for_20_s_mid_run_gives_replays_alerts_and_report(
    own_broker: LocalKafka, tmp_path: Path
) -> None:
    """Once a third of the facts are out, the broker stops (its data kept) for 20 s; worker
    and sink ride it out or stop and are restarted, and resume where they were."""
    lines = timed_history(EVENTS, seed=12)
    run = scenario_pipeline(own_broker.bootstrap, tmp_path, max_restarts=5)
    outage: dict[str, float] = {}

    async def stop_broker_for_20_s(run: Pipeline) -> None:
        await run.facts_reach(facts_per_run(lines) // 3)
        committed = await asyncio.to_thread(run.committed)
        ends = await asyncio.to_thread(run.end_offsets, run.topics.events)
        assert committed != ends, "the broker stopped after the worker had committed everything"
        down = time.monotonic()
        await asyncio.to_thread(own_broker.stop)
        await asyncio.sleep(20)
        await asyncio.to_thread(own_broker.start)
        outage["down"] = time.monotonic() - down

    started = time.monotonic()
    asyncio.run(run_scenario(run, lines, stop_broker_for_20_s))
    print(
        f"broker down {outage['down']:.0f} s: {time.monotonic() - started:.0f} s, "
        f"restarts after exit 1: {run.restarts}"
    )


# --- (c) ClickHouse unreachable for 30 s -------------------------------------------------


def test_clickhouse_unreachable_for_30_s_gives_replays_alerts_and_report(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Every insert of the sink fails like an unreachable server for 30 s from the first
    insert after a third of the records were stored; the sink pauses, backs off, catches up."""
    lines = timed_history(EVENTS, seed=13)
    run = scenario_pipeline(kafka_bootstrap, tmp_path)
    outages: list[OutageClient] = []

    def down_for_30_s(client: Any) -> OutageClient:
        outages.append(OutageClient(client, after_rows=facts_per_run(lines) // 3, seconds=30))
        return outages[-1]

    async def wait_for_the_outage(run: Pipeline) -> None:
        deadline = time.monotonic() + 300
        while not outages or outages[0].down_from is None:
            assert time.monotonic() < deadline, "the outage never started"
            await asyncio.sleep(0.2)

    started = time.monotonic()
    asyncio.run(run_scenario(run, lines, wait_for_the_outage, client_wrapper=down_for_30_s))
    (outage,) = outages
    print(
        f"ClickHouse down 30 s: {time.monotonic() - started:.0f} s, "
        f"failed inserts: {outage.failed_inserts}"
    )
    assert 1 <= outage.failed_inserts < 60  # retried with backoff, not in a busy loop
    assert outage.rows_after_outage > 0


# --- (d) 10,000 malformed events ---------------------------------------------------------


def malformed_events(
    lines: list[bytes], count: int, seed: int
) -> tuple[list[bytes], list[bytes], dict[int, str]]:
    """`lines` with `count` malformed events interleaved at random places: (all lines, their
    message keys, index of each malformed one → a part of its expected dead-letter reason).
    Kinds: junk bytes, not UTF-8, wrong JSON types, unknown event types, missing fields, and
    a few oversized (> 64 KiB) ones; those with a `dossier_id` go to its dossier's partition."""
    rng = random.Random(seed)
    originals = [json.loads(line) for line in lines[:500]]

    def wrong(field: str, value: Any) -> tuple[bytes, str]:
        event = dict(rng.choice(originals), event_id=f"bad-{rng.randrange(10**9)}")
        event[field] = value
        return json.dumps(event).encode(), f"$.{field}"

    def missing() -> tuple[bytes, str]:
        event = dict(rng.choice(originals))
        del event["occurred_at"]
        return json.dumps(event).encode(), "missing required field `occurred_at`"

    makers: list[Callable[[], tuple[bytes, str]]] = [
        lambda: (("{x" + "".join(rng.choices(TEXT, k=rng.randrange(200)))).encode(), "not JSON"),
        lambda: (b"\xff\xfe" + rng.randbytes(20), "not UTF-8"),
        lambda: wrong("sequence", "first"),
        lambda: wrong("occurred_at", 20260105),
        lambda: wrong("schema_version", "1"),
        lambda: wrong("type", "ARCHIVED"),
        missing,
    ]
    bad: list[tuple[bytes, str]] = [rng.choice(makers)() for _ in range(count - 20)]
    oversized = dict(originals[0], note="x" * 70_000)
    bad += [(json.dumps(oversized).encode(), "oversized")] * 20
    rng.shuffle(bad)
    slots = sorted(rng.randrange(len(lines) + 1) for _ in bad)
    out: list[bytes] = []
    problems: dict[int, str] = {}
    valid = iter(lines)
    for position, (raw, problem) in zip(slots, bad, strict=True):
        while len(out) - len(problems) < position:
            out.append(next(valid))
        problems[len(out)] = problem
        out.append(raw)
    out.extend(valid)
    keys = [key_of(line) for line in out]
    return out, keys, problems


def key_of(line: bytes) -> bytes:
    """The producer's key: the `dossier_id` where there is a string one, else a fixed key."""
    try:
        dossier = json.loads(line).get("dossier_id")
    except (ValueError, AttributeError):
        return b"junk"
    return dossier.encode() if isinstance(dossier, str) else b"junk"


def test_ten_thousand_malformed_events_go_to_dead_letters_and_change_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    lines, keys, problems = malformed_events(timed_history(EVENTS, seed=14), 10_000, seed=14)
    run = scenario_pipeline(kafka_bootstrap, tmp_path)

    async def no_fault(run: Pipeline) -> None:
        return None

    started = time.monotonic()
    asyncio.run(run_scenario(run, lines, no_fault, keys=keys, malformed=problems))
    print(f"10,000 malformed events: {time.monotonic() - started:.0f} s")


# --- (e) two workers, one killed ---------------------------------------------------------


def test_one_of_two_workers_killed_mid_run_gives_replays_alerts_and_report(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Two workers in one group share four partitions; once both own some, one is SIGKILLed
    and not restarted: after the session timeout its partitions move to the other, which
    recovers their table from the changelog and finishes them."""
    lines = timed_history(2 * EVENTS, seed=15)
    run = scenario_pipeline(kafka_bootstrap, tmp_path, partitions=4)

    async def kill_one_of_two(run: Pipeline) -> None:
        deadline = time.monotonic() + 120
        while not (run.assignment("first") and run.assignment("second")):
            run.supervise()
            assert time.monotonic() < deadline, "the two workers never shared the partitions"
            await asyncio.sleep(0.1)
        # Only now the history, else one worker has read it all before the other joins; in
        # one produce request, so that no partition is read to its end while another still
        # waits for its part (the event-time clock would pass events still in flight).
        await asyncio.to_thread(produce_at_once, run, lines)
        await run.facts_reach(facts_per_run(lines) // 3)
        moving = run.assignment("second")
        run.kill_worker("second")
        del run.workers["second"]
        committed = await asyncio.to_thread(run.committed)
        ends = await asyncio.to_thread(run.end_offsets, run.topics.events)
        assert committed is not None
        assert any(committed.get(p, 0) < ends[p] for p in moving), (
            "the kill came after the killed worker had committed everything"
        )

    started = time.monotonic()
    asyncio.run(
        run_scenario(
            run, lines, kill_one_of_two, workers=("first", "second"), produce_first=False
        )
    )
    print(f"one of two workers killed: {time.monotonic() - started:.0f} s")
