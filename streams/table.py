"""The dossiers table: a Faust table the worker can write outside stream iteration.

Faust's RocksDB store files a write under the partition of the current stream event, and the
worker writes after a batch is applied (or from a timer), where there is none: `put` makes a
stand-in event of the dossier's partition current around the write. The changelog record is
Faust's own (raw key and value, the key's partition).
"""

from __future__ import annotations

import faust
from dossierflow.streams.faust_internals import current_event_of_partition


class DossierTable(faust.Table[bytes, bytes]):
    def put(self, key: bytes, value: bytes, partition: int) -> None:
        """`self[key] = value` for a dossier of events-topic `partition`."""
        with current_event_of_partition(partition):
            self[key] = value
