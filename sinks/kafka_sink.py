"""The sink's consumer loop: facts and alerts topics -> ClickHouse.

Its own consumer group, auto-commit off. Records are buffered per partition; a partition's
buffer is written as one `SinkBatch` when it is big enough or old enough, and its offset is
committed only after the sink returned. So a crash at any point re-delivers at most the
uncommitted batches, which the idempotent tables absorb (see `sinks/clickhouse.py`).

While the store is unreachable the sink raises `SinkBackpressureError`: every assigned
partition is paused (the consumer keeps polling, so it stays in the group without fetching),
the same batch is offered again after an exponential backoff, and the partitions resume once
it is stored. Nothing is skipped: offsets never move past an unstored record. Breach alerts
do not wait for any of this; they are produced upstream by the worker.

The process around it (`dossierflow/sink_service.py`) also serves the reports and the probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaConnectionError

from dossierflow.health import (
    Readiness,
)
from dossierflow.kafka.consumer import (
    committing_consumer,
    getmany_or_refused,
    start_or_refused,
)
from dossierflow.kafka.credentials_watch import until_refused
from dossierflow.kafka.startup_wait import StartupWait
from dossierflow.schemas.facts import DossierAlert, DossierFact, alert_decoder, fact_decoder
from dossierflow.sinks import metrics
from dossierflow.sinks.base import (
    BatchingSink,
    SinkBackpressureError,
    SinkBatch,
    digest_payloads,
)
from dossierflow.sinks.rollup_refresh import RollupRefresher
from dossierflow.sinks.settings import SinkSettings

log = logging.getLogger(__name__)

SinkRecord = DossierFact | DossierAlert
"""What the sink stores: a fact or an alert (the worker's per-dossier state is `DossierRecord`)."""


@dataclass
class _Buffer:
    """Records of one partition read but not yet stored."""

    records: list[SinkRecord] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    first_offset: int = -1
    last_offset: int = -1
    started: float = 0.0

    def add(self, offset: int, payload: bytes, record: SinkRecord | None, now: float) -> None:
        if self.first_offset < 0:
            self.first_offset, self.started = offset, now
        self.last_offset = offset
        self.payloads.append(payload)
        if record is not None:
            self.records.append(record)

    def batch(self, tp: TopicPartition) -> SinkBatch[SinkRecord]:
        return SinkBatch(
            topic=tp.topic,
            partition=tp.partition,
            first_offset=self.first_offset,
            last_offset=self.last_offset,
            records=tuple(self.records),
            payload_digest=digest_payloads(self.payloads),
        )


@dataclass
class SinkStatus:
    """What /healthz and /readyz report."""

    store: str
    kafka_reachable: bool = False
    assigned: bool = False
    """The consumer group has given this member its partitions (possibly none)."""
    written_records: int = 0
    written_batches: int = 0
    undecodable: int = 0
    consecutive_failures: int = 0
    paused: bool = False
    last_error: str | None = None
    committed: dict[str, int] = field(default_factory=dict)

    def readiness(self, bootstrap: str) -> Readiness:
        reasons = []
        if not self.kafka_reachable:
            reasons.append(f"Kafka at {bootstrap} is unreachable")
        elif not self.assigned:
            reasons.append("waiting for the consumer group to assign partitions")
        if self.paused:
            reasons.append(f"the store {self.store} is unavailable: {self.last_error}")
        return Readiness(tuple(reasons))

    def as_dict(self) -> dict[str, Any]:
        if not self.kafka_reachable:
            state = "kafka_unavailable"
        elif self.paused:
            state = "store_unavailable"
        else:
            state = "ok" if self.assigned else "starting"
        return {
            "status": state,
            "store": self.store,
            "written_records": self.written_records,
            "written_batches": self.written_batches,
            "undecodable": self.undecodable,
            "consecutive_failures": self.consecutive_failures,
            "paused": self.paused,
            "last_error": self.last_error,
            "committed": dict(sorted(self.committed.items())),
        }


def backoff_delay(base: float, failures: int, cap: float) -> float:
    """`base`, 2×, 4×, ... after consecutive failures, at most `cap` seconds."""
    return float(min(cap, base * 2 ** max(0, failures - 1)))


class SinkRunner:
    """Drives one consumer into one `BatchingSink`, committing after each stored batch."""

    def __init__(
        self,
        consumer: Any,
        sink: BatchingSink[SinkRecord],
        settings: SinkSettings,
        status: SinkStatus,
        clock: Callable[[], float] = time.monotonic,
        refresher: RollupRefresher | None = None,
    ) -> None:
        self.consumer = consumer
        self.sink = sink
        self.settings = settings
        self.status = status
        self.clock = clock
        self.refresher = refresher
        """Asks for a rebuild of the dashboards' rollup after facts were written."""
        self._buffers: dict[TopicPartition, _Buffer] = {}
        self._decoders: dict[str, Callable[[bytes], SinkRecord]] = {
            settings.facts_topic: fact_decoder.decode,
            settings.alerts_topic: alert_decoder.decode,
        }
        self._retry_at = 0.0

    @property
    def topics(self) -> tuple[str, ...]:
        return (self.settings.facts_topic, self.settings.alerts_topic)

    def listener(self) -> ConsumerRebalanceListener:
        runner = self

        class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
                runner.status.assigned = False
                # Not committed, so the next owner reads them again; the tables absorb it.
                for tp in revoked:
                    runner._buffers.pop(tp, None)

            async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
                runner.status.assigned = True
                if runner.status.paused and assigned:
                    runner.consumer.pause(*assigned)

        return _Listener()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, then store and commit what is buffered (best effort)."""
        while not stop.is_set():
            await until_refused(self.poll_once())
        await self.flush(force=True)

    async def poll_once(self) -> None:
        timeout_ms = int(self.settings.poll_timeout * 1000)
        fetched = await getmany_or_refused(self.consumer, self.settings.group_id,
                                           timeout_ms=timeout_ms,
                                           max_records=self.settings.batch_size)
        now = self.clock()
        for tp, messages in fetched.items():
            buffer = self._buffers.setdefault(tp, _Buffer())
            for message in messages:
                buffer.add(message.offset, message.value or b"", self._decode(message), now)
        await self.flush(force=False)
        if self.refresher is not None and self.refresher.due:
            await asyncio.to_thread(self.refresher.refresh_if_behind)

    def _decode(self, message: Any) -> SinkRecord | None:
        """A record, or None for bytes that are not one (counted and logged; retrying a
        malformed record can never succeed, and it must not block its partition)."""
        try:
            return self._decoders[message.topic](message.value or b"")
        except (msgspec.DecodeError, KeyError) as exc:
            self.status.undecodable += 1
            log.error(
                "skipping undecodable record %s[%d]@%d: %s",
                message.topic, message.partition, message.offset, exc,
            )
            return None

    async def flush(self, *, force: bool) -> None:
        """Write the partitions whose buffer is due (all with `force`), in offset order."""
        now = self.clock()
        if self.status.paused and now < self._retry_at:
            return
        for tp, buffer in list(self._buffers.items()):
            due = (
                force
                or self.status.paused
                or len(buffer.payloads) >= self.settings.batch_size
                or now - buffer.started >= self.settings.batch_max_age
            )
            if due and not await self._write(tp, buffer):
                return
        if self.status.paused:
            self._resume()

    async def _write(self, tp: TopicPartition, buffer: _Buffer) -> bool:
        batch = buffer.batch(tp)
        try:
            if batch.records:
                await asyncio.to_thread(self.sink.write, batch)
        except SinkBackpressureError as exc:
            metrics.INSERT_FAILURES.inc()
            self._backoff(exc)
            return False
        self.status.written_records += len(batch.records)
        self.status.written_batches += 1
        if self.refresher is not None and batch.records and tp.topic == self.settings.facts_topic:
            self.refresher.wrote_facts()
        try:
            await self.consumer.commit({tp: batch.last_offset + 1})
        except (CommitFailedError, IllegalStateError) as exc:
            # The partition moved to another member meanwhile; it re-reads from the last
            # commit and the tables absorb the repeat.
            log.warning("commit of %s failed after a rebalance: %s", tp, exc)
        else:
            self.status.committed[f"{tp.topic}/{tp.partition}"] = batch.last_offset + 1
        if self._buffers.get(tp) is buffer:
            del self._buffers[tp]
        return True

    def _backoff(self, exc: SinkBackpressureError) -> None:
        self.status.consecutive_failures += 1
        self.status.last_error = exc.reason
        delay = backoff_delay(
            exc.retry_after, self.status.consecutive_failures, self.settings.backoff_max
        )
        self._retry_at = self.clock() + delay
        if not self.status.paused:
            assigned = self.consumer.assignment()
            if assigned:
                self.consumer.pause(*assigned)
            self.status.paused = True
        log.warning("store unavailable (%s); retrying in %.1f s", exc.reason, delay)

    def _resume(self) -> None:
        assigned = self.consumer.assignment()
        if assigned:
            self.consumer.resume(*assigned)
        self.status.paused = False
        self.status.consecutive_failures = 0
        log.info("store reachable again; partitions resumed")


def make_consumer(settings: SinkSettings) -> AIOKafkaConsumer:
    """A consumer in the sink's own group; nothing is committed but by `SinkRunner`."""
    return committing_consumer(settings.bootstrap, settings.group_id)


async def start_consumer(consumer: Any, settings: SinkSettings, stop: asyncio.Event) -> bool:
    """`consumer.start()`, retried while no broker answers, as `StartupWait` says.
    False when `stop` was set meanwhile."""
    waiting = StartupWait(settings.bootstrap, settings.startup_wait)
    while not stop.is_set():
        try:
            await start_or_refused(consumer, settings.bootstrap, settings.group_id)
            return True
        except KafkaConnectionError as exc:
            waiting.failed(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    return False
