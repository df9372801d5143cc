"""What the worker keeps in its Faust table: a record per dossier, next to its timer, and
the progress of each events partition.

Like Kafka Streams and Flink, the timer lives beside the keyed state: `next_timer_at` is
stored in the record, so after a restart or a rebalance the timer index is rebuilt from the
table and timers missed while nobody owned the partition fire at once.

**Partition progress under a reserved key.** The event-time clock of a restarted worker
counts a partition committed to its end as read up to the largest `occurred_at` of the
events applied from it (streams/watermark.py). The dossier records alone cannot tell: a
closed dossier leaves the table `closed_retention` after it closed, and its events with it.
So each partition's largest `occurred_at` is a table record of its own, written with the
batch that raised it (through the same changelog, before the offsets are committed) and
restored with the table; in wall-clock mode too, so that a worker later switched to
`--event-time` finds it. Its key starts with the byte 0xFF, which never occurs in UTF-8,
while a dossier's key is its `dossier_id` encoded in UTF-8: no dossier can take it. Code
that iterates the table reads the dossiers only (`is_reserved`): a reserved key a later
release adds is not taken for a dossier.

**The state's format in the progress record.** Each partition's progress record also says
the format of the partition's records (`state_format`), and a worker refuses a partition
whose format is not its own `STATE_FORMAT` with a sentence (streams/dossier_state.py),
rather than failing deep inside a record it misreads (Quix Streams keeps such a marker beside
its RocksDB state, `state/rocksdb/metadata.py`). A record written before the field existed
decodes as format 1, the format it was written in; the release before the field ignores it
(msgspec skips unknown fields), so a rollback to it still reads the table. Raise
`STATE_FORMAT` with any change of `DossierRecord` or `PartitionProgress` that an older worker
would misread; a worker of a new format must write it into every partition's progress record
before writing a record in that format.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from dossierflow.schemas.event import DossierEvent

DOSSIERS_KEPT = 100_000
"""Dossiers whose last fold the processor keeps, and whose record `DossierState` keeps
decoded, unless told otherwise (`WorkerSettings.dossiers_kept`), and of closed dossiers noted
to leave: about 410 MiB once all are full (`devtools/bench_caches.py`), and a
backlog of 65,000 dossiers received in 20 days re-folds no history where 20,000 re-folded a
quarter of its events (docs/benchmarks.md, *The rules per event*)."""


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


class PartitionProgress(msgspec.Struct, kw_only=True):
    latest_occurred_at: datetime
    """The largest `occurred_at` of the events applied from the partition, those of
    dossiers that have since left the table included."""
    state_format: int = 1
    """The format of the partition's records (`STATE_FORMAT` of the worker that wrote
    this); 1 in a record written before the field existed."""


STATE_FORMAT = 1
"""The format of the records this worker writes, and the only one it reads."""


_RESERVED = b"\xff"
"""0xFF never occurs in UTF-8: no dossier's key starts with it."""
_PROGRESS_KEY_PREFIX = _RESERVED + b"partition-progress/"

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(DossierRecord)
_progress_decoder = msgspec.msgpack.Decoder(PartitionProgress)


def encode_record(record: DossierRecord) -> bytes:
    return _encoder.encode(record)


def decode_record(data: bytes) -> DossierRecord:
    return _decoder.decode(data)


def progress_key(partition: int) -> bytes:
    """The reserved table key of events partition `partition`'s progress."""
    return _PROGRESS_KEY_PREFIX + str(partition).encode()


def is_reserved(key: bytes) -> bool:
    """Whether `key` is a reserved key (a partition's progress), not a dossier's."""
    return key.startswith(_RESERVED)


def progress_partition(key: bytes) -> int | None:
    """The partition whose progress `key` holds; None for a dossier's key."""
    if not key.startswith(_PROGRESS_KEY_PREFIX):
        return None
    return int(key[len(_PROGRESS_KEY_PREFIX):])


def encode_progress(progress: PartitionProgress) -> bytes:
    return _encoder.encode(progress)


def decode_progress(data: bytes) -> PartitionProgress:
    return _progress_decoder.decode(data)
