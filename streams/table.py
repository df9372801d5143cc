"""The dossiers table: a Faust table the worker can write outside stream iteration.

Faust's RocksDB store files a write under the partition of the current stream event, and the
worker writes after a batch is applied (or from a timer), where there is none: `put` makes a
stand-in event of the dossier's partition current around the write. The changelog record is
Faust's own (raw key and value, the key's partition).

**A partition's progress record stays on its partition.** A dossier's changelog record goes
where the producer's partitioner puts its key (`use_partitioner=True`), the partition of
its events. The reserved key of a partition's progress (streams/state.py) would hash
anywhere: `partition_for_key` sends it to the partition it belongs to, so that it is
restored with that partition's dossiers, into that partition's store, and by its owner.

**Changelog delivered before the offsets are committed.** Faust queues a changelog record
in its producer's buffer (`send_soon`) and, before committing offsets, flushes the buffer
and then aiokafka's producer. That flush does not wait for a record the buffer has already
handed on but aiokafka has not yet accepted (its `send` waits while the topic-partition's
batch is full): the offsets can be committed before the changelog records of the events
they cover are in Kafka, and a worker killed then leaves its successor a stale record,
to which it would apply later events (a record missing events whose offsets are
committed). So the table keeps the future of every
changelog record it sends, and `changelog_delivered` awaits them: the worker acknowledges
a batch only after that (at-least-once, like its alerts and facts).
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from dossierflow.streams.faust_internals import current_event_of_partition
from dossierflow.streams.state import progress_partition
from faust.types import FutureMessage


class DossierTable(faust.Table[bytes, bytes]):
    def __post_init__(self) -> None:
        super().__post_init__()
        self._undelivered: list[FutureMessage] = []

    def put(self, key: bytes, value: bytes, partition: int) -> None:
        """`self[key] = value` for a dossier of events-topic `partition`."""
        with current_event_of_partition(partition):
            self[key] = value

    def delete(self, key: bytes) -> None:
        if key in self:
            del self[key]

    def partition_for_key(self, key: Any) -> int | None:
        """Faust's (None: the producer's partitioner) but for a partition's progress."""
        partition = progress_partition(key)
        return partition if partition is not None else super().partition_for_key(key)

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        """Faust's, keeping the record's future for `changelog_delivered`."""
        sent = super().send_changelog(*args, **kwargs)
        self._undelivered.append(sent)
        return sent

    async def changelog_delivered(self) -> None:
        """Wait until Kafka acknowledged every changelog record sent so far (raises the
        error of one it refused)."""
        sent, self._undelivered = self._undelivered, []
        if sent:
            await asyncio.gather(*sent)
