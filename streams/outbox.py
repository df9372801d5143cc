"""What one batch of events or one timer scan publishes, sent as one Kafka batch per partition.

Producing record by record through Faust's `Topic.send` costs a future, a callback and a tiny
produce request per record, more than applying the event (docs/benchmarks.md). The outbox collects a
batch's alerts, facts and dead letters, partitions them with Kafka's default partitioner
(murmur2 of the key, as every Kafka client does), fills one aiokafka `BatchBuilder` per
topic-partition and awaits their delivery together: the caller saves state and lets Faust
acknowledge the offsets only after `deliver` returns (at-least-once). The table's changelog
records go through an outbox too, each to the partition the table names (streams/table.py).
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner, murmur2

from dossierflow.streams.ports import Headers

Record = tuple[bytes | None, bytes | None, Headers]
"""Key (None for none), value (None: a tombstone) and headers."""
Target = str | tuple[str, int]
"""A topic (its records go to their key's partition) or one of its partitions."""


@functools.lru_cache(maxsize=1 << 16)
def key_partition(key: bytes, partitions: int) -> int:
    """Kafka's default partition of `key` among `partitions` (aiokafka's `DefaultPartitioner`:
    murmur2 of the key), remembered: aiokafka's murmur2 is pure Python, a few µs a key, and
    the same keys come batch after batch (a dossier's facts and table record, the alerts'
    few unit codes)."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


@dataclass
class KafkaOutbox:
    """The `Outbox` of streams/ports.py over an aiokafka producer."""

    producer: AIOKafkaProducer
    _records: dict[Target, list[Record]] = field(
        default_factory=lambda: defaultdict(list)
    )
    _partitioner: DefaultPartitioner = field(default_factory=DefaultPartitioner)

    def add(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None
    ) -> None:
        self._records[topic].append((key, value, headers or []))

    def add_to(self, topic: str, partition: int, key: bytes, value: bytes | None) -> None:
        """Queue a record for `partition` of `topic` (None: a tombstone)."""
        self._records[topic, partition].append((key, value, []))

    def __len__(self) -> int:
        return sum(len(records) for records in self._records.values())

    async def deliver(self) -> None:
        """Send everything added so far and wait until Kafka acknowledged all of it."""
        await self.deliver_offsets()

    async def deliver_offsets(self) -> dict[tuple[str, int], int]:
        """`deliver`, returning the offset of the last record written to each partition."""
        records, self._records = self._records, defaultdict(list)
        by_partition: dict[tuple[str, int], list[Record]] = defaultdict(list)
        for target, target_records in records.items():
            if isinstance(target, tuple):
                by_partition[target].extend(target_records)
                continue
            partitions = sorted(await self.producer.partitions_for(target))
            for record in target_records:
                key = record[0]
                partition = (
                    partitions[key_partition(key, len(partitions))] if key is not None
                    else self._partitioner(None, partitions, partitions)  # at random
                )
                by_partition[target, partition].append(record)
        sent: list[tuple[asyncio.Future[Any], int]] = []
        for (topic, partition), partition_records in by_partition.items():
            sent.extend(await self._send(topic, partition, partition_records))
        written = await asyncio.gather(*(future for future, _ in sent))
        last: dict[tuple[str, int], int] = {}
        for metadata, (_, count) in zip(written, sent, strict=True):
            tp = (metadata.topic, metadata.partition)
            last[tp] = max(last.get(tp, -1), metadata.offset + count - 1)
        return last

    async def _send(
        self, topic: str, partition: int, records: list[Record]
    ) -> list[tuple[asyncio.Future[Any], int]]:
        """One or more batches: each one's future and its number of records."""
        sent: list[tuple[asyncio.Future[Any], int]] = []
        batch, count = self.producer.create_batch(), 0
        for key, value, headers in records:
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                # Full: send it and start another. An empty batch takes any one record,
                # however large (a dead letter carries the original bytes).
                sent.append((await self.producer.send_batch(batch, topic, partition=partition),
                             count))
                batch, count = self.producer.create_batch(), 0
                batch.append(key=key, value=value, timestamp=None, headers=headers)
            count += 1
        sent.append((await self.producer.send_batch(batch, topic, partition=partition), count))
        return sent
