"""The event-time clock of a worker: a watermark over the partitions it owns.

DOMAIN.md: the smallest of the partitions' largest `occurred_at`, where a partition with
nothing left to read holds nothing back. A partition counts as having nothing left when it
was read up to its high-water mark (aiokafka learns it from every fetch response, empty or
not; before the first fetch, the end offset the worker looked up at the assignment stands
in for it). A partition whose end is not known at all is let go after `idle_after` seconds
without data (the idleness rule of Flink's watermarks), so that it cannot stall the clock
for ever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class _PartitionProgress:
    latest: datetime | None = None
    next_offset: int = 0
    last_seen: float = 0.0
    end_at_assignment: int | None = None


@dataclass
class Watermark:
    idle_after: float = 10.0
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

    def observe(self, partition: int, offset: int, occurred_at: datetime, now: float) -> None:
        progress = self._partitions.setdefault(partition, _PartitionProgress())
        if progress.latest is None or occurred_at > progress.latest:
            progress.latest = occurred_at
        progress.next_offset = offset + 1
        progress.last_seen = now

    def advance(self, highwaters: dict[int, int | None], now: float) -> datetime | None:
        """Recompute from the partitions' high-water marks; never moves backwards."""
        holding: list[datetime | None] = []
        for partition, progress in self._partitions.items():
            highwater = highwaters.get(partition)
            if highwater is None:
                highwater = progress.end_at_assignment
            if highwater is None:
                done = now - progress.last_seen >= self.idle_after
            else:
                done = progress.next_offset >= highwater
            if not done:
                holding.append(progress.latest)
        if None in holding:
            return self._value
        latest = [p.latest for p in self._partitions.values() if p.latest is not None]
        candidate = min(holding) if holding else max(latest, default=None)  # type: ignore[type-var]
        if candidate is not None and (self._value is None or candidate > self._value):
            self._value = candidate
        return self._value
