"""What one batch of events or one timer scan publishes, sent as one Kafka batch per partition.

Producing record by record through Faust's `Topic.send` cost about two thirds of the worker's
time (a future, a callback and a tiny produce request per record). The outbox collects a
batch's alerts, facts and dead letters, partitions them with Kafka's default partitioner
(murmur2 of the key, as every Kafka client does), fills one aiokafka `BatchBuilder` per
topic-partition and awaits their delivery together: the caller saves state and lets Faust
acknowledge the offsets only after `deliver` returns (at-least-once). The table's changelog
records go through an outbox too, after the outputs (see streams/table.py).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

Headers = list[tuple[str, bytes]]
Record = tuple[bytes | None, bytes | None, Headers]
"""Key (None for none), value (None for a tombstone) and headers."""
TopicPartition = tuple[str, int]

default_partitioner = DefaultPartitioner()
"""murmur2 of the key, as every Kafka client partitions (None: any partition)."""


@dataclass
class Outbox:
    producer: AIOKafkaProducer
    _records: dict[TopicPartition | str, list[Record]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def add(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> None:
        """Queue a record for `partition`, or for the one its key hashes to."""
        target = topic if partition is None else (topic, partition)
        self._records[target].append((key, value, headers or []))

    def __len__(self) -> int:
        return sum(len(records) for records in self._records.values())

    async def deliver(self) -> dict[TopicPartition, int]:
        """Send everything added so far, wait until Kafka acknowledged all of it, and
        return the offset of the last record written to each topic-partition."""
        records, self._records = self._records, defaultdict(list)
        by_partition: dict[TopicPartition, list[Record]] = defaultdict(list)
        for target, target_records in records.items():
            if isinstance(target, tuple):
                by_partition[target].extend(target_records)
                continue
            partitions = sorted(await self.producer.partitions_for(target))
            for record in target_records:
                partition = default_partitioner(record[0], partitions, partitions)
                by_partition[target, partition].append(record)
        sent: list[tuple[asyncio.Future[Any], int]] = []
        for (topic, partition), partition_records in by_partition.items():
            sent.extend(await self._send(topic, partition, partition_records))
        written = await asyncio.gather(*(future for future, _ in sent))
        last: dict[TopicPartition, int] = {}
        for metadata, (_, count) in zip(written, sent, strict=True):
            tp = (metadata.topic, metadata.partition)
            last[tp] = max(last.get(tp, -1), metadata.offset + count - 1)
        return last

    async def _send(
        self, topic: str, partition: int, records: list[Record]
    ) -> list[tuple[asyncio.Future[Any], int]]:
        """One or more batches; each batch's future and its number of records."""
        sent: list[tuple[asyncio.Future[Any], int]] = []
        batch, count = self.producer.create_batch(), 0
        for key, value, headers in records:
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                # Full: send it and start another (a record never exceeds an empty batch,
                # since events over `max_event_bytes` are refused before they get here).
                sent.append((await self.producer.send_batch(batch, topic, partition=partition),
                             count))
                batch, count = self.producer.create_batch(), 0
                batch.append(key=key, value=value, timestamp=None, headers=headers)
            count += 1
        sent.append((await self.producer.send_batch(batch, topic, partition=partition), count))
        return sent
