"""The corrections of streams/faust_patches.py, on a Faust app against the real broker.

The scenario: a fresh app (no committed offsets) whose table has a changelog to recover
starts with 1,500 events per partition already in Kafka; its agent is slower than the
fetcher, so events wait in the stream buffer; the seek to the committed offsets after the
recovery takes 2 s (the test delays Faust's real seek, as a busy broker would). Once the
app is ready, one more event per partition is sent; the test ends when it arrives.
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
from dossierflow.streams.faust_patches import PatchedTableManager
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from kafka import KafkaProducer

from dossierflow.kafka.topics import TopicSpec, ensure_topics

pytestmark = pytest.mark.timeout(180)

EVENTS_PER_PARTITION = 1500
PARTITIONS = 2
SEEK_DELAY = 2.0
EVERY_OFFSET = list(range(EVENTS_PER_PARTITION + 1))

CHECKED_ON_RECOVERY_COMPLETED = "6ef567acf072e46d"
"""The start of the SHA-256 of faust-streaming 0.15.3's `Recovery.on_recovery_completed`,
the method `SeekBeforeResumeRecovery` replaces."""


def test_the_replaced_recovery_method_is_the_one_the_patch_was_checked_against() -> None:
    source = inspect.getsource(Recovery.on_recovery_completed)
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    assert digest == CHECKED_ON_RECOVERY_COMPLETED, (
        "Faust's Recovery.on_recovery_completed changed: check whether "
        "streams/faust_patches.py still applies (faust-streaming #596), then update the digest"
    )


async def test_a_recovered_app_hands_every_event_to_its_agent_once_and_in_order(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    received, seeks = await _offsets_reaching_the_agent(
        kafka_bootstrap, tmp_path, PatchedTableManager
    )
    assert seeks, "Faust no longer seeks to the committed offsets after the recovery"
    for partition in range(PARTITIONS):
        offsets = received[partition]
        assert offsets == EVERY_OFFSET, f"partition {partition}: {_describe(offsets)}"


async def test_without_the_patch_faust_loses_events_in_the_same_scenario(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Shows that the scenario catches the defect; fails once Faust itself is fixed."""
    received, _ = await _offsets_reaching_the_agent(kafka_bootstrap, tmp_path, TableManager)
    assert any(received[p] != EVERY_OFFSET for p in range(PARTITIONS)), (
        "Faust no longer loses events here: streams/faust_patches.py may not be needed"
    )


async def _offsets_reaching_the_agent(
    bootstrap: str, tmp: Path, table_manager: type[TableManager]
) -> tuple[dict[int, list[int]], list[float]]:
    """The offsets that reach the agent, per partition, and the seeks made."""
    app_id = f"patch-{uuid.uuid4().hex[:8]}"
    events = f"{app_id}-events"
    changelog = f"{app_id}-counts-changelog"
    partitions = range(PARTITIONS)
    ensure_topics(bootstrap, [TopicSpec(events, PARTITIONS), TopicSpec(changelog, PARTITIONS)])
    _produce(bootstrap, changelog, range(1), range(1), key=b"k")  # something to recover
    _produce(bootstrap, events, partitions, range(EVENTS_PER_PARTITION))

    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=str(tmp / app_id),
        web_enabled=False,
        topic_partitions=PARTITIONS,
        consumer_auto_offset_reset="earliest",
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
