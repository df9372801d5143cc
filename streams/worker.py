"""The Faust app: per-dossier state, deadline timers, alerts, facts and dead letters.

One agent (concurrency 1) applies the events topic in batches (`batch_size` events or
`batch_within` seconds). A batch's alerts, facts and dead letters are produced and
*awaited* (`Outbox`), its records saved, and only then are its events acknowledged, so
Faust commits offsets only after what they caused is safely in Kafka: at-least-once end
to end. A batch that fails ends the process (exit code 1) rather than being acknowledged.

The table uses the producer's partitioner (`use_partitioner=True`, raw keys = dossier_id):
a changelog entry lands on the partition of its key, the same number as the events-topic
partition of that dossier, so the timer may update records outside stream iteration.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn, cast

import faust
from aiokafka import AIOKafkaProducer
from dossierflow.rules.catalog import Catalog, load_catalog
from dossierflow.schemas.event import InvalidEvent, decode_event
from dossierflow.schemas.facts import fact_encoder
from dossierflow.streams import metrics
from dossierflow.streams.offsets import AppliedOffsets
from dossierflow.streams.outbox import Outbox
from dossierflow.streams.processor import DossierProcessor, Outcome
from dossierflow.streams.settings import WorkerSettings
from dossierflow.streams.state import DossierRecord, decode_record, encode_record
from dossierflow.streams.table import DossierTable
from dossierflow.streams.timers import TimerIndex
from dossierflow.streams.watermark import Watermark
from faust.types import EventT

from dossierflow.kafka.security import KafkaSecurity

log = logging.getLogger(__name__)
BEFORE_ANY_EVENT = datetime.min.replace(tzinfo=UTC)
"""The event-time clock before the watermark is known: no alert is due yet."""
OUTPUT_BATCH_BYTES = 512 * 1024
"""Largest Kafka record batch the worker builds (the broker takes up to 1 MiB)."""
GAUGE_INTERVAL = 1.0
"""Seconds between updates of the gauges (Prometheus scrapes far less often)."""


def stop_at_once(why: str) -> NoReturn:
    """Log the exception being handled and end the process with exit code 1.

    Not Faust's crash and graceful stop: on its way down Faust restarts the agent, whose
    stream then acknowledges the events still buffered behind the failed batch, and commits
    them (past the failure, since it skips a gap of one offset). Exiting here commits
    nothing more; a supervisor restarts the worker, which resumes from the committed offsets.
    """
    log.critical("stopping the worker: %s", why, exc_info=True)
    logging.shutdown()
    os._exit(1)


class MessagesSkipped(RuntimeError):
    """Faust dropped fetched messages before they reached the agent (see streams/offsets.py)."""


class DossierWorker:
    """Binds the processor to a Faust app, its table and its topics."""

    def __init__(
        self,
        settings: WorkerSettings,
        catalog: Catalog | None = None,
        security: KafkaSecurity | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog or load_catalog(settings.catalog)
        self.processor = DossierProcessor(self.catalog, settings.closed_retention)
        self.security = security or KafkaSecurity.from_env()
        self.app = faust.App(
            settings.app_id,
            broker=f"kafka://{settings.bootstrap}",
            broker_credentials=self.security.as_faust_credentials(),
            store=settings.store,
            datadir=str(settings.data_dir),
            topic_partitions=settings.partitions,
            topic_replication_factor=1,
            consumer_auto_offset_reset="earliest",
            web_enabled=False,
            stream_buffer_maxsize=8192,
            broker_max_poll_records=2000,
            producer_linger_ms=1,
            # Changelog records are a few KiB each; 16 KiB batches (the default) left the
            # producer waiting on the broker after every handful of them.
            producer_max_batch_size=OUTPUT_BATCH_BYTES,
            broker_commit_every=5000,
            broker_commit_interval=1.0,
            table_cleanup_interval=3600.0,
            broker_session_timeout=settings.session_timeout,
            broker_heartbeat_interval=settings.session_timeout / 4,
        )
        self.events = self.app.topic(
            settings.events_topic, key_serializer="raw", value_serializer="raw"
        )
        self.table = DossierTable(
            self.app,
            name="dossiers",
            default=None,
            beacon=self.app.tables.beacon,
            partitions=settings.partitions,
            key_type=bytes,
            value_type=bytes,
            use_partitioner=True,
        )
        self.app.tables.add(self.table)
        self.timers = TimerIndex()
        self.watermark = Watermark(idle_after=settings.idle_partition_seconds)
        self.lock = asyncio.Lock()
        self._owned: frozenset[int] | None = None
        self._unsaved: dict[str, DossierRecord | None] = {}
        """Records changed by the batch or scan in progress, not yet in the table."""
        self._open: dict[str, float] = {}
        """Open dossiers this worker owns and their overdue instant (Unix seconds; infinity
        when it has none), for the gauges: floats, because comparing every open dossier's
        aware datetime a few times a second cost the live worker a sixth of its time."""
        self._gauges_at = 0.0
        self._producer: AIOKafkaProducer | None = None
        self.applied = AppliedOffsets()
        self.app.on_before_shutdown.connect(self._stop_producer)
        self.app.on_partitions_revoked.connect(self._forget_applied)
        self.app.agent(self.events, name="dossier-events", concurrency=1)(self._consume)
        self.app.timer(settings.timer_interval)(self._on_timer)

    # --- clock ---------------------------------------------------------------------

    def clock(self, highwaters: dict[int, int | None] | None = None) -> datetime | None:
        """Wall time live; in --event-time mode the watermark (None until it is known),
        over `highwaters` when the caller already read them."""
        if not self.settings.event_time:
            return datetime.now(UTC)
        if self._owned is None:  # the partitions to watch are not known before assignment
            return None
        if highwaters is None:
            highwaters = self._highwaters() if self.settings.event_time else {}
        return self.watermark.advance(highwaters, time.monotonic())

    def _highwaters(self) -> dict[int, int | None]:
        return {p: self._highwater(p) for p in self._owned or ()}

    def _highwater(self, partition: int) -> int | None:
        tp = faust.types.TP(self.settings.events_topic, partition)
        try:
            value = self.app.consumer.highwater(tp)
        except Exception:  # not fetched from yet
            return None
        return int(value) if value is not None else None

    async def _outbox(self) -> Outbox:
        """The outbox over this worker's own producer, started on first use."""
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.bootstrap,
                acks="all",
                max_batch_size=OUTPUT_BATCH_BYTES,
                client_id=f"{self.settings.app_id}-outputs",
                **self.security.as_aiokafka_kwargs(),
            )
            await producer.start()
            self._producer = producer
        return Outbox(self._producer)

    async def _stop_producer(self, app: Any, /, *args: Any, **kwargs: Any) -> None:
        """On Faust's `on_before_shutdown`: flush and close the output producer."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def _forget_applied(self, app: Any, /, *args: Any, **kwargs: Any) -> None:
        """On Faust's `on_partitions_revoked`: reading restarts at the committed offsets."""
        self.applied.forget()

    # --- the agent -----------------------------------------------------------------

    async def _consume(self, stream: Any) -> None:
        """Apply the events in batches; acknowledge a batch only once it is settled.

        `noack_take`, not `take_events`: the latter acknowledges a batch even when applying
        it failed, and Faust would then commit offsets past events that changed nothing.
        """
        async for batch in stream.noack_take(self.settings.batch_size, self.settings.batch_within):
            try:
                settled = self._offsets_after(batch)
                async with self.lock:
                    await self._apply_batch(batch)
            except Exception:
                stop_at_once("a batch could not be applied")
            self.applied = settled
            for event in batch:
                await stream.ack(event)

    def _offsets_after(self, batch: Sequence[EventT[bytes]]) -> AppliedOffsets:
        """The applied offsets once `batch` is settled; raises if Faust dropped messages
        before it or within it."""
        after = self.applied.copy()
        for event in batch:
            message = event.message
            skipped = after.gap_before(message.partition, message.offset)
            if skipped:
                metrics.SKIPPED_OFFSETS.labels(str(message.partition)).inc(len(skipped))
                raise MessagesSkipped(
                    f"{message.topic}[{message.partition}]: offsets {skipped.start}-"
                    f"{skipped.stop - 1} never reached the agent; stopping so that a restart "
                    "reads them from the committed offset"
                )
            after.applied(message.partition, message.offset)
        return after

    async def _apply_batch(self, batch: Sequence[EventT[bytes]]) -> None:
        outbox = await self._outbox()
        # The high-water marks as of the batch's start: every event in it lies below them,
        # and reading them per event cost a lookup per partition on the hot path.
        highwaters = self._highwaters() if self.settings.event_time else {}
        for event in batch:
            message = event.message
            try:
                dossier_event = decode_event(event.value, self.settings.max_event_bytes)
            except InvalidEvent as exc:
                self._dead_letter(outbox, message, exc.reason)
                continue
            if self.settings.event_time:
                # Per event, not per batch: a later event of the same dossier in this batch
                # must not already be behind the clock when an earlier one is evaluated.
                self.watermark.observe(
                    message.partition, message.offset, dossier_event.occurred_at,
                    time.monotonic(),
                )
            outcome = self.processor.on_event(
                self._load(dossier_event.dossier_id),
                dossier_event,
                message.partition,
                self.clock(highwaters) or BEFORE_ANY_EVENT,
            )
            result = "duplicate" if outcome.duplicate else "applied"
            metrics.EVENTS.labels(dossier_event.type.value, result).inc()
            if not outcome.duplicate:
                self._publish(outbox, dossier_event.dossier_id, outcome)
        await self._deliver_then_save(outbox)
        done = time.time()
        for event in batch:
            metrics.PROCESSING_SECONDS.observe(max(0.0, done - event.message.timestamp))

    def _dead_letter(self, outbox: Outbox, message: Any, reason: str) -> None:
        problem = reason.split(":", 1)[0]
        metrics.EVENTS.labels("unknown", "invalid").inc()
        metrics.DEAD_LETTERS.labels(problem).inc()
        headers = [
            ("dossierflow-reason", reason.encode()),
            ("dossierflow-source-topic", message.topic.encode()),
            ("dossierflow-source-partition", str(message.partition).encode()),
            ("dossierflow-source-offset", str(message.offset).encode()),
        ]
        log.warning("dead letter %s[%s]@%s: %s", message.topic, message.partition,
                    message.offset, reason)
        outbox.add(self.settings.dead_letter_topic, message.key, message.value, headers)

    # --- state and outputs -----------------------------------------------------------

    def _load(self, dossier_id: str) -> DossierRecord | None:
        if dossier_id in self._unsaved:
            return self._unsaved[dossier_id]
        data = self.table.get(dossier_id.encode())
        return decode_record(data) if data is not None else None

    async def _deliver_then_save(self, outbox: Outbox) -> None:
        """Deliver what the batch or scan caused, then write its records.

        Outputs first, state second: a crash in between replays the events and re-sends
        their alerts and facts (same ids, de-duplicated downstream) instead of losing them.
        A failed delivery saves nothing (its events are not acknowledged, so they come again).
        """
        try:
            await outbox.deliver()
        except BaseException:
            self._unsaved.clear()
            raise
        for dossier_id, record in self._unsaved.items():
            key = dossier_id.encode()
            if record is None:
                if key in self.table:
                    del self.table[key]
                self.timers.schedule(dossier_id, None)
                self._open.pop(dossier_id, None)
            else:
                self.table.put(key, encode_record(record), record.partition)
                self._index(dossier_id, record)
        self._unsaved.clear()

    def _publish(self, outbox: Outbox, dossier_id: str, outcome: Outcome) -> None:
        """Queue alerts and facts; the record is saved after their delivery."""
        for alert in outcome.alerts:
            unit = (alert.handling_unit_code or alert.unit_code or "").encode()
            outbox.add(self.settings.alerts_topic, unit, fact_encoder.encode(alert))
            metrics.ALERTS.labels(alert.kind).inc()
        key = dossier_id.encode()
        for fact in outcome.facts:
            outbox.add(self.settings.facts_topic, key, fact_encoder.encode(fact))
        self._unsaved[dossier_id] = outcome.record

    def _index(self, dossier_id: str, record: DossierRecord) -> None:
        self.timers.schedule(dossier_id, record.next_timer_at)
        if record.open:
            overdue = record.overdue_at
            self._open[dossier_id] = overdue.timestamp() if overdue else math.inf
        else:
            self._open.pop(dossier_id, None)

    # --- timers --------------------------------------------------------------------

    def _assigned_partitions(self) -> frozenset[int]:
        return frozenset(
            tp.partition
            for tp in self.app.consumer.assignment()
            if tp.topic == self.settings.events_topic
        )

    def _rebuild_index(self, owned: frozenset[int]) -> None:
        """After start or a rebalance: every owned dossier's timer, from the table."""
        self.timers.clear()
        self._open.clear()
        for key, data in self.table.items():
            record = decode_record(data)
            if record.partition in owned:
                self._index(key.decode(), record)
        # Faust keeps no public getter for the offsets it seeked to after the assignment.
        committed = cast(Any, self.app.consumer)._committed_offset
        positions = {
            p: committed.get(faust.types.TP(self.settings.events_topic, p)) for p in owned
        }
        self.watermark.assign(set(owned), time.monotonic(), positions)
        log.info("timer index rebuilt: %d dossiers on partitions %s", len(self.timers),
                 sorted(owned))

    async def _on_timer(self) -> None:
        if self.app.rebalancing or not cast(Any, self.app.tables).recovery.completed.is_set():
            return
        owned = self._assigned_partitions()
        if owned != self._owned:
            async with self.lock:
                self._rebuild_index(owned)
                self._owned = owned
        clock = self.clock()
        if clock is None:
            return
        async with self.lock:
            started = time.perf_counter()
            outbox = await self._outbox()
            for dossier_id in self.timers.pop_due(clock, limit=10_000):
                record = self._load(dossier_id)
                if record is not None:
                    self._publish(outbox, dossier_id, self.processor.on_timer(record, clock))
            await self._deliver_then_save(outbox)
            metrics.TIMER_SCAN_SECONDS.observe(time.perf_counter() - started)
        if time.monotonic() - self._gauges_at >= GAUGE_INTERVAL:
            self._update_gauges(clock, owned)
            self._gauges_at = time.monotonic()

    def _update_gauges(self, clock: datetime, owned: frozenset[int]) -> None:
        metrics.OPEN_DOSSIERS.set(len(self._open))
        now = clock.timestamp()
        metrics.OVERDUE_OPEN_DOSSIERS.set(sum(1 for at in self._open.values() if at <= now))
        if self.settings.event_time:
            metrics.EVENT_TIME_WATERMARK.set(clock.timestamp())
        metrics.forget_lag_of_partitions_not_in(owned)
        for partition in owned:
            tp = faust.types.TP(self.settings.events_topic, partition)
            highwater = self._highwater(partition)
            # Faust keeps no public getter for the last offset read.
            position = cast(Any, self.app.consumer)._read_offset.get(tp)
            if highwater is not None:
                metrics.set_consumer_lag(
                    partition, max(0, highwater - (position + 1 if position is not None else 0))
                )
