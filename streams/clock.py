"""The worker's clock, chosen once when the worker is built: wall time or event time.

Live, a dossier is evaluated by the wall clock. A replay of history (`--event-time`) is
evaluated by the watermark of the events read so far (streams/watermark.py), a clock per
events partition: after a rebalance, the dossiers of a partition taken over wait for its
events still to be read, although the watermark is past them. The runtime asks the same
questions of both (Flink's `WatermarkStrategy`: the operators never ask which one it is).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dossierflow.streams import metrics
from dossierflow.streams.ports import Clock, PartitionEnds
from dossierflow.streams.watermark import Watermark

if TYPE_CHECKING:
    from dossierflow.streams.settings import WorkerSettings

BEFORE_ANY_EVENT = datetime.min.replace(tzinfo=UTC)
"""The event-time clock before the watermark is known: no alert is due yet."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class WallClock:
    """Wall time, for every partition alike; no event is late."""

    description = "wall time"

    def __init__(self, now: Callable[[], datetime] = _utc_now) -> None:
        self._now = now

    async def follow(
        self, owned: frozenset[int], starts: dict[int, int], seen: dict[int, datetime]
    ) -> None:
        return None

    def forget(self) -> None:
        return None

    def advance(self) -> datetime:
        return self._now()

    def start_batch(self) -> None:
        return None

    def read(self, partition: int, offset: int, occurred_at: datetime | None) -> bool:
        return False

    def of(self, partition: int) -> datetime:
        return self._now()

    def report(self) -> None:
        return None


class EventTimeClock:
    """The watermark over the owned partitions, and the clock of each (streams/watermark.py)."""

    description = "event time (watermark)"

    def __init__(
        self,
        watermark: Watermark,
        ends: PartitionEnds,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.watermark = watermark
        self._ends = ends
        self._monotonic = monotonic
        self._owned: frozenset[int] | None = None
        self._batch_highwaters: dict[int, int | None] = {}

    async def follow(
        self, owned: frozenset[int], starts: dict[int, int], seen: dict[int, datetime]
    ) -> None:
        ends = await self._ends.end_offsets(owned) if owned else {}
        self.watermark.assign(
            set(owned), self._monotonic(), positions=dict(starts), ends=ends, seen=seen
        )
        self._owned = owned

    def forget(self) -> None:
        self._owned = None  # the partitions to watch are known again once followed

    def advance(self) -> datetime | None:
        if self._owned is None:
            return None
        return self.watermark.advance(self._ends.highwaters(self._owned), self._monotonic())

    def start_batch(self) -> None:
        # The high-water marks as of the batch's start: every event in it lies below them,
        # and reading them per event would cost a lookup per partition on the hot path.
        self._batch_highwaters = self._ends.highwaters(self._owned or ())

    def read(self, partition: int, offset: int, occurred_at: datetime | None) -> bool:
        now = self._monotonic()  # once: reading and moving on are the same instant
        if occurred_at is None:  # read all the same: on towards the partition's end
            self.watermark.observe(partition, offset, None, now)
            return False
        reached = self.watermark.value_for(partition)
        # Per event, not per batch: a later event of the same dossier in this batch must
        # not already be behind the clock when an earlier one is evaluated.
        self.watermark.observe(partition, offset, occurred_at, now)
        if self._owned is not None:
            self.watermark.advance(self._batch_highwaters, now)
        return reached is not None and occurred_at < reached

    def of(self, partition: int) -> datetime:
        return self.watermark.value_for(partition) or BEFORE_ANY_EVENT

    def report(self) -> None:
        value = self.watermark.value
        if value is not None:
            metrics.EVENT_TIME_WATERMARK.set(value.timestamp())


def clock_for(settings: WorkerSettings, ends: PartitionEnds) -> Clock:
    """The worker's clock as its settings choose: the one place that asks which it is."""
    if not settings.event_time:
        return WallClock()
    watermark = Watermark(settings.idle_partition_seconds, settings.out_of_orderness)
    return EventTimeClock(watermark, ends)
