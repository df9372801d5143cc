"""`dossierflow golive`: a worker live on a history file without replaying it through Kafka.

The history (every event up to the cut-over instant) is evaluated once, as `replay` does;
then two things come of it:

- every dossier's facts and the alerts already due go straight into ClickHouse through the
  backfill path (src/dossierflow/backfill.py), as `replay --store` writes them;
- the dossiers still open become the worker's state: for each, the record the worker itself
  would hold after applying its history at the cut-over (`DossierProcessor.on_evaluated`,
  the worker's own settling), written to the table's changelog topic, with a progress record per
  events partition saying it was read up to the cut-over. A worker started on an empty
  data directory restores them like any other state.

Nothing is alerted twice: a seeded record's `emitted` lists the alerts due by the cut-over
(those the store already holds), and the worker never publishes an `alert_id` it lists.
Its timers are the records' `next_timer_at`, so its first alerts are those due after the
cut-over. Closed dossiers are not seeded, but for one that would still owe an alert after
the cut-over (the worker keeps such a one in its table too, streams/processor.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from kafka.partitioner.default import murmur2

from dossierflow.errors import DossierflowError
from dossierflow.rules.evaluation import Evaluation
from dossierflow.schemas.event import without_free_text
from dossierflow.streams.processor import DossierProcessor
from dossierflow.streams.state import (
    STATE_FORMAT,
    DossierRecord,
    PartitionProgress,
    encode_progress,
    encode_record,
    progress_key,
)

ChangelogRecord = tuple[bytes, bytes, int]
"""A changelog record: its key, its value and the partition it goes to."""


def changelog_topic(app_id: str) -> str:
    """The worker table's changelog topic, as Faust names it (streams/faust_internals.py)."""
    return f"{app_id}-dossiers-changelog"


def events_partition(dossier_id: str, partitions: int) -> int:
    """The events-topic partition of a dossier's events as `dossierflow produce` keys them
    (the murmur2 of Kafka's Java client, kafka-python's and aiokafka's default
    partitioner, which the worker's table uses too)."""
    return int(murmur2(dossier_id.encode()) & 0x7FFFFFFF) % partitions


@dataclass
class Seeding:
    """The open dossiers' records gathered while the evaluations go by."""

    processor: DossierProcessor
    clock: datetime
    partitions: int
    records: list[ChangelogRecord] = field(default_factory=list)
    dossiers: int = 0
    alerts_marked: int = 0
    """Alerts due by the cut-over listed in the seeded records (never re-sent)."""

    def passing(self, evaluations: Iterable[Evaluation]) -> Iterator[Evaluation]:
        """`evaluations` unchanged, the record of each that the live worker needs kept on
        the way: the open ones, and any that still owes an alert."""
        for evaluation in evaluations:
            if evaluation.state.is_open or evaluation.next_alert_at is not None:
                seeded = self._record_of(evaluation)
                if seeded is not None:
                    self.records.append(seeded)
            yield evaluation

    def _record_of(self, evaluation: Evaluation) -> ChangelogRecord | None:
        dossier_id = evaluation.state.dossier_id
        partition = events_partition(dossier_id, self.partitions)
        history = [step.event for step in evaluation.steps]
        if not self.processor.keep_reason:
            history = [without_free_text(event) for event in history]
        record = DossierRecord(history=history, partition=partition)
        # The worker's own settling: `emitted` is every alert due by the clock, the timer
        # the next instant after it.
        if self.processor.on_evaluated(record, evaluation, self.clock).record is None:
            return None  # closed, nothing owed: it would leave the table at once
        record.procedure_unknown = evaluation.state.procedure_unknown
        self.dossiers += 1
        self.alerts_marked += len(record.emitted)
        return dossier_id.encode(), encode_record(record), partition

    def progress(self) -> list[ChangelogRecord]:
        """Every events partition read up to the cut-over, in this worker's state format."""
        value = encode_progress(
            PartitionProgress(latest_occurred_at=self.clock, state_format=STATE_FORMAT)
        )
        return [(progress_key(p), value, p) for p in range(self.partitions)]


class ChangelogRefused(DossierflowError):
    """Kafka did not take every seeded record (or could not be reached): the store already
    holds the history, and the app id's changelog holds part of the state."""

    def __init__(self, why: str) -> None:
        super().__init__(
            f"{why}; the store holds the history: go live again under a new --app-id "
            "(the changelog of this one is partly written)"
        )


def write_changelog(
    bootstrap: str,
    producer_settings: dict[str, object],
    topic: str,
    records: Iterable[ChangelogRecord],
    advance: Callable[[int], None],
) -> int:
    """Produce `records` to `topic` and wait until Kafka has every one; how many."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    refused: list[BaseException] = []
    sent = 0
    try:
        producer = KafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=512 * 1024,
            **producer_settings,
        )
        try:
            for key, value, partition in records:
                producer.send(topic, key=key, value=value, partition=partition).add_errback(
                    refused.append
                )
                sent += 1
                if sent % 10_000 == 0:
                    advance(10_000)
            producer.flush()
            advance(sent % 10_000)
        finally:
            producer.close()
    except KafkaError as exc:
        raise ChangelogRefused(
            f"Kafka at {bootstrap} failed after {sent} records: {exc!r}"
        ) from None
    if refused:
        raise ChangelogRefused(f"{len(refused)} of {sent} records refused by {topic}: "
                               f"{refused[0]!r}")
    return sent
