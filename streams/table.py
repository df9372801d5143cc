"""The dossiers table: a Faust table the worker writes outside stream iteration, and whose
changelog records it sends itself, one Kafka batch per partition.

Faust's RocksDB store files a write under the partition of the current stream event, and the
worker writes after a batch is applied (or from a timer), where there is none: `put` makes a
stand-in event of the dossier's partition current around the write.

**The changelog in one batch per partition.** Faust sends one changelog record per write
through its producer buffer (`send_soon`: a future, a callback and a produce call each),
which cost the worker about a fifth of its time (docs/benchmarks.md). Here a write only
queues its record; `changelog_delivered` sends the queue through an `Outbox`
(streams/outbox.py) and records each changelog partition's last offset as Faust's own
callback does (a RocksDB store keeps it, so that recovery reads only what is newer). The
records are the ones Faust would write: raw key, raw value, None for a deletion.

**Writes past Faust's per-key path.** `Table.__setitem__` runs Faust's `on_key_set` for
each write (the partition, `send_changelog`, a stand-in returned, the TTL of a windowed table,
the sensors), and filing a write under a partition takes a stand-in event made current
around it: about 3 µs a record, against 0.3 µs written straight into the store
(`Table.data`, Faust's "underlying table storage") with its changelog record queued here.
`put_all` writes a batch's records of one partition under one stand-in event; `delete` and
`get` go to the store too. Faust's monitor does not count these writes (the worker measures itself,
as for its reading, streams/faust_patches.py), and this table is not windowed. A write that
still goes through Faust's own path (`self[key] = value`) has its changelog record queued by
`send_changelog` all the same.

**A record's partition.** A dossier's changelog record goes where the producer's
partitioner puts its key (`use_partitioner=True`: murmur2 of the key, as Faust's producer
does), the partition of its events. The reserved key of a partition's progress
(streams/state.py) would hash anywhere: `partition_for_key` sends it to the partition it
belongs to, so that it is restored with that partition's dossiers, into that partition's
store, and by its owner.

**Changelog delivered before the offsets are committed.** The worker acknowledges a batch's
events only once `changelog_delivered` has returned: a worker killed before leaves its
successor the records as they were, and the events are read again (at-least-once, like its
alerts and facts). Faust's own buffer was flushed at commit time only, and its flush did not
wait for a record handed on but not yet accepted by aiokafka.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

import faust
from faust.types import TP, FutureMessage

from dossierflow.streams.faust_internals import current_event_of_partition, partition_stand_in
from dossierflow.streams.outbox import KafkaOutbox, key_partition
from dossierflow.streams.state import progress_partition


class DossierTable(faust.Table[bytes, bytes]):
    def __post_init__(self) -> None:
        super().__post_init__()
        self._unsent: list[tuple[int, bytes, bytes | None]] = []
        self._open_outbox: Callable[[], Awaitable[KafkaOutbox]] | None = None

    def send_through(self, open_outbox: Callable[[], Awaitable[KafkaOutbox]]) -> None:
        """The changelog records leave through the outboxes `open_outbox` gives."""
        self._open_outbox = open_outbox

    def get(self, key: Any, default: Any = None) -> Any:
        """The value of `key` in the store, past Faust's per-key sensor (0.1 against
        0.4 µs)."""
        return self.data.get(key, default)

    def put(self, key: bytes, value: bytes, partition: int) -> None:
        """`self[key] = value` for a dossier of events-topic `partition`."""
        self.put_all(partition, [(key, value)])

    def put_all(self, partition: int, records: Iterable[tuple[bytes, bytes]]) -> None:
        """Write `records` (key, value) of events-topic `partition`, queueing their
        changelog records."""
        store = self.data
        with current_event_of_partition(partition):
            for key, value in records:
                store[key] = value
                self._queue(self.partition_for_key(key), key, value)

    def delete(self, key: bytes) -> None:
        """`del self[key]` if the table has it."""
        store = self.data
        if key in store:
            del store[key]
            self._queue(self.partition_for_key(key), key, None)

    def partition_for_key(self, key: Any) -> int | None:
        """Faust's (None: the producer's partitioner) but for a partition's progress."""
        partition = progress_partition(key)
        return partition if partition is not None else super().partition_for_key(key)

    def send_changelog(
        self, partition: int | None, key: Any, value: Any, *_: Any, **__: Any
    ) -> FutureMessage:
        """Queue the write's changelog record for `changelog_delivered`."""
        # Faust reads the partition of what it returns (for a windowed table's expiry).
        return cast(FutureMessage, partition_stand_in(self._queue(partition, key, value)))

    def _queue(self, partition: int | None, key: bytes, value: bytes | None) -> int:
        """Queue a changelog record for `partition` (None: the producer's partitioner over
        the changelog's partitions, as Faust's producer would); the partition."""
        if partition is None:
            partition = key_partition(key, self.partitions or self.app.conf.topic_partitions)
        self._unsent.append((partition, key, value))
        return partition

    async def changelog_delivered(self) -> None:
        """Send the changelog records of the writes so far, one batch per partition, and
        wait until Kafka acknowledged them (raises the error of one it refused)."""
        if not self._unsent:
            return
        if self._open_outbox is None:
            raise RuntimeError("the dossiers table has no outbox (send_through)")
        unsent, self._unsent = self._unsent, []
        outbox = await self._open_outbox()
        topic = self.changelog_topic.get_topic_name()
        for partition, key, value in unsent:
            outbox.add_to(topic, partition, key, value)
        for (name, partition), offset in (await outbox.deliver_offsets()).items():
            self.data.set_persisted_offset(TP(name, partition), offset)
