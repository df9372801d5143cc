"""The dossiers table: a Faust table the worker can write outside stream iteration.

Faust's RocksDB store files a write under the partition of the current stream event, and the
worker writes after a batch is applied (or from a timer), where there is none: the store's
write asserted, so `put` sets a stand-in event of the dossier's partition around the write.
The changelog record is Faust's own (raw key and value, the key's partition).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.streams import _current_event
from faust.types import EventT


@dataclass(frozen=True)
class _StandInMessage:
    partition: int


@dataclass(frozen=True)
class _StandInEvent:
    """All that Faust's stores read of the current event."""

    message: _StandInMessage


class DossierTable(faust.Table[bytes, bytes]):
    def put(self, key: bytes, value: bytes, partition: int) -> None:
        """`self[key] = value` for a dossier of events-topic `partition`."""
        stand_in = _StandInEvent(_StandInMessage(partition))
        token = _current_event.set(weakref.ref(cast(EventT[Any], stand_in)))
        try:
            self[key] = value
        finally:
            _current_event.reset(token)
