"""The Faust app: per-dossier state, deadline timers, alerts, facts and dead letters.

One agent (concurrency 1) applies the events topic in batches (`batch_size` events or
`batch_within` seconds). A batch's alerts, facts and dead letters are produced and
*awaited* (`Outbox`), its records saved, and only then are its events acknowledged, so
Faust commits offsets only after what they caused is safely in Kafka: at-least-once end
to end. A batch that fails ends the process (exit code 1) rather than being acknowledged.

The table uses the producer's partitioner (`use_partitioner=True`, raw keys = dossier_id):
a changelog entry lands on the partition of its key, the same number as the events-topic
partition of that dossier, so the timer may update records outside stream iteration. The
changelog records too are awaited before the events are acknowledged (streams/table.py).

In --event-time mode a dossier is evaluated, on its events and its timer alike, by the clock
of its partition (streams/watermark.py): after a rebalance, the dossiers of a partition
taken over wait for its events still to be read, although the watermark is past them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NoReturn

import faust
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from dossierflow.rules.catalog import Catalog, load_catalog
from dossierflow.schemas.event import (
    FAILED,
    DossierEvent,
    InvalidEvent,
    decode_event,
    rejection_reason,
)
from dossierflow.schemas.facts import output_encoder
from dossierflow.streams import faust_internals, metrics
from dossierflow.streams.calendar_watch import CalendarYearWatch
from dossierflow.streams.faust_patches import PatchedTableManager, use_patched_transport
from dossierflow.streams.offsets import AppliedOffsets
from dossierflow.streams.outbox import Outbox
from dossierflow.streams.processor import DossierProcessor, Effects
from dossierflow.streams.settings import WorkerSettings
from dossierflow.streams.state import (
    DossierRecord,
    PartitionProgress,
    decode_progress,
    decode_record,
    encode_progress,
    encode_record,
    progress_key,
    progress_partition,
)
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
        self.processor = DossierProcessor(
            self.catalog, settings.closed_retention, keep_reason=settings.keep_reason
        )
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
            TableManager=PatchedTableManager,  # see streams/faust_patches.py
        )
        use_patched_transport(self.app)  # see streams/faust_patches.py
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
        self.calendar_watch = CalendarYearWatch()
        self.watermark = Watermark(
            idle_after=settings.idle_partition_seconds,
            out_of_orderness=settings.out_of_orderness,
        )
        self.lock = asyncio.Lock()
        self._owned: frozenset[int] | None = None
        self._unsaved: dict[str, DossierRecord | None] = {}
        """Records changed by the batch or scan in progress, not yet in the table."""
        self._unsaved_latest: dict[int, datetime] = {}
        """The largest `occurred_at` the batch in progress read from each partition, not yet
        in the partition's progress record (streams/state.py)."""
        self._open: dict[str, float] = {}
        """Open dossiers this worker owns and their overdue instant (Unix seconds; infinity
        when it has none), for the gauges: floats, because comparing every open dossier's
        aware datetime a few times a second weighs on the live worker."""
        self._gauges_at = 0.0
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self.applied = AppliedOffsets()
        self._starts: dict[int, int] = {}
        """Where reading of each partition of the followed assignment starts."""
        self._assignments = 0
        """Counts revocations: a batch that straddles one must not restore the applied
        offsets that the revocation forgot."""
        self.app.on_before_shutdown.connect(self._stop_clients)
        self.app.on_partitions_revoked.connect(self._forget_applied)
        self.app.agent(self.events, name="dossier-events", concurrency=1)(self._consume)
        self.app.timer(settings.timer_interval)(self._on_timer)
        self.app.task(self._reload_catalog_on_sighup)

    # --- clock ---------------------------------------------------------------------

    def advance_clocks(
        self, highwaters: dict[int, int | None] | None = None
    ) -> datetime | None:
        """Wall time live; in --event-time mode advance the watermark and every partition's
        clock (over `highwaters` when the caller already read them) and return the
        watermark (None until it is known)."""
        if not self.settings.event_time:
            return datetime.now(UTC)
        if self._owned is None:  # the partitions to watch are not known before assignment
            return None
        if highwaters is None:
            highwaters = self._highwaters()
        return self.watermark.advance(highwaters, time.monotonic())

    def clock_of(self, partition: int) -> datetime:
        """The clock a dossier of `partition` is evaluated by: wall time live; in
        --event-time mode its partition's, as `advance_clocks()` last left it."""
        if not self.settings.event_time:
            return datetime.now(UTC)
        return self.watermark.value_for(partition) or BEFORE_ANY_EVENT

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

    async def _stop_clients(self, app: Any, /, *args: Any, **kwargs: Any) -> None:
        """On Faust's `on_before_shutdown`: flush and close the output producer, close the
        admin client."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    async def _reading_starts(self, owned: frozenset[int]) -> dict[int, int]:
        """Where reading of each owned partition starts after the assignment: the group's
        committed offset, or the log start when nothing was committed or retention removed
        the committed offset (the consumer then resets to the earliest).

        Asked of the group coordinator, not read from Faust's copy: Faust fills that in its
        seek after the recovery, and the fetcher, resumed before the seek, can deliver the
        first messages ahead of it."""
        if not owned:
            return {}
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.settings.bootstrap,
                client_id=f"{self.settings.app_id}-offsets",
                **self.security.as_aiokafka_kwargs(),
            )
            await admin.start()
            self._admin = admin
        tps = {p: TopicPartition(self.settings.events_topic, p) for p in owned}
        committed = await self._admin.list_consumer_group_offsets(
            self.settings.app_id, partitions=list(tps.values())
        )
        earliest = await self.app.consumer.earliest_offsets(
            *(faust.types.TP(tp.topic, tp.partition) for tp in tps.values())
        )
        starts = {}
        for p, tp in tps.items():
            meta = committed.get(tp)
            starts[p] = max(meta.offset if meta is not None else 0, earliest.get(tp) or 0, 0)
        return starts

    async def _forget_applied(self, app: Any, /, *args: Any, **kwargs: Any) -> None:
        """On Faust's `on_partitions_revoked`: reading restarts at the committed offsets,
        and the event-time clock waits for the new assignment to be followed."""
        self.applied.forget()
        self._assignments += 1
        self._owned = None
        self._starts = {}

    # --- the agent -----------------------------------------------------------------

    async def _consume(self, stream: Any) -> None:
        """Apply the events in batches; acknowledge a batch only once it is settled.

        `noack_take`, not `take_events`: the latter acknowledges a batch even when applying
        it failed, and Faust would then commit offsets past events that changed nothing.
        """
        async for batch in stream.noack_take(self.settings.batch_size, self.settings.batch_within):
            assignments = self._assignments
            try:
                async with self.lock:
                    if self._owned is None and self._of_this_generation(batch):
                        await self._follow_assignment()  # the first batch of an assignment
                    settled = self._offsets_after(batch)
                    await self._apply_batch(batch)
            except Exception:
                stop_at_once("a batch could not be applied")
            if assignments == self._assignments:
                self.applied = settled
            for event in batch:
                await stream.ack(event)

    def _of_this_generation(self, batch: Sequence[EventT[bytes]]) -> bool:
        """Whether `batch` was fetched in the current group generation: Faust lets such
        messages through only once it has sought the partitions to their committed offsets
        (a batch gathered before a rebalance may still arrive during the next one)."""
        generation = self.app.consumer_generation_id
        return all(event.message.generation_id == generation for event in batch)

    def _offsets_after(self, batch: Sequence[EventT[bytes]]) -> AppliedOffsets:
        """The applied offsets once `batch` is settled; raises if Faust dropped messages
        before it or within it."""
        after = self.applied.copy()
        for event in batch:
            message = event.message
            if message.partition not in after:  # its first message since the assignment
                # Outside a followed assignment (a batch from before a rebalance) the start
                # is not known: the first message sets it.
                after.start(message.partition, self._starts.get(message.partition,
                                                                 message.offset))
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
        # and reading them per event would cost a lookup per partition on the hot path.
        highwaters = self._highwaters() if self.settings.event_time else {}
        for event in batch:
            message = event.message
            try:
                dossier_event = decode_event(event.value, self.settings.max_event_bytes)
            except Exception as exc:  # InvalidEvent; any other is a bug, and no reason to stop
                self._dead_letter(outbox, message, self._reason(exc, message))
                if self.settings.event_time:  # read all the same: on towards the partition's end
                    self.watermark.observe(
                        message.partition, message.offset, None, time.monotonic()
                    )
                continue
            self._note_read(message.partition, dossier_event.occurred_at)
            late = False
            if self.settings.event_time:
                reached = self.watermark.value_for(message.partition)
                late = reached is not None and dossier_event.occurred_at < reached
                # Per event, not per batch: a later event of the same dossier in this batch
                # must not already be behind the clock when an earlier one is evaluated.
                self.watermark.observe(
                    message.partition, message.offset, dossier_event.occurred_at,
                    time.monotonic(),
                )
                self.advance_clocks(highwaters)
            record = self._load(dossier_event.dossier_id)
            try:
                effects = self.processor.on_event(
                    record, dossier_event, message.partition, self.clock_of(message.partition),
                    late,
                )
            except Exception as exc:
                # The rules are pure: what fails is this event with this history. The
                # dossier goes on from its record before it (the processor left it as is).
                reason = self._reason(exc, message)
                self._dead_letter(outbox, message, reason, dossier_event.type.value)
                continue
            if late and not effects.duplicate:
                self._count_late(dossier_event, effects)
            if effects.newly_unknown_procedure:
                self._warn_unknown_procedure(dossier_event)
            result = "duplicate" if effects.duplicate else "applied"
            metrics.EVENTS.labels(dossier_event.type.value, result).inc()
            if not effects.duplicate:
                self._publish(outbox, dossier_event.dossier_id, effects)
        await self._deliver_then_save(outbox)
        done = time.time()
        for event in batch:
            metrics.PROCESSING_SECONDS.observe(max(0.0, done - event.message.timestamp))

    @staticmethod
    def _evaluation_failed(dossier_id: str, during: str, error: Exception) -> None:
        """The rules raised on a dossier outside an event (its record stays as it was): one
        dossier never stops the worker (docs/domain.md, *Bad events*)."""
        metrics.EVALUATION_FAILURES.labels(during).inc()
        log.error("dossier %s left as it was: the rules failed at its %s: %r", dossier_id,
                  during.replace("_", " "), error, exc_info=error)

    def _warn_unknown_procedure(self, event: DossierEvent) -> None:
        metrics.UNKNOWN_PROCEDURE_DOSSIERS.inc()
        log.warning(
            "dossier %s: procedure %r is not in the catalogue %s and the event gives no "
            "due_at or processing_time: no deadline and no alert until it is; add it and "
            "send the worker SIGHUP to reload the catalogue",
            event.dossier_id, event.procedure_code, self.settings.catalog or "(the sample)",
        )

    def _count_late(self, event: DossierEvent, effects: Effects) -> None:
        metrics.LATE_EVENTS.inc()
        for alert in effects.contradicted:
            metrics.ALERTS_CONTRADICTED.labels(alert.kind.value).inc()
        if effects.contradicted:
            log.warning(
                "late event %s of dossier %s (occurred %s) contradicts published alerts: %s",
                event.event_id, event.dossier_id, event.occurred_at.isoformat(),
                ", ".join(f"{a.kind.value} {a.alert_id}" for a in effects.contradicted),
            )

    @staticmethod
    def _reason(exc: Exception, message: Any) -> str:
        """The dead-letter reason of an event that raised `exc`; the traceback in the log
        when it is not an `InvalidEvent`."""
        if not isinstance(exc, InvalidEvent):
            log.error("event %s[%s]@%s failed: %r", message.topic, message.partition,
                      message.offset, exc, exc_info=exc)
        return rejection_reason(exc)

    def _dead_letter(
        self, outbox: Outbox, message: Any, reason: str, event_type: str = "unknown"
    ) -> None:
        problem = reason.split(":", 1)[0]
        metrics.EVENTS.labels(event_type, FAILED if problem == FAILED else "invalid").inc()
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

    def _note_read(self, partition: int, occurred_at: datetime) -> None:
        latest = self._unsaved_latest.get(partition)
        if latest is None or occurred_at > latest:
            self._unsaved_latest[partition] = occurred_at

    def _dossiers(self) -> Iterator[tuple[str, DossierRecord]]:
        """Every dossier record in the table (not the partitions' progress records)."""
        for key, data in self.table.items():
            if progress_partition(key) is None:
                yield key.decode(), decode_record(data)

    def _saved_latest(self, partition: int) -> datetime | None:
        """The largest `occurred_at` applied from `partition` as its progress record says."""
        data = self.table.get(progress_key(partition))
        return decode_progress(data).latest_occurred_at if data is not None else None

    def _load(self, dossier_id: str) -> DossierRecord | None:
        if dossier_id in self._unsaved:
            return self._unsaved[dossier_id]
        data = self.table.get(dossier_id.encode())
        return decode_record(data) if data is not None else None

    async def _deliver_then_save(self, outbox: Outbox) -> None:
        """Deliver what the batch or scan caused, then write its records and await their
        changelog records.

        Outputs first, state second: a crash in between replays the events and re-sends
        their alerts and facts (same ids, de-duplicated downstream) instead of losing them.
        A failed delivery saves nothing (its events are not acknowledged, so they come again).
        """
        try:
            await outbox.deliver()
        except BaseException:
            self._unsaved.clear()
            self._unsaved_latest.clear()
            raise
        for dossier_id, record in self._unsaved.items():
            key = dossier_id.encode()
            if record is None:
                if key in self.table:
                    del self.table[key]
                self.timers.unschedule(dossier_id)
                self._open.pop(dossier_id, None)
            else:
                self.table.put(key, encode_record(record), record.partition)
                self._index(dossier_id, record)
        self._unsaved.clear()
        for partition, latest in self._unsaved_latest.items():
            saved = self._saved_latest(partition)
            if saved is None or latest > saved:
                progress = PartitionProgress(latest_occurred_at=latest)
                self.table.put(progress_key(partition), encode_progress(progress), partition)
        self._unsaved_latest.clear()
        await self.table.changelog_delivered()

    def _publish(self, outbox: Outbox, dossier_id: str, effects: Effects) -> None:
        """Queue alerts and facts; the record is saved after their delivery."""
        for alert in effects.alerts:
            unit = (alert.handling_unit_code or alert.unit_code or "").encode()
            outbox.add(self.settings.alerts_topic, unit, output_encoder.encode(alert))
            metrics.ALERTS.labels(alert.kind).inc()
        key = dossier_id.encode()
        for fact in effects.facts:
            outbox.add(self.settings.facts_topic, key, output_encoder.encode(fact))
        self._unsaved[dossier_id] = effects.record

    def _index(self, dossier_id: str, record: DossierRecord) -> None:
        self.timers.schedule(dossier_id, record.next_timer_at, record.partition)
        if record.open:
            overdue = record.overdue_at
            self._open[dossier_id] = overdue.timestamp() if overdue else math.inf
        else:
            self._open.pop(dossier_id, None)

    # --- catalogue reload ------------------------------------------------------------

    async def _reload_catalog_on_sighup(self) -> None:
        """A task for the worker's life: SIGHUP reloads the catalogue file."""
        requested = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, requested.set)
        while True:
            await requested.wait()
            requested.clear()
            await self.reload_catalog()

    async def reload_catalog(self) -> None:
        """Read the catalogue again and re-evaluate the owned dossiers whose procedure it
        did not know: their facts again and their alerts due by now. A catalogue that does
        not load is refused with one line, and the one in use stays."""
        try:
            catalog = load_catalog(self.settings.catalog)
        except (OSError, ValueError) as exc:
            metrics.CATALOG_RELOADS.labels("refused").inc()
            log.error("catalogue not reloaded, the one in use stays: %s", exc)
            return
        metrics.CATALOG_RELOADS.labels("loaded").inc()
        async with self.lock:
            self.catalog = catalog
            self.processor = replace(self.processor, catalog=catalog)
            owned = self._owned or frozenset()
            waiting = {
                dossier_id: record
                for dossier_id, record in self._dossiers()
                if record.procedure_unknown and record.partition in owned
            }
            try:
                known = await self._reevaluate_unknown_procedures(waiting)
            except Exception:
                stop_at_once("the dossiers re-evaluated with the new catalogue were not published")
        log.warning("catalogue reloaded (%d procedures): %d of %d dossiers with an unknown "
                    "procedure now known", len(catalog.procedures), known, len(waiting))

    async def _reevaluate_unknown_procedures(self, waiting: dict[str, DossierRecord]) -> int:
        """Publish the facts and due alerts of the `waiting` dossiers whose procedure the
        catalogue now knows; how many it knows."""
        self.advance_clocks()
        outbox = await self._outbox()
        known = 0
        for dossier_id, record in waiting.items():
            try:
                effects = self.processor.on_catalog_reloaded(
                    record, self.clock_of(record.partition)
                )
            except Exception as exc:
                self._evaluation_failed(dossier_id, "catalog_reload", exc)
                continue
            if effects is not None:
                known += 1
                self._publish(outbox, dossier_id, effects)
        await self._deliver_then_save(outbox)
        return known

    # --- timers --------------------------------------------------------------------

    def _assigned_partitions(self) -> frozenset[int]:
        return frozenset(
            tp.partition
            for tp in self.app.consumer.assignment()
            if tp.topic == self.settings.events_topic
        )

    async def _follow_assignment(self) -> None:
        """After start or a rebalance: every owned dossier's timer from the table, and the
        watermark over the owned partitions. Called with the lock held once the tables are
        recovered and Faust has sought the partitions to their committed offsets: by the
        agent before its first batch of the assignment, by the timer when no rebalance is
        under way (whichever comes first), so that no event is evaluated against a clock
        that ignores a partition."""
        owned = self._assigned_partitions()
        if owned == self._owned:
            return
        self.timers.clear()
        self._open.clear()
        waiting: dict[str, DossierRecord] = {}
        # The largest `occurred_at` applied from each partition: its progress record, or
        # its dossiers' records in a table written before progress records existed.
        seen = {p: latest for p in owned if (latest := self._saved_latest(p)) is not None}
        for dossier_id, record in self._dossiers():
            if record.partition in owned:
                self._index(dossier_id, record)
                if record.procedure_unknown:
                    waiting[dossier_id] = record
                latest = max(event.occurred_at for event in record.history)
                if record.partition not in seen or latest > seen[record.partition]:
                    seen[record.partition] = latest
        starts = await self._reading_starts(owned)
        if self.settings.event_time:
            tps = {p: faust.types.TP(self.settings.events_topic, p) for p in owned}
            ends = await self.app.consumer.highwaters(*tps.values()) if tps else {}
            self.watermark.assign(
                set(owned),
                time.monotonic(),
                positions=dict(starts),
                ends={p: int(ends[tp]) for p, tp in tps.items() if ends.get(tp) is not None},
                seen=seen,
            )
        self._starts = starts
        self._owned = owned
        log.info("timer index rebuilt: %d dossiers on partitions %s; reading starts at %s",
                 len(self.timers), sorted(owned), dict(sorted(starts.items())))
        if waiting:  # the catalogue may have learnt their procedure while the worker was down
            known = await self._reevaluate_unknown_procedures(waiting)
            log.info("%d of %d dossiers with an unknown procedure now known", known,
                     len(waiting))

    async def _on_timer(self) -> None:
        if self.app.rebalancing or not faust_internals.first_recovery_completed(self.app):
            return
        if self._assigned_partitions() != self._owned:
            async with self.lock:
                await self._follow_assignment()
        owned = self._owned
        if owned is None:
            return
        clock = self.advance_clocks()
        if clock is None:
            return
        self.calendar_watch.observe(self.catalog.calendar, clock)
        async with self.lock:
            started = time.perf_counter()
            outbox = await self._outbox()
            clocks = {p: self.clock_of(p) for p in owned}
            for dossier_id in self.timers.pop_due(clocks, limit=10_000):
                record = self._load(dossier_id)
                if record is not None:
                    try:
                        outcome = self.processor.on_timer(record, self.clock_of(record.partition))
                    except Exception as exc:  # its timer is popped: not retried in a loop
                        self._evaluation_failed(dossier_id, "timer", exc)
                        continue
                    self._publish(outbox, dossier_id, outcome)
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
            position = faust_internals.last_read_offset(self.app, tp)
            if highwater is not None:
                metrics.set_consumer_lag(
                    partition, max(0, highwater - (position + 1 if position is not None else 0))
                )
