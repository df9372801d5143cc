"""The event-time clock of a worker: a watermark over the partitions it owns.

DOMAIN.md: the smallest of the partitions' largest `occurred_at`, where a partition with
nothing left to read holds nothing back. A partition counts as having nothing left when it
was read up to its high-water mark (aiokafka learns it from every fetch response, empty or
not; before the first fetch, the end offset the worker looked up at the assignment stands
in for it). A partition whose end is not known at all is let go after `idle_after` seconds
without data (the idleness rule of Flink's watermarks), so that it cannot stall the clock
for ever.

With a bounded out-of-orderness (Flink's `BoundedOutOfOrdernessWatermarks`) the clock trails
the smallest of the holding partitions' largest `occurred_at` by `out_of_orderness`, so an
event that occurred up to that much before one already read from its partition is still on
time. Once no partition holds (every one read to its end) the clock is the largest
`occurred_at` seen, as DOMAIN.md says and as `dossierflow replay` takes it: nothing in
flight can be late any more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class _PartitionProgress:
    latest: datetime | None = None
    next_offset: int = 0
    last_seen: float = 0.0
    end_at_assignment: int | None = None


@dataclass
class Watermark:
    idle_after: float = 10.0
    out_of_orderness: timedelta = timedelta(0)
    _partitions: dict[int, _PartitionProgress] = field(default_factory=dict)
    _value: datetime | None = None

    def assign(
        self,
        partitions: set[int],
        now: float,
        positions: dict[int, int | None] | None = None,
        ends: dict[int, int] | None = None,
    ) -> None:
        """Watch `partitions` from now on. `positions`: where reading starts in each (the
        committed offset), so that a partition with nothing new since a restart counts as
        read to its end instead of holding the clock back for ever. `ends`: their end
        offsets now, so that a partition not fetched yet holds the clock until it is read
        to there, however slow its first fetch."""
        positions = positions or {}
        ends = ends or {}
        assigned: dict[int, _PartitionProgress] = {}
        for p in partitions:
            progress = self._partitions.get(p) or _PartitionProgress(
                next_offset=positions.get(p) or 0, last_seen=now
            )
            progress.end_at_assignment = ends.get(p)
            assigned[p] = progress
        self._partitions = assigned

    @property
    def value(self) -> datetime | None:
        """The clock as last advanced: alerts up to it may have been published."""
        return self._value

    def observe(
        self, partition: int, offset: int, occurred_at: datetime | None, now: float
    ) -> None:
        """Record that `offset` of `partition` was read. `occurred_at` is None for a message
        that is not an event (a dead letter): it carries no time, but it still counts as
        read, or a partition ending in malformed messages would hold the clock for ever."""
        progress = self._partitions.setdefault(partition, _PartitionProgress())
        if occurred_at is not None and (progress.latest is None or occurred_at > progress.latest):
            progress.latest = occurred_at
        progress.next_offset = offset + 1
        progress.last_seen = now

    def advance(self, highwaters: dict[int, int | None], now: float) -> datetime | None:
        """Recompute from the partitions' high-water marks; never moves backwards."""
        holding: list[datetime] = []
        for partition, progress in self._partitions.items():
            highwater = highwaters.get(partition)
            if highwater is None:
                highwater = progress.end_at_assignment
            if highwater is None:
                done = now - progress.last_seen >= self.idle_after
            else:
                done = progress.next_offset >= highwater
            if done:
                continue
            if progress.latest is None:  # more to read, and nothing known of it yet
                return self._value
            holding.append(progress.latest)
        candidate: datetime | None
        if holding:
            candidate = min(holding) - self.out_of_orderness
        else:
            candidate = max(
                (p.latest for p in self._partitions.values() if p.latest is not None),
                default=None,
            )
        if candidate is not None and (self._value is None or candidate > self._value):
            self._value = candidate
        return self._value
