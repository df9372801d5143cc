"""What one batch of events or one timer scan publishes, sent as one Kafka batch per partition.

Producing record by record through Faust's `Topic.send` costs a future, a callback and a tiny
produce request per record, more than applying the event (docs/benchmarks.md). The outbox collects a
batch's alerts, facts and dead letters, partitions them with Kafka's default partitioner
(murmur2 of the key, as every Kafka client does), fills one aiokafka `BatchBuilder` per
topic-partition and awaits their delivery together: the caller saves state and lets Faust
acknowledge the offsets only after `deliver` returns (at-least-once).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from dossierflow.streams.ports import Headers

Record = tuple[bytes | None, bytes, Headers]
"""Key (None for none), value and headers."""


@dataclass
class KafkaOutbox:
    """The `Outbox` of streams/ports.py over an aiokafka producer."""

    producer: AIOKafkaProducer
    _records: dict[str, list[Record]] = field(
        default_factory=lambda: defaultdict(list)
    )
    _partitioner: DefaultPartitioner = field(default_factory=DefaultPartitioner)

    def add(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None
    ) -> None:
        self._records[topic].append((key, value, headers or []))

    def __len__(self) -> int:
        return sum(len(records) for records in self._records.values())

    async def deliver(self) -> None:
        """Send everything added so far and wait until Kafka acknowledged all of it."""
        records, self._records = self._records, defaultdict(list)
        pending: list[asyncio.Future[Any]] = []
        for topic, topic_records in records.items():
            partitions = sorted(await self.producer.partitions_for(topic))
            by_partition: dict[int, list[Record]] = defaultdict(list)
            for record in topic_records:
                by_partition[self._partitioner(record[0], partitions, partitions)].append(record)
            for partition, partition_records in by_partition.items():
                pending.extend(await self._send(topic, partition, partition_records))
        await asyncio.gather(*pending)

    async def _send(
        self, topic: str, partition: int, records: list[Record]
    ) -> list[asyncio.Future[Any]]:
        sent: list[asyncio.Future[Any]] = []
        batch = self.producer.create_batch()
        for key, value, headers in records:
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                # Full: send it and start another. An empty batch takes any one record,
                # however large (a dead letter carries the original bytes).
                sent.append(await self.producer.send_batch(batch, topic, partition=partition))
                batch = self.producer.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=headers)
        sent.append(await self.producer.send_batch(batch, topic, partition=partition))
        return sent
