"""The Faust adapter around the worker's runtime: the app, its table, its topics, the
offsets and the assignment.

What the worker does with what it reads is in streams/runtime.py, free of Faust; this
module binds it to Faust. The events topic is read in batches without Faust's per-message
stream: Faust's consumer hands the events of each fetch (at most `batch_size`, its
`broker_max_poll_records`) to `_apply` in one call (`PatchedTransport.read_in_batches`,
streams/faust_patches.py); Faust keeps the group, the table with its changelog and recovery,
and the offset commits. The runtime delivers the batch's alerts, facts and dead letters
(`KafkaOutbox`) and saves its records; only then are its events acknowledged (Faust's
`Consumer.ack`), so Faust commits offsets only after what they caused is safely in Kafka:
at-least-once end to end. A batch that fails ends the process (exit code 1) rather than
being acknowledged.

The table uses the producer's partitioner (`use_partitioner=True`, raw keys = dossier_id):
a changelog entry lands on the partition of its key, the same number as the events-topic
partition of that dossier, so the timer may update records outside stream iteration. The
changelog records leave through the worker's own producer too, one batch per partition, and
are awaited before the events are acknowledged (streams/table.py).

Faust's settings, each with the reason for its value, are in streams/faust_settings.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Collection, Sequence
from typing import Any, NoReturn

import faust
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from faust.types import Message

from dossierflow.errors import exit_now
from dossierflow.kafka.consumer import (
    AUTHORIZATION_ERRORS,
    authorization_refused,
    refusal_behind,
)
from dossierflow.kafka.preflight import committed_offsets_refusal
from dossierflow.kafka.security import KafkaSecurity
from dossierflow.rules.catalog import Catalog, load_catalog
from dossierflow.streams import faust_internals, metrics
from dossierflow.streams.clock import clock_for
from dossierflow.streams.dossier_state import StateFormatError
from dossierflow.streams.faust_patches import use_patched_transport
from dossierflow.streams.faust_settings import app_settings, output_producer_settings
from dossierflow.streams.offsets import AppliedOffsets
from dossierflow.streams.outbox import KafkaOutbox
from dossierflow.streams.runtime import WorkerRuntime
from dossierflow.streams.settings import WorkerSettings
from dossierflow.streams.table import DossierTable

log = logging.getLogger(__name__)
GAUGE_INTERVAL = 1.0
"""Seconds between updates of the gauges (Prometheus scrapes far less often)."""


def stop_at_once(why: str, *, traceback: bool = True) -> NoReturn:
    """Log why (and the exception being handled) and end the process with exit code 1.

    Not Faust's crash and graceful stop, which commits on its way down whatever was
    acknowledged (with a per-message agent, the events buffered behind the failed batch;
    past the failure, since Faust skips a gap of one offset). Exiting here commits
    nothing more; a supervisor restarts the worker, which resumes from the committed offsets.
    """
    refused = refusal_behind(sys.exc_info()[1])
    if refused is not None:  # a grant removed or a password changed: exit 2, said as such
        log.critical("stopping the worker: %s", refused)
        exit_now("worker", refused)
    log.critical("stopping the worker: %s", why, exc_info=traceback)
    logging.shutdown()
    os._exit(1)


class MessagesSkipped(RuntimeError):
    """Faust dropped fetched messages before they reached the worker (streams/offsets.py)."""


class DossierWorker:
    """Binds the runtime to a Faust app, its table and its topics."""

    def __init__(
        self,
        settings: WorkerSettings,
        catalog: Catalog | None = None,
        security: KafkaSecurity | None = None,
    ) -> None:
        self.settings = settings
        self.security = security or KafkaSecurity.from_env()
        self.app = faust.App(
            settings.app_id, **app_settings(settings, self.security.as_faust_credentials())
        )
        transport = use_patched_transport(self.app)  # see streams/faust_patches.py
        self.events = self.app.topic(
            settings.events_topic, key_serializer="raw", value_serializer="raw"
        )
        self.app.topics.add(self.events)  # subscribed, read by `_apply` below
        transport.read_in_batches(settings.events_topic, self._apply)
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
        self.table.send_through(self._outbox)  # its changelog, one batch per partition
        self.runtime = WorkerRuntime(
            settings,
            catalog or load_catalog(settings.catalog),
            self.table,
            clock_for(settings, _ConsumerEnds(self.app, settings.events_topic)),
            self._outbox,
        )
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
        self.app.timer(settings.timer_interval)(self._on_timer)
        self.app.task(self._reload_catalog_on_sighup)

    # --- Kafka clients of its own ----------------------------------------------------

    async def _outbox(self) -> KafkaOutbox:
        """The outbox over this worker's own producer, started on first use."""
        if self._producer is None:
            producer = AIOKafkaProducer(
                **output_producer_settings(self.settings),
                **self.security.as_aiokafka_kwargs(),
            )
            await producer.start()
            self._producer = producer
        return KafkaOutbox(self._producer)

    async def _stop_clients(self, app: Any, /, *args: Any, **kwargs: Any) -> None:
        """On Faust's `on_before_shutdown`: flush and close the output producer, close the
        admin client."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    # --- assignment ------------------------------------------------------------------

    def _assigned_partitions(self) -> frozenset[int]:
        return frozenset(
            tp.partition
            for tp in self.app.consumer.assignment()
            if tp.topic == self.settings.events_topic
        )

    async def _follow_assignment(self) -> None:
        """After start or a rebalance, the runtime follows the partitions now owned, from
        where their reading starts. Called with the lock held once the tables are
        recovered and Faust has sought the partitions to their committed offsets: by
        `_apply` before its first batch of the assignment, by the timer when no rebalance is
        under way (whichever comes first), so that no event is evaluated against a clock
        that ignores a partition. A state this worker cannot read stops it."""
        owned = self._assigned_partitions()
        if owned == self.runtime.owned:
            return
        starts = await self._reading_starts(owned)
        try:
            await self.runtime.follow(owned, starts)
        except StateFormatError as refused:
            stop_at_once(str(refused), traceback=False)
        self._starts = starts

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
        try:
            committed = await self._admin.list_consumer_group_offsets(
                self.settings.app_id, partitions=list(tps.values())
            )
        except KafkaError:
            # aiokafka raises a partition's error as NoError: a refusal is said as such.
            refused = await asyncio.to_thread(
                committed_offsets_refusal, self.settings.bootstrap, self.security,
                self.settings.app_id, self.settings.events_topic, sorted(owned))
            if refused is not None:
                raise refused from None
            raise
        try:
            earliest = await self.app.consumer.earliest_offsets(
                *(faust.types.TP(tp.topic, tp.partition) for tp in tps.values())
            )
        except AUTHORIZATION_ERRORS as exc:  # the events' READ removed while it runs
            raise authorization_refused(exc, self.settings.app_id) from None
        starts = {}
        for p, tp in tps.items():
            meta = committed.get(tp)
            starts[p] = max(meta.offset if meta is not None else 0, earliest.get(tp) or 0, 0)
        return starts

    async def _forget_applied(self, app: Any, /, *args: Any, **kwargs: Any) -> None:
        """On Faust's `on_partitions_revoked`: reading restarts at the committed offsets,
        and the runtime waits for the new assignment to be followed."""
        self.applied.forget()
        self._assignments += 1
        self.runtime.forget()
        self._starts = {}

    # --- the events -----------------------------------------------------------------

    async def _apply(self, batch: Sequence[Message]) -> None:
        """Apply the events of one fetch; Faust's consumer acknowledges them once this
        returns. A batch that cannot be applied stops the worker, unacknowledged."""
        runtime = self.runtime
        assignments = self._assignments
        try:
            async with runtime.lock:
                if runtime.owned is None and self._of_this_generation(batch):
                    await self._follow_assignment()  # the first batch of an assignment
                settled = self._offsets_after(batch)
                await runtime.apply(batch)
        except Exception:
            stop_at_once("a batch could not be applied")
        if assignments == self._assignments:
            self.applied = settled

    def _of_this_generation(self, batch: Sequence[Message]) -> bool:
        """Whether `batch` was fetched in the current group generation: Faust lets such
        messages through only once it has sought the partitions to their committed offsets
        (a batch fetched before a rebalance may still be applied during the next one)."""
        generation = self.app.consumer_generation_id
        return all(message.generation_id == generation for message in batch)

    def _offsets_after(self, batch: Sequence[Message]) -> AppliedOffsets:
        """The applied offsets once `batch` is settled; raises if Faust dropped messages
        before it or within it."""
        after = self.applied.copy()
        for message in batch:
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
                    f"{skipped.stop - 1} never reached the worker; stopping so that a "
                    "restart reads them from the committed offset"
                )
            after.applied(message.partition, message.offset)
        return after

    # --- timer and signals -----------------------------------------------------------

    async def _on_timer(self) -> None:
        if self.app.rebalancing or not faust_internals.first_recovery_completed(self.app):
            return
        try:
            if self._assigned_partitions() != self.runtime.owned:
                async with self.runtime.lock:
                    await self._follow_assignment()
            clock = await self.runtime.fire_due_timers()
        except Exception:
            # As for a batch: Faust's crash path would commit past what was not delivered,
            # and the dossiers taken off the timer index would lose their timers.
            stop_at_once("a timer scan could not be delivered")
        owned = self.runtime.owned
        if clock is None or owned is None:
            return
        if time.monotonic() - self._gauges_at >= GAUGE_INTERVAL:
            self.runtime.update_gauges(clock)
            self._update_lag_gauges(owned)
            self._gauges_at = time.monotonic()

    def _update_lag_gauges(self, owned: frozenset[int]) -> None:
        metrics.forget_lag_of_partitions_not_in(owned)
        ends = _ConsumerEnds(self.app, self.settings.events_topic)
        for partition, highwater in ends.highwaters(owned).items():
            tp = faust.types.TP(self.settings.events_topic, partition)
            position = faust_internals.last_read_offset(self.app, tp)
            if highwater is not None:
                metrics.set_consumer_lag(
                    partition, max(0, highwater - (position + 1 if position is not None else 0))
                )

    async def _reload_catalog_on_sighup(self) -> None:
        """A task for the worker's life: SIGHUP reloads the catalogue file."""
        requested = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, requested.set)
        while True:
            await requested.wait()
            requested.clear()
            try:
                await self.runtime.reload_catalog()
            except Exception:
                stop_at_once("the dossiers re-evaluated with the new catalogue were not published")


class _ConsumerEnds:
    """Where the events partitions end, as Faust's consumer knows it (`PartitionEnds`)."""

    def __init__(self, app: faust.App, topic: str) -> None:
        self._app = app
        self._topic = topic

    def highwaters(self, partitions: Collection[int]) -> dict[int, int | None]:
        return {p: self._highwater(p) for p in partitions}

    def _highwater(self, partition: int) -> int | None:
        try:
            value = self._app.consumer.highwater(faust.types.TP(self._topic, partition))
        except Exception:  # not fetched from yet
            return None
        return int(value) if value is not None else None

    async def end_offsets(self, partitions: Collection[int]) -> dict[int, int]:
        tps = {p: faust.types.TP(self._topic, p) for p in partitions}
        ends = await self._app.consumer.highwaters(*tps.values()) if tps else {}
        return {p: int(ends[tp]) for p, tp in tps.items() if ends.get(tp) is not None}
