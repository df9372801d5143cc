"""What the worker keeps per dossier in its Faust table, next to its timer.

Like Kafka Streams and Flink, the timer lives beside the keyed state: `next_timer_at` is
stored in the record, so after a restart or a rebalance the timer index is rebuilt from the
table and timers missed while nobody owned the partition fire at once.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from dossierflow.schemas.event import DossierEvent


class DossierRecord(msgspec.Struct, kw_only=True):
    history: list[DossierEvent]
    """Every distinct event of the dossier, in arrival order."""
    emitted: list[str] = []
    """`alert_id`s already published: a timer or event never publishes one twice."""
    partition: int
    next_timer_at: datetime | None = None
    """The next alert instant, or when a closed dossier leaves the table."""
    open: bool = False
    overdue_at: datetime | None = None
    """Kept for the open/overdue gauges, which must not re-evaluate every dossier."""
    procedure_unknown: bool = False
    """Its procedure is not in the catalogue (no deadline): re-evaluated when the worker
    reloads the catalogue."""


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(DossierRecord)


def encode_record(record: DossierRecord) -> bytes:
    return _encoder.encode(record)


def decode_record(data: bytes) -> DossierRecord:
    return _decoder.decode(data)
