"""Corrections to Faust that the worker applies through Faust's own extension points.

**Events lost when a recovery completes** (faust-streaming #596, open; aiokafka #1003).
Two defects, each corrected here; checked against faust-streaming 0.15.3 and aiokafka
0.14.0 (pinned in constraints.txt).

1. *Resume before seek.* Faust's `Recovery.on_recovery_completed` resumes the stream
   partitions, awaits the seek to the committed offsets, then resumes the flow control,
   which empties every stream buffer (the order since faust-streaming #241). The fetcher
   already runs (it read the changelogs), so while the seek awaits the broker it hands the
   agent events that are then thrown away, or dropped as already read once the seek has
   moved the fetch position back; a partition without a committed offset, or with 0, is
   not sought at all (aiokafka's `seek_to_committed`, aiokafka #1003), so reading goes on
   after the thrown-away events. `SeekBeforeResumeRecovery` seeks while the stream
   partitions are still paused (those without a committed offset to where
   `consumer_auto_offset_reset` starts reading, in the consumer's thread as every aiokafka
   call must be), empties the buffers and only then resumes them, with no await between.

2. *An empty set of active partitions reads as "every partition".* Faust's aiokafka
   driver runs aiokafka in a thread of its own; each fetch hands it Faust's live set of
   active partitions (`Consumer._wait_next_records` -> `AIOKafkaConsumerThread._fetch_records`
   -> aiokafka `Fetcher.fetched_records(partitions)`), and aiokafka returns only the
   partitions in that set, unless it is empty (`if partitions and tp not in partitions`):
   then it returns, and moves the fetch position past, the records of every assigned
   partition. Faust checks the set only when it sends the request; a fetch waits up to a
   second for records, and between the end of the changelog reading (the changelog
   partitions paused) and the resumption of the stream partitions the set is empty. A
   fetch under way then takes the stream partitions' records (just read again from the
   committed offsets by the seek of 1.) and Faust drops them, as not active: the fetch
   positions are at the end, Faust's read offsets still at the committed ones, and the
   restarted worker reads nothing until new events come (then the offsets guard stops it
   on the gap). This left 1 restart in 3 of the restart test hanging with 1. alone.
   `ActivePartitionsConsumer` hands aiokafka a view of the live set that is never empty
   (`_OnlyThese`): no partition, not every partition, when Faust has none active.

**Reading a topic in batches** (not a defect: the worker's throughput, issue 21). Faust hands
each fetched message on by itself: its drain loop awaits `wait_first(callback(message),
suspend_flow)` (four futures a message), the conductor takes a lock to find the partition's
callback, waits on the flow control, decodes an `Event` and queues it, and the stream takes it
off the queue and acknowledges it: about 45 µs of the worker's CPU an event, more than the
rules (docs/benchmarks.md). `PatchedTransport.read_in_batches(topic, apply)` makes
`ActivePartitionsConsumer` take that topic's records of each fetch out before Faust's
`getmany` iterates it (`_wait_next_records`) and hand them to `apply` in one call once the
rest of the fetch is read; every other topic (the changelogs, recovered or standby) keeps
Faust's path. What that path did for these messages is kept, each check made once per
partition or fetch rather than per message (`_read_batch`): nothing when the flow stopped or
the group generation changed since the fetch, only active (or buffered) partitions, the
partition's end offset tracked for Faust's monitor, the messages in the round-robin order of
Faust's scheduler; messages older than Faust's read offset (read again after a seek back)
dropped and a gap in offsets recorded for the commit (the drain loop's rules, its read
offsets updated), the gap without the message after it: the drain loop's takes that
message's offset in too (`_add_gap(tp, r_offset + 1, offset)`, its end inclusive), which the commit
(`Consumer._new_offset`) then finds twice among the acknowledged offsets, stops at, and
stalls behind (faust-streaming #606, open; robinhood/faust #625): events written in
transactions (a marker between them) left the commit at 41 and 65 of 685 on main
(tests/test_faust_patches.py). A fetch read while the flow stopped (for a rebalance, which
Faust stops it for before a member owning partitions joins a new group generation, or a
stop; Faust's own `getmany` then cuts it short) hands nothing on and acknowledges nothing, as
the stream would skip it. The batch is tracked as unacknowledged (`Consumer.unacked`, one
message standing for the batch) until it is acknowledged, so a rebalance or a stop waits for
it (`stream_wait_empty`), and it is applied and acknowledged even if the fetcher is stopped
meanwhile (shielded from its cancellation). It is acknowledged as `Consumer.ack` acknowledges
each message, the bookkeeping done once per partition (`_ack_batch`: the same acknowledged
offsets, index and count, so Faust's commit logic is unchanged; 0.12 µs a message against
0.70 for `Consumer.ack` and 0.19 for tracking each message, on batches of 500), and a commit
is made every `broker_commit_every` acknowledgements as the drain loop does. The stream's
sensors and Faust's producer back-pressure are not called: the worker measures itself and
sends through its own producer; `Monitor.stream_inbound_time` is set per partition of a
batch, so Faust's slow-processing check sees the partition served. `apply` raising ends the
drain loop, as a failed message would; nothing of that batch is acknowledged.

**The broker's wait for a fetch** (not a defect: the live latency, issue 21). Faust builds the
worker's aiokafka consumer with `fetch_max_wait_ms=1500`, a literal with no setting. aiokafka
keeps one fetch request in flight per broker, for the partitions with nothing buffered at the
moment it is sent; while the events' records are buffered, that is Faust's
`<app>-__assignor-__leader` partition alone, never written, so the broker holds the request
that long and the events wait behind it once taken: a live worker at 2,000 events/s stalled
1.52 s in one such fetch, its p99 2.0 s (docs/benchmarks.md). `ShortFetchWaitConsumerThread`
builds it with `FETCH_MAX_WAIT_MS`, and pauses that partition in aiokafka on each assignment
(Faust's own pause only filters what it reads; aiokafka fetches every assigned partition).
With 100 ms alone the request for it still took the broker's one fetch slot whenever the
events' records were buffered past aiokafka's 100 ms prefetch backoff (a long batch), and the
worker, done with the batch, waited up to 100 ms for the next events behind it, which then
came as a larger batch: a trace of a 10-s run at 2,000 events/s showed that cycle every
1-2 s, 70-85 ms each (docs/benchmarks.md). Faust only reads the partition's assignment.

`tests/test_faust_patches.py` fails when an upgrade changes a method replaced or relied on
here, or when Faust no longer loses the events without these patches;
`tests/test_faust_fetch_wait.py` when the worker's consumer waits longer or fetches the
assignor partition.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Sequence
from dataclasses import dataclass
from itertools import chain, zip_longest
from time import monotonic
from typing import Any, cast

from aiokafka import TopicPartition
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.transport.consumer import RecordMap
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, Message
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

from dossierflow.streams.faust_internals import leader_topic

BatchApply = Callable[[Sequence[Message]], Awaitable[None]]
"""Applies the messages of one fetch; returns once they may be acknowledged."""


class _OnlyThese:
    """Membership in Faust's live set of active partitions, true even when it is empty
    (aiokafka's fetcher reads a false `partitions` as every partition)."""

    __slots__ = ("_live",)

    def __init__(self, live: Container[TP]) -> None:
        self._live = live

    def __bool__(self) -> bool:
        return True

    def __contains__(self, tp: object) -> bool:
        return tp in self._live


@dataclass(frozen=True)
class BatchReading:
    """The topic read in batches and what applies each batch (`read_in_batches`)."""

    topic: str
    apply: BatchApply


FETCH_MAX_WAIT_MS = 100
"""Longest a fetch request waits at the broker for records (Faust: 1,500 ms, see above): at
most this much latency behind a fetch of idle partitions, for at most ten empty fetches a
second from an idle worker. Kafka's Java consumer has 500 ms; the latency goal is 200 ms."""


class ShortFetchWaitConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """Faust's consumer thread, its worker consumer fetching with `FETCH_MAX_WAIT_MS` and
    never fetching the leader assignor's partition (see above)."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka's Fetcher takes the value from here when the consumer starts.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        # In the consumer's thread, aiokafka's new assignment taken (its partitions unpaused).
        idle = leader_topic(self.app)
        never_written = [TopicPartition(tp.topic, tp.partition) for tp in assigned
                         if tp.topic == idle]
        if never_written:
            self._ensure_consumer().pause(*never_written)
        await super().on_partitions_assigned(assigned, generation_id)


class ActivePartitionsConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer, fetching no partition when none is active, and handing
    the messages of the topic read in batches on in one call per fetch (see above), its
    thread's consumer fetching with a short wait."""

    def _new_consumer_thread(self) -> aiokafka_driver.AIOKafkaConsumerThread:
        return ShortFetchWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> RecordMap:
        if active_partitions is None:  # a client-only app reads every assigned partition
            return await super()._getmany(None, timeout)
        only = cast(set[TP], _OnlyThese(active_partitions))
        return await super()._getmany(only, timeout)

    _fetched_batch: tuple[RecordMap, set[TP] | None, int] | None = None
    """The batch topic's records of the fetch `getmany` is reading, the active partitions
    and the group generation when it was fetched (`_wait_next_records`)."""

    async def _wait_next_records(
        self, timeout: float
    ) -> tuple[RecordMap | None, set[TP] | None]:
        records, active = await super()._wait_next_records(timeout)
        reading = cast(PatchedTransport, self.transport).batches
        if reading is None or not records:
            return records, active
        mine = {tp: part for tp, part in records.items() if tp.topic == reading.topic}
        if not mine:
            return records, active
        self._fetched_batch = mine, active, self.app.consumer_generation_id
        return {tp: part for tp, part in records.items() if tp.topic != reading.topic}, active

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        # Faust's drain loop and conductor, message by message, for every other topic.
        async for tp, message in super().getmany(timeout):
            yield tp, message
        reading = cast(PatchedTransport, self.transport).batches
        fetched, self._fetched_batch = self._fetched_batch, None
        if reading is None or fetched is None:
            return
        records, active, generation = fetched
        # Faust's getmany hands nothing on once the flow stopped or the generation changed.
        if self.should_stop or generation != self.app.consumer_generation_id:
            return
        if not (self.flow_active and self.app.flow_control.is_active()):
            return
        batch = await self._read_batch(records, active)
        if batch:
            await asyncio.shield(self._apply_and_ack(reading.apply, batch))

    async def _read_batch(self, records: RecordMap, active: set[TP] | None) -> list[Message]:
        """What Faust's getmany and drain loop hand on of `records`, their checks made once
        per partition: an active (or buffered) partition's records at or past its read
        offset, its gaps recorded, in the round-robin order of Faust's default scheduler."""
        read_offset = self._read_offset
        buffered = self._buffered_partitions
        track_end_offset = self.app.monitor.track_tp_end_offset
        to_message = self._to_message
        runs: list[list[Message]] = []
        for tp, part in records.items():
            if not (active is None or tp in active or tp in buffered) or not part:
                continue
            track_end_offset(tp, self.highwater(tp))
            last = read_offset[tp]
            if last is not None and part[0].offset < last:
                # Read before a seek back: the drain loop drops them too.
                part = [record for record in part if record.offset >= last]
                if not part:
                    continue
            await self._add_gaps(tp, last, part)
            read_offset[tp] = part[-1].offset
            runs.append([to_message(tp, record) for record in part])
        if len(runs) == 1:
            return runs[0]
        return [m for m in chain.from_iterable(zip_longest(*runs)) if m is not None]

    async def _add_gaps(self, tp: TP, last: int | None, part: Sequence[Any]) -> None:
        """Record the offsets that no record of `part` has, after the read offset `last`
        (the drain loop's rule: none after a read offset of 0 or None), without the record
        after each gap (see above)."""
        first = part[0].offset
        if part[-1].offset - first == len(part) - 1:  # contiguous: a gap before it at most
            if last and first - last > 1:
                await self._add_gap(tp, last + 1, first - 1)
            return
        previous = last
        for record in part:
            offset = record.offset
            if previous and offset - previous > 1:
                await self._add_gap(tp, previous + 1, offset - 1)
            previous = offset

    async def _apply_and_ack(self, apply: BatchApply, batch: list[Message]) -> None:
        # The flow is checked here, in the task (`asyncio.shield` starts it after the tasks
        # ready by then), with no await before the batch is tracked: a rebalance or a stop
        # that stopped the flow first found nothing to wait for and revokes its partitions.
        if not (self.flow_active and self.app.flow_control.is_active()):
            return
        # One message of the batch stands for all of it among the unacknowledged: they are
        # acknowledged together, with no await between, and Faust's wait_empty only asks
        # whether any message that started is not acknowledged yet.
        unacked = self.unacked
        standing_for_all = batch[-1]
        unacked.add(standing_for_all)
        inbound = self.app.monitor.stream_inbound_time
        now = monotonic()
        for tp in {message.tp for message in batch}:
            inbound[tp] = now
        await apply(batch)
        self._ack_batch(batch)
        unacked.discard(standing_for_all)
        every = self._commit_every
        if every is not None and self._n_acked >= every:
            self._n_acked = 0
            await self.commit()

    def _ack_batch(self, batch: list[Message]) -> None:
        """`Consumer.ack` on each message of `batch` (one topic), its bookkeeping done once
        per partition: the same acknowledged offsets, index and count as message by message."""
        fresh: dict[TP, list[int]] = {}
        with ack_lock:
            for message in batch:
                if not message.acked:
                    message.acked = True
                    offsets = fresh.get(message.tp)
                    if offsets is None:
                        offsets = fresh[message.tp] = []
                    offsets.append(message.offset)
            if not fresh or not self.app.topics.acks_enabled_for(batch[0].topic):
                return
            for tp, offsets in fresh.items():
                self._n_acked += self._ack_offsets(tp, offsets)
            notify(self._waiting_for_ack)

    def _ack_offsets(self, tp: TP, offsets: list[int]) -> int:
        """Record `tp`'s `offsets` (in offset order) as `Consumer.ack` does one by one: those
        below the committed offset, or acknowledged already, are not; how many were."""
        committed = self._committed_offset[tp]
        if committed is not None and offsets[0] < committed:
            offsets = offsets[bisect_left(offsets, committed):]
            if not offsets:
                return 0
        acked_index = self._acked_index[tp]
        distinct = set(offsets)
        if len(distinct) < len(offsets) or not acked_index.isdisjoint(distinct):
            offsets = [o for o in dict.fromkeys(offsets) if o not in acked_index]
            distinct = set(offsets)
        if offsets:
            acked_index |= distinct
            self._acked[tp].extend(offsets)
        return len(offsets)


class PatchedTransport(aiokafka_driver.Transport):
    """Faust's aiokafka transport with `ActivePartitionsConsumer`; `use_patched_transport`."""

    Consumer = ActivePartitionsConsumer
    batches: BatchReading | None = None

    def read_in_batches(self, topic: str, apply: BatchApply) -> None:
        """Hand `topic`'s messages to `apply`, one call per fetch (see above); before the
        app starts. The topic must be subscribed (`app.topics.add`) and have acks enabled."""
        self.batches = BatchReading(topic, apply)


def use_patched_transport(app: Any) -> PatchedTransport:
    """Give `app` (a faust.App, before its first topic or consumer) `PatchedTransport`."""
    transport = PatchedTransport(app.conf.broker_consumer, app)
    app.transport = transport
    return transport


class SeekBeforeResumeRecovery(Recovery):
    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """Faust's method, with the stream partitions resumed after the seek (see above)."""
        app = cast(Any, self.app)
        consumer = app.consumer
        self.log.info("Restore complete!")
        await app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [
            asyncio.ensure_future(
                table.on_recovery_completed(
                    self.actives_for_table[table], self.standbys_for_table[table]
                )
            )
            for table in self.tables.values()
        ]
        if callbacks:
            await asyncio.wait(callbacks)
        if app.consumer_generation_id != generation_id:
            self.log.warning(
                "Recovery rebalancing again app id %s param %s",
                app.consumer_generation_id, generation_id,
            )
            return
        assignment = consumer.assignment()
        streams = {tp for tp in assignment if not self._is_changelog_tp(tp)}
        if assignment:
            self.log.info("Seek stream partitions to committed offsets.")
            await self._wait(
                self._seek_to_reading_start(consumer, streams),
                timeout=app.conf.broker_request_timeout,
            )
        self.completed.set()
        app.flow_control.resume()  # empties the stream buffers
        consumer.resume_partitions(streams)
        consumer.resume_flow()
        await app._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        app.on_rebalance_end()
        self.log.info("Worker ready")

    async def _seek_to_reading_start(self, consumer: Any, streams: set[Any]) -> None:
        """Every stream partition to its committed offset; one without (or with 0, which
        aiokafka does not seek to either) to where `consumer_auto_offset_reset` starts."""
        await consumer.perform_seek()
        # Faust keeps no public getter for the committed offsets perform_seek read.
        uncommitted = [tp for tp in streams if not consumer._committed_offset.get(tp)]
        if not uncommitted:
            return
        if self.app.conf.consumer_auto_offset_reset == "latest":
            starts = await consumer.highwaters(*uncommitted)
        else:
            starts = await consumer.earliest_offsets(*uncommitted)
        # seek_wait seeks in the consumer's thread (Consumer.seek would call aiokafka from
        # this one) and sets Faust's read offsets as Consumer.seek does.
        await consumer.seek_wait(starts)


class PatchedTableManager(TableManager):
    """Faust's table manager with `SeekBeforeResumeRecovery`; `faust.App(TableManager=...)`."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekBeforeResumeRecovery(
                self.app, self, beacon=self.beacon, loop=self.loop
            )
        return self._recovery
