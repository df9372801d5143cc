"""The worker without Faust: batches of events, the timer scan and catalogue reloads
applied to keyed state.

What the worker does between reading a message and acknowledging it, over small
interfaces (streams/ports.py): a `StateTable` (Faust's table in the worker), a `Clock`
(wall or event time, streams/clock.py) and an `Outbox` for alerts, facts and dead letters.
The Faust adapter (streams/worker.py) owns the batch reading, the topics, the offsets and the
assignment; it calls `follow` when the partitions it owns change, `apply` with each batch,
`fire_due_timers` on its timer and `reload_catalog` on SIGHUP, each under `lock`.

Outputs first, state second: what a batch or scan caused is delivered, then its records
are saved and their changelog awaited, and only then may the adapter acknowledge its
events. A crash in between replays the events and re-sends their alerts and facts (same
ids, de-duplicated downstream) instead of losing them.

    runtime = WorkerRuntime(settings, catalog, table, WallClock(), open_outbox)
    await runtime.follow(frozenset({0}), starts={0: 0})
    await runtime.apply(messages)      # their alerts and facts delivered, records saved
    await runtime.fire_due_timers()    # alerts whose instant the clock has reached
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from dossierflow.rules.catalog import Catalog, load_catalog
from dossierflow.schemas.event import (
    FAILED,
    DossierEvent,
    InvalidEvent,
    decode_event,
    rejection_reason,
)
from dossierflow.schemas.facts import output_encoder
from dossierflow.streams import metrics
from dossierflow.streams.calendar_watch import CalendarYearWatch
from dossierflow.streams.dossier_state import DossierState
from dossierflow.streams.ports import Clock, Message, Outbox, StateTable
from dossierflow.streams.processor import DossierProcessor, Effects
from dossierflow.streams.state import DossierRecord
from dossierflow.streams.timers import TimerIndex

if TYPE_CHECKING:
    from dossierflow.streams.settings import WorkerSettings

log = logging.getLogger("dossierflow.streams.worker")
TIMER_SCAN_LIMIT = 10_000
"""Most timers fired by one scan, so that a backlog of due timers does not hold the lock."""


class WorkerRuntime:
    def __init__(
        self,
        settings: WorkerSettings,
        catalog: Catalog,
        table: StateTable,
        clock: Clock,
        open_outbox: Callable[[], Awaitable[Outbox]],
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.processor = DossierProcessor(
            catalog, settings.closed_retention, keep_reason=settings.keep_reason,
            folds_kept=settings.dossiers_kept,
        )
        self.state = DossierState(table, settings.app_id, settings.dossiers_kept)
        self.clock = clock
        self._open_outbox = open_outbox
        self.timers = TimerIndex()
        self.calendar_watch = CalendarYearWatch()
        self.lock = asyncio.Lock()
        """Held by every caller of `follow`, `apply` and `fire_due_timers`."""
        self.owned: frozenset[int] | None = None
        """The partitions followed (None: none yet, or revoked)."""
        self._alerted: Counter[str] = Counter()
        """Alerts queued by the batch or scan in progress, by kind: counted once it is
        delivered (or not), not per alert (a labelled counter's lookup and lock each)."""
        self._open: dict[str, float] = {}
        """Open dossiers this worker owns and their overdue instant (Unix seconds; infinity
        when it has none), for the gauges: floats, because comparing every open dossier's
        aware datetime a few times a second weighs on the live worker."""

    # --- assignment ------------------------------------------------------------------

    async def follow(self, owned: frozenset[int], starts: dict[int, int]) -> None:
        """The worker owns `owned` now, reading each from `starts`: check their state's
        format, rebuild their timers from the table, set the clock over them, and publish
        what their dossiers of a procedure the catalogue did not know now owe."""
        self.state.check_format(owned)
        started = time.perf_counter()
        seen, waiting = self._rebuild_index(owned)
        rebuilt = time.perf_counter() - started
        await self.clock.follow(owned, starts, seen)
        self.owned = owned
        log.info("timer index rebuilt: %d dossiers on partitions %s in %.1f s; reading starts "
                 "at %s", len(self.timers), sorted(owned), rebuilt, dict(sorted(starts.items())))
        if waiting:  # the catalogue may have learnt their procedure while the worker was down
            known = await self._reevaluate_unknown_procedures(waiting)
            log.info("%d of %d dossiers with an unknown procedure now known", known,
                     len(waiting))

    def _rebuild_index(
        self, owned: frozenset[int]
    ) -> tuple[dict[int, datetime], dict[str, DossierRecord]]:
        """Index the timers and open dossiers of `owned` from the table; the largest
        `occurred_at` applied from each partition, and the dossiers of an unknown procedure."""
        self.timers.clear()
        self._open.clear()
        waiting: dict[str, DossierRecord] = {}
        # The largest `occurred_at` applied from each partition: its progress record, or
        # its dossiers' records in a table written before progress records existed.
        seen = {p: latest for p in owned if (latest := self.state.saved_latest(p)) is not None}
        for dossier_id, record in self.state.dossiers():
            if record.partition in owned:
                self._index(dossier_id, record)
                if record.procedure_unknown:
                    waiting[dossier_id] = record
                latest = max(event.occurred_at for event in record.history)
                if record.partition not in seen or latest > seen[record.partition]:
                    seen[record.partition] = latest
        return seen, waiting

    def forget(self) -> None:
        """The partitions were revoked: nothing is followed until the next `follow`."""
        self.owned = None
        self.clock.forget()

    # --- batches ---------------------------------------------------------------------

    async def apply(self, messages: Sequence[Message]) -> None:
        """Apply a batch read from the events topic; raises if its outputs or its state
        could not be delivered (then nothing of it is saved)."""
        outbox = await self._open_outbox()
        self.clock.start_batch()
        # Counted per batch, not per event: a labelled counter's lookup and lock cost as
        # much as a tenth of the rules (docs/benchmarks.md).
        counted: Counter[tuple[str, str]] = Counter()
        try:
            for message in messages:
                try:
                    event = decode_event(message.value or b"", self.settings.max_event_bytes)
                except Exception as exc:  # InvalidEvent; any other is a bug: no reason to stop
                    self._dead_letter(outbox, message, self._reason(exc, message))
                    self.clock.read(message.partition, message.offset, None)
                    continue
                self._apply_event(outbox, message, event, counted)
        finally:
            for (event_type, outcome), count in counted.items():
                metrics.EVENTS.labels(event_type, outcome).inc(count)
        await self._deliver_then_save(outbox)
        done = time.time()
        metrics.observe_each(metrics.PROCESSING_SECONDS,
                             [max(0.0, done - message.timestamp) for message in messages])

    def _apply_event(
        self, outbox: Outbox, message: Message, event: DossierEvent,
        counted: Counter[tuple[str, str]],
    ) -> None:
        """Apply one event; `counted` tallies the events applied and duplicate by type."""
        partition = message.partition
        self.state.note_read(partition, event.occurred_at)
        late = self.clock.read(partition, message.offset, event.occurred_at)
        record = self.state.load(event.dossier_id)
        try:
            effects = self.processor.on_event(
                record, event, partition, self.clock.of(partition), late
            )
        except Exception as exc:
            # The rules are pure: what fails is this event with this history. The dossier
            # goes on from its record before it (the processor left it as is).
            self._dead_letter(outbox, message, self._reason(exc, message), event.type.value)
            return
        if late and not effects.duplicate:
            self._count_late(event, effects)
        if effects.newly_unknown_procedure:
            self._warn_unknown_procedure(event)
        counted[event.type.value, "duplicate" if effects.duplicate else "applied"] += 1
        if not effects.duplicate:
            self._publish(outbox, event.dossier_id, effects)

    # --- timers ----------------------------------------------------------------------

    async def fire_due_timers(self) -> datetime | None:
        """Move the clock on and publish the alerts whose instant it has reached; the clock
        over every owned partition (None: nothing followed or the clock not known yet)."""
        owned = self.owned
        if owned is None:
            return None
        clock = self.clock.advance()
        if clock is None:
            return None
        self.calendar_watch.observe(self.catalog.calendar, clock)
        async with self.lock:
            started = time.perf_counter()
            clocks = {p: self.clock.of(p) for p in owned}
            due = self.timers.pop_due(clocks, limit=TIMER_SCAN_LIMIT)
            if due:  # most scans have none: no outbox opened, nothing delivered or saved
                await self._fire(due)
            metrics.TIMER_SCAN_SECONDS.observe(time.perf_counter() - started)
        return clock

    async def _fire(self, due: list[str]) -> None:
        """Publish what the timers of the `due` dossiers owe, then save their records."""
        outbox = await self._open_outbox()
        for dossier_id in due:
            record = self.state.load(dossier_id)
            if record is None:
                continue
            try:
                effects = self.processor.on_timer(record, self.clock.of(record.partition))
            except Exception as exc:  # its timer is popped: not retried in a loop
                self._evaluation_failed(dossier_id, "timer", exc)
                continue
            self._publish(outbox, dossier_id, effects)
        await self._deliver_then_save(outbox)

    def update_gauges(self, clock: datetime) -> None:
        metrics.OPEN_DOSSIERS.set(len(self._open))
        now = clock.timestamp()
        metrics.OVERDUE_OPEN_DOSSIERS.set(sum(1 for at in self._open.values() if at <= now))
        self.clock.report()

    # --- catalogue reload ------------------------------------------------------------

    async def reload_catalog(self) -> None:
        """Read the catalogue again and re-evaluate the owned dossiers whose procedure it
        did not know: their facts again and their alerts due by now. A catalogue that does
        not load is refused with one line, and the one in use stays. Raises if what the
        re-evaluation owes could not be published."""
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
            owned = self.owned or frozenset()
            waiting = {
                dossier_id: record
                for dossier_id, record in self.state.dossiers()
                if record.procedure_unknown and record.partition in owned
            }
            known = await self._reevaluate_unknown_procedures(waiting)
        log.warning("catalogue reloaded (%d procedures): %d of %d dossiers with an unknown "
                    "procedure now known", len(catalog.procedures), known, len(waiting))

    async def _reevaluate_unknown_procedures(self, waiting: dict[str, DossierRecord]) -> int:
        """Publish the facts and due alerts of the `waiting` dossiers whose procedure the
        catalogue now knows; how many it knows."""
        self.clock.advance()
        outbox = await self._open_outbox()
        known = 0
        for dossier_id, record in waiting.items():
            try:
                effects = self.processor.on_catalog_reloaded(
                    record, self.clock.of(record.partition)
                )
            except Exception as exc:
                self._evaluation_failed(dossier_id, "catalog_reload", exc)
                continue
            if effects is not None:
                known += 1
                self._publish(outbox, dossier_id, effects)
        await self._deliver_then_save(outbox)
        return known

    # --- outputs and state -----------------------------------------------------------

    def _publish(self, outbox: Outbox, dossier_id: str, effects: Effects) -> None:
        """Queue alerts and facts; the record is saved after their delivery."""
        for alert in effects.alerts:
            unit = (alert.handling_unit_code or alert.unit_code or "").encode()
            outbox.add(self.settings.alerts_topic, unit, output_encoder.encode(alert))
            self._alerted[alert.kind] += 1
        key = dossier_id.encode()
        for fact in effects.facts:
            outbox.add(self.settings.facts_topic, key, output_encoder.encode(fact))
        self.state.stage(dossier_id, effects.record)

    async def _deliver_then_save(self, outbox: Outbox) -> None:
        """Deliver what the batch or scan caused, then save its records: their changelog
        records are awaited before the table's store is written (streams/table.py). A
        failed delivery saves nothing (its events are not acknowledged, so they come
        again)."""
        try:
            await outbox.deliver()
        except BaseException:
            self.state.discard()
            raise
        finally:
            for kind, count in self._alerted.items():
                metrics.ALERTS.labels(kind).inc(count)
            self._alerted.clear()
        for dossier_id, record in self.state.save().items():
            if record is None:
                self.timers.unschedule(dossier_id)
                self._open.pop(dossier_id, None)
            else:
                self._index(dossier_id, record)
        await self.state.table.changelog_delivered()

    def _index(self, dossier_id: str, record: DossierRecord) -> None:
        self.timers.schedule(dossier_id, record.next_timer_at, record.partition)
        if record.open:
            overdue = record.overdue_at
            self._open[dossier_id] = overdue.timestamp() if overdue else math.inf
        else:
            self._open.pop(dossier_id, None)

    def _dead_letter(
        self, outbox: Outbox, message: Message, reason: str, event_type: str = "unknown"
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
        outbox.add(self.settings.dead_letter_topic, message.key, message.value or b"", headers)

    # --- what is said ----------------------------------------------------------------

    @staticmethod
    def _reason(exc: Exception, message: Message) -> str:
        """The dead-letter reason of an event that raised `exc`; the traceback in the log
        when it is not an `InvalidEvent`."""
        if not isinstance(exc, InvalidEvent):
            log.error("event %s[%s]@%s failed: %r", message.topic, message.partition,
                      message.offset, exc, exc_info=exc)
        return rejection_reason(exc)

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

    @staticmethod
    def _count_late(event: DossierEvent, effects: Effects) -> None:
        metrics.LATE_EVENTS.inc()
        for alert in effects.contradicted:
            metrics.ALERTS_CONTRADICTED.labels(alert.kind.value).inc()
        if effects.contradicted:
            log.warning(
                "late event %s of dossier %s (occurred %s) contradicts published alerts: %s",
                event.event_id, event.dossier_id, event.occurred_at.isoformat(),
                ", ".join(f"{a.kind.value} {a.alert_id}" for a in effects.contradicted),
            )
