"""The dossiers table: a Faust table the worker writes outside stream iteration, and whose
changelog records it sends itself, one Kafka batch per partition, before it writes its store.

Faust's RocksDB store files a write under the partition of the current stream event, and the
worker writes after a batch is applied (or from a timer), where there is none: the store is
written under a stand-in event of the records' events partition (`current_event_of_partition`).

**The changelog in one batch per partition.** Faust sends one changelog record per write
through its producer buffer (`send_soon`: a future, a callback and a produce call each),
which cost the worker about a fifth of its time (docs/benchmarks.md). Here a write only
queues its record; `changelog_delivered` sends the queue through an `Outbox`
(streams/outbox.py) and records each changelog partition's last offset as Faust's own
callback does (a RocksDB store keeps it, so that recovery reads only what is newer). The
records are the ones Faust would write: raw key, raw value, None for a deletion.

**The store written once its changelog is acknowledged.** `put_all` and `delete` queue the
store operation (the value and its events partition, or the deletion) beside the changelog
record; `changelog_delivered` writes the store only once Kafka acknowledged the records, then
sets the persisted offsets. Written first, a store could hold a record its changelog lacks:
a worker killed before the acknowledgement re-reads the batch's events, finds them in the
record already (duplicates: nothing saved again) and never sends that record, and whoever
later restores the partition from the changelog (another worker, a lost disk) has the older
record while the events are committed: lost updates. Killed between the acknowledgement and
the store write, the worker restarts with its persisted offsets behind, and Faust's recovery
reads those changelog records into the store. A refused delivery drops the pending operations
and leaves the store as it was (the worker stops; its events come again). Until then `get`
and `delete` see the pending operations; `items` reads the store, which the worker does only
between deliveries: it holds its lock from a batch's (or scan's) first event until
`changelog_delivered` returned (streams/runtime.py), and a write while one is under way is
refused rather than lost.

**Writes past Faust's per-key path.** `Table.__setitem__` runs Faust's `on_key_set` for
each write (the partition, `send_changelog`, a stand-in returned, the TTL of a windowed table,
the sensors), and filing a write under a partition takes a stand-in event made current
around it: about 3 µs a record, against 0.3 µs written straight into the store
(`Table.data`, Faust's "underlying table storage") with its changelog record queued here.
The pending operations of each events partition are written under one stand-in event.
Faust's monitor does not count these writes (the worker measures itself, as for its reading,
streams/faust_patches.py), and this table is not windowed. The worker writes nothing through
Faust's own path (`self[key] = value`): such a write would go to the store at once, and only
its changelog record is queued (by `send_changelog`) for `changelog_delivered`.

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

from collections import defaultdict
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
        self._pending: dict[bytes, tuple[int, bytes] | None] = {}
        """The store operations awaiting their changelog's acknowledgement: each key's value
        and events partition, or None for a deletion."""
        self._delivering = False
        self._open_outbox: Callable[[], Awaitable[KafkaOutbox]] | None = None

    def send_through(self, open_outbox: Callable[[], Awaitable[KafkaOutbox]]) -> None:
        """The changelog records leave through the outboxes `open_outbox` gives."""
        self._open_outbox = open_outbox

    def get(self, key: Any, default: Any = None) -> Any:
        """The value of `key` once the pending writes are in the store, past Faust's per-key
        sensor (0.1 against 0.4 µs)."""
        if key in self._pending:
            pending = self._pending[key]
            return default if pending is None else pending[1]
        return self.data.get(key, default)

    def put_all(self, partition: int, records: Iterable[tuple[bytes, bytes]]) -> None:
        """Write `records` (key, value) of events-topic `partition` once their changelog
        records, queued here, are acknowledged."""
        self._refuse_while_delivering()
        pending = self._pending
        for key, value in records:
            pending[key] = (partition, value)
            self._queue(self.partition_for_key(key), key, value)

    def delete(self, key: bytes) -> None:
        """`del self[key]` if the table has it, once its tombstone is acknowledged."""
        self._refuse_while_delivering()
        pending = self._pending
        held = pending[key] is not None if key in pending else key in self.data
        if held:
            pending[key] = None
            self._queue(self.partition_for_key(key), key, None)

    def _refuse_while_delivering(self) -> None:
        if self._delivering:  # it would miss the records being sent
            raise RuntimeError("the dossiers table was written while its changelog was "
                               "being delivered (a caller without the runtime's lock)")

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
        """Send the changelog records of the writes so far, one batch per partition, wait
        until Kafka acknowledged them, then write the store (raises the error of one it
        refused, the store left as it was and the writes dropped)."""
        if not self._unsent:
            return
        if self._open_outbox is None:
            raise RuntimeError("the dossiers table has no outbox (send_through)")
        unsent, pending = self._unsent, self._pending
        self._delivering = True
        try:
            outbox = await self._open_outbox()
            topic = self.changelog_topic.get_topic_name()
            for partition, key, value in unsent:
                outbox.add_to(topic, partition, key, value)
            delivered = await outbox.deliver_offsets()
        finally:
            self._unsent, self._pending, self._delivering = [], {}, False
        self._write_store(pending)
        # After the store: killed in between, recovery reads these records again.
        for (name, partition), offset in delivered.items():
            self.data.set_persisted_offset(TP(name, partition), offset)

    def _write_store(self, pending: dict[bytes, tuple[int, bytes] | None]) -> None:
        """Apply the store operations, each events partition's records under one stand-in
        event of it."""
        store = self.data
        filed: defaultdict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
        for key, write in pending.items():
            if write is not None:
                filed[write[0]].append((key, write[1]))
            elif key in store:  # else only a pending write had it
                del store[key]
        for partition, records in filed.items():
            with current_event_of_partition(partition):
                for key, value in records:
                    store[key] = value
