"""The dossiers table: a Faust table the worker writes outside stream iteration, and whose
changelog records the worker sends itself.

- Faust's RocksDB store files a write under the partition of the current stream event, and
  the worker writes after a batch (or from a timer), where there is none: the store's write
  asserted, so `put` sets a stand-in event of the dossier's partition around the write.
- Faust sends one changelog record per write through its producer buffer, with a produce
  call, a future and a callback each: a fifth of the worker's time in a profile. Here a
  write only queues its record; `send_queued` sends the queue through an `Outbox` (one
  batch per partition) and records the changelog offsets as Faust's own callback does (a
  RocksDB store keeps them, so that recovery reads only what is newer). The records are the
  ones Faust would write: raw key, raw value, None for a deletion.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, cast

import faust
from dossierflow.streams.outbox import Outbox, default_partitioner
from faust.streams import _current_event, current_event
from faust.types import TP, EventT
from faust.types.tuples import FutureMessage


@dataclass(frozen=True)
class _StandInMessage:
    partition: int


@dataclass(frozen=True)
class _StandIn:
    """What Faust's store and table read of an event, and of a sent changelog record."""

    message: _StandInMessage


class DossierTable(faust.Table[bytes, bytes]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unsent: list[tuple[int, bytes, bytes | None]] = []

    def put(self, key: bytes, value: bytes, partition: int) -> None:
        """`self[key] = value` for a dossier of events-topic `partition`."""
        stand_in = _StandIn(_StandInMessage(partition))
        token = _current_event.set(weakref.ref(cast(EventT[Any], stand_in)))
        try:
            self[key] = value
        finally:
            _current_event.reset(token)

    def send_changelog(
        self, partition: int | None, key: Any, value: Any, *_: Any, **__: Any
    ) -> FutureMessage:
        if partition is None:  # use_partitioner: the writer's partition, else the key's
            event = current_event()
            if event is not None:
                partition = event.message.partition
            else:
                partitions = list(range(self.partitions or self.app.conf.topic_partitions))
                partition = default_partitioner(key, partitions, partitions)
        self._unsent.append((partition, key, value))
        return cast(FutureMessage, _StandIn(_StandInMessage(partition)))

    async def send_queued(self, outbox: Outbox) -> None:
        """Deliver the queued changelog records and remember their offsets."""
        topic = self.changelog_topic.get_topic_name()
        for partition, key, value in self._unsent:
            outbox.add(topic, key, value, partition=partition)
        self._unsent.clear()
        for (name, partition), offset in (await outbox.deliver()).items():
            self.data.set_persisted_offset(TP(name, partition), offset)
