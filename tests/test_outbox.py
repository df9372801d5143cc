"""The worker's outbox on the real broker: every record once, on its key's partition, in order."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaConsumer
from kafka.partitioner.default import murmur2

from dossierflow.streams.outbox import KafkaOutbox as Outbox

pytestmark = pytest.mark.kafka


def read_all(bootstrap: str, topic: str, expected: int) -> list[tuple[int, bytes | None, bytes,
                                                                       list[tuple[str, bytes]]]]:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
        enable_auto_commit=False, consumer_timeout_ms=3000,
    )
    try:
        records = [(m.partition, m.key, m.value, list(m.headers)) for m in consumer]
    finally:
        consumer.close()
    assert len(records) == expected
    return records


async def deliver(bootstrap: str, fill: Callable[[Outbox], None]) -> None:
    # 2 KiB batches: a few records each, so a partition's records span many batches.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=2048)
    await producer.start()
    try:
        outbox = Outbox(producer)
        fill(outbox)
        await outbox.deliver()
        assert len(outbox) == 0  # delivered records are gone; a second deliver sends nothing
    finally:
        await producer.stop()


def test_outbox_delivers_every_record_once_on_its_key_partition_in_order(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    facts, dead_letters = topic_factory(partitions=3), topic_factory(partitions=1)
    keys = [f"HS-{n:04d}".encode() for n in range(40)]
    sent = [(keys[i % len(keys)], f"fact {i} ".encode() * 20) for i in range(2_000)]

    def fill(outbox: Outbox) -> None:
        for key, value in sent:
            outbox.add(facts, key, value)
        outbox.add(dead_letters, None, b"\xff not json", [("dossierflow-reason", b"not JSON")])
        assert len(outbox) == len(sent) + 1

    asyncio.run(deliver(kafka_bootstrap, fill))

    received = read_all(kafka_bootstrap, facts, len(sent))
    by_key: dict[bytes | None, list[bytes]] = defaultdict(list)
    for partition, key, value, _ in received:
        assert key is not None
        assert partition == (murmur2(key) & 0x7FFFFFFF) % 3  # the partition any client picks
        by_key[key].append(value)
    expected: dict[bytes | None, list[bytes]] = defaultdict(list)
    for key, value in sent:
        expected[key].append(value)
    assert by_key == expected  # nothing lost, nothing twice, each key's records in order
    assert {partition for partition, *_ in received} == {0, 1, 2}

    [(_, key, value, headers)] = read_all(kafka_bootstrap, dead_letters, 1)
    assert (key, value, headers) == (None, b"\xff not json", [("dossierflow-reason", b"not JSON")])


def test_a_record_larger_than_a_batch_goes_in_a_batch_of_its_own(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(partitions=1)
    sent = [b"small", b"x" * 4096, b"after"]  # the producer's batches hold 2 KiB

    def fill(outbox: Outbox) -> None:
        for value in sent:
            outbox.add(topic, b"k", value)

    asyncio.run(deliver(kafka_bootstrap, fill))
    assert [value for _, _, value, _ in read_all(kafka_bootstrap, topic, 3)] == sent
