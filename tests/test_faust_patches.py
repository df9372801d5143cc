"""The corrections of streams/faust_patches.py, on Faust apps against the real broker.

Recovery (defect 1): a fresh app (no committed offsets) whose table has a changelog to
recover starts with 1,500 events per partition already in Kafka; its agent is slower than
the fetcher, so events wait in the stream buffer; the seek to the committed offsets after
the recovery takes 2 s (the test delays Faust's real seek, as a busy broker would). Once the
app is ready, one more event per partition is sent; the test ends when it arrives.

No active partition (defect 2): a running app pauses every partition (Faust's set of active
partitions is then empty, as between the end of a recovery and the resumption of the
streams), a fetch is under way with that set, events come, the partitions are resumed and
one more event per partition is sent; the test ends when it arrives.

Reading in batches: an app with a table (a changelog to recover, which keeps Faust's path)
reads a topic with `read_in_batches`; every offset reaches `apply` once, in order, several
to a call, and the group's committed offsets never pass what `apply` has returned from;
with gaps in the offsets (transaction markers) the commit reaches the last event.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import faust
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.consumer.fetcher import Fetcher
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer, ConsumerThread, ThreadDelegateConsumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.utils import TopicBuffer
from faust.types import Message
from kafka import KafkaAdminClient, KafkaProducer

from dossierflow.kafka.topics import TopicSpec, ensure_topics
from dossierflow.streams.faust_patches import PatchedTableManager, use_patched_transport

pytestmark = pytest.mark.timeout(180)

EVENTS_PER_PARTITION = 1500
PARTITIONS = 2
SEEK_DELAY = 2.0
EVERY_OFFSET = list(range(EVENTS_PER_PARTITION + 1))

CHECKED_SOURCES: dict[str, tuple[Callable[..., Any], str]] = {
    "replaced": (Recovery.on_recovery_completed, "6ef567acf072e46d"),
    "overridden": (ThreadDelegateConsumer._getmany, "f9d47aa9010b5ff2"),
    "read as every partition when empty": (Fetcher.fetched_records, "be4348896b9b66af"),
    "wrapped, its checks mirrored per partition for the batch topic":
        (Consumer.getmany, "4b168d84882a70d6"),
    "overridden: the batch topic's records taken out": (Consumer._wait_next_records,
                                                        "6218e1969a636b3f"),
    "its round-robin order mirrored": (TopicBuffer.__iter__, "818f9fddaae72f4d"),
    "its drop and gap rules mirrored": (Consumer._drain_messages, "44a2500309e83c63"),
    "mirrored per partition for a batch's messages": (Consumer.ack, "5fcf41cf45153475"),
    "reads the acknowledged offsets and gaps the batch's acknowledgement records":
        (Consumer._new_offset, "1d2c7ea89a7ad4f1"),
    "called with the gap's last offset, its end inclusive (a gap ends at `offset - 1`)":
        (Consumer._add_gap, "4df2573ded7c1c2c"),
    "relied on to ask only whether any started message is unacknowledged (one per batch)":
        (Consumer.wait_empty, "e4662fe24f094819"),
    "called, its fetch_max_wait_ms=1500 replaced":
        (AIOKafkaConsumerThread._create_worker_consumer, "c2701bfc3e6f6cad"),
    "overridden: run in the consumer's thread once aiokafka took the assignment":
        (ConsumerThread.on_partitions_assigned, "e59e8dda43724bd4"),
}
"""The start of the SHA-256 of each method the patches replace or rely on, in
faust-streaming 0.15.3 and aiokafka 0.14.0."""


@pytest.mark.parametrize("role", CHECKED_SOURCES)
def test_the_methods_the_patches_touch_are_those_they_were_checked_against(role: str) -> None:
    method, checked = CHECKED_SOURCES[role]
    digest = hashlib.sha256(inspect.getsource(method).encode()).hexdigest()[:16]
    assert digest == checked, (
        f"{method.__qualname__} ({role}) changed: check whether streams/faust_patches.py "
        "still applies (its docstring says why each is needed), then update the digest"
    )


async def test_a_recovered_app_hands_every_event_to_its_agent_once_and_in_order(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    received, seeks = await _offsets_reaching_the_agent(
        kafka_bootstrap, tmp_path, PatchedTableManager, patched_transport=True
    )
    assert seeks, "Faust no longer seeks to the committed offsets after the recovery"
    for partition in range(PARTITIONS):
        offsets = received[partition]
        assert offsets == EVERY_OFFSET, f"partition {partition}: {_describe(offsets)}"


async def test_without_the_patch_faust_loses_events_in_the_same_scenario(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Shows that the scenario catches the defect; fails once Faust itself is fixed."""
    received, _ = await _offsets_reaching_the_agent(
        kafka_bootstrap, tmp_path, TableManager, patched_transport=False
    )
    assert any(received[p] != EVERY_OFFSET for p in range(PARTITIONS)), (
        "Faust no longer loses events here: streams/faust_patches.py may not be needed"
    )


async def test_with_no_active_partition_none_is_fetched(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    lost = await _offsets_lost_while_no_partition_is_active(
        kafka_bootstrap, tmp_path, patched_transport=True
    )
    assert lost == {partition: [] for partition in range(PARTITIONS)}


async def test_without_the_patch_no_active_partition_means_every_partition(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Shows that the scenario catches the defect; fails once Faust or aiokafka is fixed."""
    lost = await _offsets_lost_while_no_partition_is_active(
        kafka_bootstrap, tmp_path, patched_transport=False
    )
    assert any(lost.values()), (
        "an empty set of active partitions no longer hands out every partition: "
        "ActivePartitionsConsumer in streams/faust_patches.py may not be needed"
    )


async def _offsets_reaching_the_agent(
    bootstrap: str, tmp: Path, table_manager: type[TableManager], patched_transport: bool
) -> tuple[dict[int, list[int]], list[float]]:
    """The offsets that reach the agent, per partition, and the seeks made."""
    app_id = f"patch-{uuid.uuid4().hex[:8]}"
    events = f"{app_id}-events"
    changelog = f"{app_id}-counts-changelog"
    partitions = range(PARTITIONS)
    ensure_topics(bootstrap, [TopicSpec(events, PARTITIONS), TopicSpec(changelog, PARTITIONS)])
    _produce(bootstrap, changelog, range(1), range(1), key=b"k")  # something to recover
    _produce(bootstrap, events, partitions, range(EVENTS_PER_PARTITION))

    app = _app(
        bootstrap, tmp, app_id, patched_transport,
        # Nothing is committed while the test runs: no partition has a committed offset.
        broker_commit_interval=600.0,
        broker_commit_every=1_000_000,
        TableManager=table_manager,
    )
    app.Table("counts", default=int, key_type=bytes, value_type=bytes)
    received: dict[int, list[int]] = defaultdict(list)
    last_arrived = asyncio.Event()

    @app.agent(app.topic(events, value_serializer="raw"))
    async def record(stream: Any) -> None:
        async for event in stream.events():
            received[event.message.partition].append(event.message.offset)
            if all(EVENTS_PER_PARTITION in received[p] for p in partitions):
                last_arrived.set()
            await asyncio.sleep(0.002)  # slower than the fetcher: events wait in the buffer

    seeks: list[float] = []
    consumer: Any = app.consumer  # its private seek is the subject of the test
    consumer.perform_seek = _slowed(consumer.perform_seek, seeks)
    await app.start()
    try:
        await asyncio.wait_for(cast(Any, app.tables).recovery.completed.wait(), timeout=60)
        last = range(EVENTS_PER_PARTITION, EVENTS_PER_PARTITION + 1)
        await asyncio.to_thread(_produce, bootstrap, events, partitions, last)
        await asyncio.wait_for(last_arrived.wait(), timeout=120)
    finally:
        await app.stop()
    return received, seeks


async def _offsets_lost_while_no_partition_is_active(
    bootstrap: str, tmp: Path, patched_transport: bool
) -> dict[int, list[int]]:
    """Per partition, the offsets before the last one that never reached the agent."""
    app_id = f"idle-{uuid.uuid4().hex[:8]}"
    events = f"{app_id}-events"
    partitions = range(PARTITIONS)
    ensure_topics(bootstrap, [TopicSpec(events, PARTITIONS)])
    app = _app(bootstrap, tmp, app_id, patched_transport)
    received: dict[int, set[int]] = defaultdict(set)

    @app.agent(app.topic(events, value_serializer="raw"))
    async def record(stream: Any) -> None:
        async for event in stream.events():
            received[event.message.partition].add(event.message.offset)

    batch = 10
    await app.start()
    try:
        await asyncio.to_thread(_produce, bootstrap, events, partitions, range(batch))
        await asyncio.wait_for(_all_arrived(received, batch), timeout=120)
        consumer: Any = app.consumer  # its private fetch is the subject of the test
        assignment = consumer.assignment()
        consumer.pause_partitions(assignment)
        # Faust's own fetcher sends no request while no partition is active; one already
        # under way when the last partition was paused gets this very set.
        active = consumer._get_active_partitions()
        assert not active
        under_way = asyncio.ensure_future(consumer._getmany(active, timeout=3.0))
        await asyncio.to_thread(_produce, bootstrap, events, partitions, range(batch, 2 * batch))
        await under_way  # what it returns, Faust drops: no partition is active
        consumer.resume_partitions(assignment)
        last = range(2 * batch, 2 * batch + 1)
        await asyncio.to_thread(_produce, bootstrap, events, partitions, last)
        await asyncio.wait_for(_all_arrived(received, 2 * batch + 1), timeout=120)
    finally:
        await app.stop()
    return {p: sorted(set(range(2 * batch)) - received[p]) for p in partitions}


async def test_a_topic_read_in_batches_reaches_apply_once_in_order_and_commits_after_it(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    app_id = f"batch-{uuid.uuid4().hex[:8]}"
    events = f"{app_id}-events"
    partitions = range(PARTITIONS)
    ensure_topics(kafka_bootstrap, [TopicSpec(events, PARTITIONS),
                                    TopicSpec(f"{app_id}-counts-changelog", PARTITIONS)])
    _produce(kafka_bootstrap, f"{app_id}-counts-changelog", range(1), range(1), key=b"k")
    _produce(kafka_bootstrap, events, partitions, range(EVENTS_PER_PARTITION))
    app = _app(kafka_bootstrap, tmp_path, app_id, patched_transport=False,
               broker_commit_every=100, broker_max_poll_records=500)
    transport = use_patched_transport(app)
    app.Table("counts", default=int, key_type=bytes, value_type=bytes)
    topic = app.topic(events, value_serializer="raw")
    app.topics.add(topic)
    received: dict[int, list[int]] = defaultdict(list)
    sizes: list[int] = []
    committed_ahead: list[str] = []
    all_arrived = asyncio.Event()

    async def apply(batch: Any) -> None:
        consumer: Any = app.consumer  # its committed offsets are the subject of the test
        for tp, offset in consumer._committed_offset.items():
            if tp.topic == events and offset is not None and offset > len(received[tp.partition]):
                committed_ahead.append(f"{tp}: {offset} with {len(received[tp.partition])} applied")
        await asyncio.sleep(0.01)  # delivering the batch's outputs
        messages = cast(list[Message], batch)
        sizes.append(len(messages))
        for message in messages:
            received[message.partition].append(message.offset)
        if all(len(received[p]) >= EVENTS_PER_PARTITION for p in partitions):
            all_arrived.set()

    transport.read_in_batches(events, apply)
    await app.start()
    try:
        await asyncio.wait_for(all_arrived.wait(), timeout=120)
    finally:
        await app.stop()
    every = list(range(EVENTS_PER_PARTITION))
    assert {p: received[p] for p in partitions} == {p: every for p in partitions}
    assert max(sizes) > 1, "one message a call: not read in batches"
    assert not committed_ahead


def _app(
    bootstrap: str, tmp: Path, app_id: str, patched_transport: bool, **settings: Any
) -> faust.App:
    """A Faust app on the test's broker, with the worker's patched transport or Faust's."""
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=str(tmp / app_id),
        web_enabled=False,
        topic_partitions=PARTITIONS,
        consumer_auto_offset_reset="earliest",
        **settings,
    )
    if patched_transport:
        use_patched_transport(app)
    return app


async def _all_arrived(received: dict[int, set[int]], count: int) -> None:
    """Until offset `count - 1` of every partition reached the agent."""
    while not all(count - 1 in received[p] for p in range(PARTITIONS)):
        await asyncio.sleep(0.05)


def _slowed(seek: Callable[[], Awaitable[None]], calls: list[float]) -> Callable[[], Any]:
    async def slow_seek() -> None:
        calls.append(SEEK_DELAY)
        await asyncio.sleep(SEEK_DELAY)
        await seek()

    return slow_seek


def _produce(
    bootstrap: str, topic: str, partitions: range, offsets: range, key: bytes | None = None
) -> None:
    """One record per partition and offset, in offset order (a fresh topic's offsets)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for offset in offsets:
        for partition in partitions:
            producer.send(topic, key=key, value=str(offset).encode(), partition=partition)
    producer.flush()
    producer.close()


def _describe(offsets: list[int]) -> str:
    missing = sorted(set(EVERY_OFFSET) - set(offsets))
    runs: list[list[int]] = []
    for offset in missing:
        if runs and runs[-1][1] == offset - 1:
            runs[-1][1] = offset
        else:
            runs.append([offset, offset])
    twice = len(offsets) - len(set(offsets))
    return f"offsets missing {[tuple(run) for run in runs]}, {twice} received twice"


@pytest.mark.timeout(300)  # about 40 s here, two apps and two rebalances
async def test_a_topic_read_in_batches_by_a_group_loses_nothing_as_a_member_joins_and_leaves(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Two apps of one group read a topic in batches while events keep coming: one runs,
    the second joins, then leaves. Each has a table whose changelog, recovered and read by
    the standby, goes Faust's way in the same fetches. Every offset is applied, each batch
    by an app that owns its partitions from its start to its end, no committed offset
    passes what is applied, and the table has the last changelog record of each key."""
    app_id = f"group-{uuid.uuid4().hex[:8]}"
    events = f"{app_id}-events"
    partitions = range(PARTITIONS)
    changelog = f"{app_id}-counts-changelog"
    ensure_topics(kafka_bootstrap, [TopicSpec(events, PARTITIONS),
                                    TopicSpec(changelog, PARTITIONS)])
    applied: dict[int, set[int]] = defaultdict(set)
    batches: dict[str, int] = defaultdict(int)
    busy: set[str] = set()
    faults: list[str] = []
    apps = [_batch_reading_app(kafka_bootstrap, tmp_path, app_id, events, name, applied,
                               batches, busy, faults) for name in ("first", "second")]
    produced = 0  # per partition
    producing = True

    async def keep_producing() -> None:  # faster than an app applies: a backlog all along
        nonlocal produced
        while producing:
            wave = range(produced, produced + 100)
            await asyncio.to_thread(_produce, kafka_bootstrap, events, partitions, wave)
            produced = wave.stop

    async def until(condition: Callable[[], bool]) -> None:
        while not condition():
            await asyncio.sleep(0.01)

    first, second = apps
    await first.start()
    producer = asyncio.ensure_future(keep_producing())
    try:
        for p in partitions:  # the changelog grows while the apps run: the standby reads it
            await asyncio.to_thread(_produce, kafka_bootstrap, changelog, range(p, p + 1),
                                    range(100), key=f"k{p}".encode())
        await asyncio.wait_for(until(lambda: batches["first"] >= 3), timeout=120)
        await second.start()  # joins while the first is applying
        try:
            await asyncio.wait_for(until(lambda: batches["second"] >= 3), timeout=120)
            await asyncio.wait_for(until(lambda: "second" in busy), timeout=120)
        finally:
            await second.stop()  # leaves within a batch of its own
        producing = False
        await producer
        await asyncio.wait_for(
            until(lambda: all(produced - 1 in applied[p] for p in partitions)), timeout=120)
        table: Any = first.tables["counts"]  # its store: what recovery and standby wrote
        kept = dict(table.data.items())
    finally:
        producing = False
        await producer
        await first.stop()
    every = set(range(produced))
    assert {p: sorted(every - applied[p]) for p in partitions} == {p: [] for p in partitions}
    assert faults == []
    assert kept == {f"k{p}".encode(): b"99" for p in partitions}  # each key's last record


def _batch_reading_app(
    bootstrap: str, tmp: Path, app_id: str, events: str, name: str,
    applied: dict[int, set[int]], batches: dict[str, int], busy: set[str], faults: list[str],
) -> faust.App:
    """A member of group `app_id` reading `events` in batches into `applied`, counted in
    `batches`, its name in `busy` while it applies one; `faults`
    gets a line for each batch applied outside its partitions' ownership and each
    committed offset ahead of what is applied."""
    (tmp / name).mkdir()
    app = _app(bootstrap, tmp / name, app_id, patched_transport=False, broker_commit_every=50,
               broker_max_poll_records=100, broker_commit_interval=0.5,
               TableManager=PatchedTableManager)
    transport = use_patched_transport(app)
    app.Table("counts", default=int, key_type=bytes, value_type=bytes)
    app.topics.add(app.topic(events, value_serializer="raw"))
    owned: set[Any] = set()  # what the worker follows: from Faust's assigned to its revoked

    async def assigned(app: Any, /, *args: Any, **kwargs: Any) -> None:
        owned.update(args[0])

    async def revoked(app: Any, /, *args: Any, **kwargs: Any) -> None:
        owned.clear()  # as the worker forgets its state (eager rebalancing: every partition)

    app.on_partitions_assigned.connect(assigned)
    app.on_partitions_revoked.connect(revoked)

    def check(messages: list[Message], when: str) -> None:
        consumer: Any = app.consumer  # its committed offsets are the subject of the test
        for tp in {m.tp for m in messages} - owned:
            faults.append(f"{name} applied {tp} {when}, not owning it")
        for tp, offset in list(consumer._committed_offset.items()):
            done = applied[tp.partition] if tp.topic == events else None
            if done is not None and offset is not None and any(
                    o not in done for o in range(offset)):
                faults.append(f"{name}: {tp} committed at {offset}, {when}, before "
                              f"{min(o for o in range(offset) if o not in done)} was applied")

    async def apply(batch: Any) -> None:
        messages = cast(list[Message], batch)
        check(messages, "at the start of its batch")
        busy.add(name)
        await asyncio.sleep(0.2)  # delivering the batch's outputs: a rebalance may begin
        check(messages, "within its batch")
        for message in messages:
            applied[message.partition].add(message.offset)
        batches[name] += 1
        check(messages, "at the end of its batch")
        busy.discard(name)

    transport.read_in_batches(events, apply)
    return app


async def test_a_topic_read_in_batches_commits_past_the_gaps_inside_its_batches(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Events written in small transactions: each commit marker takes an offset no message
    has, so the batches have gaps (recorded by getmany) that the commit must pass over, and
    never pass what is applied. Once everything is applied, the group's committed offset of
    each partition is one past its last event. With the drain loop's gap (which takes in the
    message after it) the commit stalls: {0: 41, 1: 65} of 685 on main."""
    app_id = f"gaps-{uuid.uuid4().hex[:8]}"
    events = f"{app_id}-events"
    partitions = range(PARTITIONS)
    ensure_topics(kafka_bootstrap, [TopicSpec(events, PARTITIONS)])
    await _produce_in_transactions(kafka_bootstrap, events, partitions, 600, per_transaction=7)
    app = _app(kafka_bootstrap, tmp_path, app_id, patched_transport=False,
               broker_commit_every=50, broker_max_poll_records=200)
    transport = use_patched_transport(app)
    app.topics.add(app.topic(events, value_serializer="raw"))
    applied: dict[int, list[int]] = defaultdict(list)
    committed_ahead: list[str] = []
    all_arrived = asyncio.Event()

    async def apply(batch: Any) -> None:
        consumer: Any = app.consumer  # its committed offsets are the subject of the test
        for tp, offset in consumer._committed_offset.items():
            done = applied[tp.partition]
            if offset is not None and offset > (done[-1] + 1 if done else 0):
                committed_ahead.append(f"{tp}: {offset} with {done[-1:]} applied last")
        for message in cast(list[Message], batch):
            applied[message.partition].append(message.offset)
        if all(len(applied[p]) >= 600 for p in partitions):
            all_arrived.set()  # no await after it: the batch is acknowledged before the wait ends

    transport.read_in_batches(events, apply)
    await app.start()
    try:
        await asyncio.wait_for(all_arrived.wait(), timeout=120)
        await app.consumer.commit()
    finally:
        await app.stop()
    assert all(len(applied[p]) == 600 for p in partitions)
    gaps = {p: len(set(range(applied[p][-1])) - set(applied[p])) for p in partitions}
    assert all(gaps.values()), f"no gap among the offsets read: {gaps}"
    assert not committed_ahead
    assert _committed(kafka_bootstrap, app_id, events) == {
        p: applied[p][-1] + 1 for p in partitions}


async def _produce_in_transactions(
    bootstrap: str, topic: str, partitions: range, count: int, per_transaction: int
) -> None:
    """`count` records per partition, `per_transaction` of each in one transaction."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap,
                                transactional_id=f"gaps-{uuid.uuid4().hex[:8]}")
    await producer.start()
    try:
        for start in range(0, count, per_transaction):
            async with producer.transaction():
                for offset in range(start, min(start + per_transaction, count)):
                    for partition in partitions:
                        await producer.send(topic, str(offset).encode(), partition=partition)
    finally:
        await producer.stop()


def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets of `topic`, as the broker has them."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
