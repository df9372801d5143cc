"""The worker's consumer asks the broker to hold a fetch at most FETCH_MAX_WAIT_MS, not the
1,500 ms Faust writes as a literal, and never fetches the leader assignor's partition
(streams/faust_patches.py, *The broker's wait for a fetch*): the consumer Faust's thread
builds for the worker's app, started against the real broker, and a running app's fetches."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka.consumer.fetcher import Fetcher
from kafka import KafkaProducer

from dossierflow.kafka.topics import TopicSpec, ensure_topics
from dossierflow.streams.faust_internals import leader_topic
from dossierflow.streams.faust_patches import FETCH_MAX_WAIT_MS, use_patched_transport

pytestmark = pytest.mark.timeout(120)

async def test_the_worker_consumer_fetches_with_the_short_wait(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    app = _app(kafka_bootstrap, tmp_path, f"fetchwait-{uuid.uuid4().hex[:8]}")
    use_patched_transport(app)
    thread = app.consumer._thread  # type: ignore[attr-defined]
    consumer = thread._create_worker_consumer(app.transport)
    await consumer.start()
    try:
        fetch_wait = consumer._fetcher._fetch_max_wait_ms
    finally:
        await consumer.stop()
    assert fetch_wait == FETCH_MAX_WAIT_MS < 1500


async def test_a_running_worker_consumer_never_fetches_the_leader_assignors_partition(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An app reading a topic in batches: once its first batch is applied, more events come;
    the fetch requests its consumer sends from then on name the events, never the leader
    assignor's topic (assigned to the app, the only member)."""
    app_id = f"fetchidle-{uuid.uuid4().hex[:8]}"
    events = f"{app_id}-events"
    ensure_topics(kafka_bootstrap, [TopicSpec(events, 2)])
    app = _app(kafka_bootstrap, tmp_path, app_id)
    transport = use_patched_transport(app)
    app.topics.add(app.topic(events, value_serializer="raw"))
    fetched_topics: set[str] = set()
    recording = asyncio.Event()
    applied: list[int] = []
    send = Fetcher._proc_fetch_request

    async def recorded(fetcher: Fetcher, assignment: Any, node_id: int, request: Any) -> Any:
        if recording.is_set():  # read from the consumer's thread: a flag set once
            fetched_topics.update(topic for topic, _ in request.topics)
        return await send(fetcher, assignment, node_id, request)

    async def apply(batch: Any) -> None:
        applied.extend(message.offset for message in batch)

    monkeypatch.setattr(Fetcher, "_proc_fetch_request", recorded)
    transport.read_in_batches(events, apply)
    await asyncio.to_thread(_produce, kafka_bootstrap, events, 10)
    await app.start()
    try:
        await asyncio.wait_for(_until(lambda: len(applied) > 0), timeout=60)
        recording.set()
        await asyncio.to_thread(_produce, kafka_bootstrap, events, 10)
        await asyncio.wait_for(_until(lambda: len(applied) >= 40), timeout=60)
    finally:
        await app.stop()
    assert events in fetched_topics  # the requests were seen
    assert leader_topic(app) not in fetched_topics


def _app(bootstrap: str, tmp: Path, app_id: str) -> faust.App:
    return faust.App(app_id, broker=f"kafka://{bootstrap}", store="memory://",
                     datadir=str(tmp / app_id), web_enabled=False,
                     consumer_auto_offset_reset="earliest")


def _produce(bootstrap: str, topic: str, per_partition: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for partition in (0, 1):
        for _ in range(per_partition):
            producer.send(topic, value=b"event", partition=partition)
    producer.flush()
    producer.close()


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.02)
