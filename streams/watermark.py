"""The event-time clock of a worker: a watermark over the partitions it owns.

docs/domain.md (*Alerts and who receives them*): the smallest of the partitions' largest
`occurred_at`, where a partition with nothing left to read holds nothing back. A partition
counts as having nothing left when it was read up to its high-water mark (aiokafka learns it
from every fetch response, empty or not; before the first fetch, the end offset the worker
looked up at the assignment stands in for it) and nothing new came from it for `idle_after`
seconds (the idleness rule of Flink's watermarks). Both are needed: a high-water mark is only
as fresh as the last fetch response, so a partition read up to it may already hold events a
producer wrote since (events in flight), and in a live stream letting it go at once would put
the clock days ahead of them. A partition whose end is not known at all is let go by idleness
alone, so that it cannot stall the clock for ever.

With a bounded out-of-orderness (Flink's `BoundedOutOfOrdernessWatermarks`) the clock trails
the smallest of the holding partitions' largest `occurred_at` by `out_of_orderness`, so an
event that occurred up to that much before one already read from its partition is still on
time. Once no partition holds (every one read to its end) the clock is the largest
`occurred_at` seen, as docs/domain.md says and as `dossierflow replay` takes it: nothing in
flight can be late any more. A malformed message (a dead letter) has no `occurred_at` but
still counts as read: a partition whose last messages are malformed is read to its end.

**A clock per partition.** The watermark never moves backwards, so a partition taken over
in a rebalance, whose events from the committed offset on are still to be read, cannot hold
it back: the survivor's watermark is already past them, and its timers of the restored
dossiers would fire ahead of those events (docs/domain.md: no alert fires ahead of events still
in flight). A dossier's events all lie in one partition, so the worker evaluates a dossier
by the clock of its partition (`value_for`): the watermark, held back to that partition's
own largest `occurred_at` (less the out-of-orderness bound) while it has more to read,
and nothing at all before its first event is read. It never passes the watermark, and never
moves backwards while the partition stays assigned. Holding the clocks per partition rather
than gating each timer on its partition leaves one rule for events and timers alike: the
late-event check, the evaluation of an event and the timer scan all ask `value_for`.
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
    clock: datetime | None = None
    """The clock of this partition's dossiers (see the module docstring)."""
    released: bool = False
    """As of the last `advance`: nothing left to read, it holds nothing back."""
    hold: datetime | None = None
    """As of the last `advance`, if not released: its latest less the out-of-orderness
    bound (None: nothing of it read yet, it holds the clock where it is)."""


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
        seen: dict[int, datetime] | None = None,
    ) -> None:
        """Watch `partitions` from now on. `positions`: where reading starts in each (the
        committed offset), so that a partition with nothing new since a restart counts as
        read to its end instead of holding the clock back for ever. `ends`: their end
        offsets now, so that a partition not fetched yet holds the clock until it is read to
        there, however slow its first fetch. `seen`: the largest `occurred_at` of the events
        already applied from each (its progress record, restored with the table:
        streams/state.py); a newly watched partition with nothing left to read counts as
        read up to there, else a restart would leave the partitions committed to their end
        out of the clock. One with more to read learns its time from the events it reads:
        those before its restored ones come again."""
        positions = positions or {}
        ends = ends or {}
        seen = seen or {}
        assigned: dict[int, _PartitionProgress] = {}
        for p in partitions:
            progress = self._partitions.get(p)
            if progress is None:
                progress = _PartitionProgress(next_offset=positions.get(p) or 0, last_seen=now)
                end = ends.get(p)
                if end is not None and progress.next_offset >= end:
                    progress.latest = seen.get(p)
            progress.end_at_assignment = ends.get(p)
            assigned[p] = progress
        self._partitions = assigned

    @property
    def value(self) -> datetime | None:
        """The clock as last advanced: alerts up to it may have been published."""
        return self._value

    def value_for(self, partition: int) -> datetime | None:
        """The clock of `partition`'s dossiers as last advanced (None: no alert is due)."""
        progress = self._partitions.get(partition)
        return progress.clock if progress is not None else None

    def observe(
        self, partition: int, offset: int, occurred_at: datetime | None, now: float
    ) -> None:
        """The message at `offset` of `partition` was read; `occurred_at` None for a
        malformed one (a dead letter)."""
        progress = self._partitions.get(partition)
        if progress is None:  # not setdefault: it would build a progress per message read
            progress = self._partitions[partition] = _PartitionProgress()
        if occurred_at is not None and (progress.latest is None or occurred_at > progress.latest):
            progress.latest = occurred_at
        progress.next_offset = offset + 1
        progress.last_seen = now

    def advance(self, highwaters: dict[int, int | None], now: float) -> datetime | None:
        """Recompute from the partitions' high-water marks, the watermark and the clock of
        every partition; neither moves backwards. Called per event read (streams/clock.py):
        one pass over the partitions, nothing allocated."""
        unknown = False  # a partition with more to read and nothing of it known yet
        smallest_hold: datetime | None = None
        largest: datetime | None = None
        for partition, progress in self._partitions.items():
            latest = progress.latest
            if latest is not None and (largest is None or latest > largest):
                largest = latest
            highwater = highwaters.get(partition)
            if highwater is None:
                highwater = progress.end_at_assignment
            more_to_read = highwater is not None and progress.next_offset < highwater
            progress.released = (
                not more_to_read and now - progress.last_seen >= self.idle_after
            )
            if progress.released:
                continue  # nothing left to read
            if latest is None:
                unknown = True
                progress.hold = None
            else:
                hold = progress.hold = latest - self.out_of_orderness
                if smallest_hold is None or hold < smallest_hold:
                    smallest_hold = hold
        # Any holding partition: the smallest hold; none: the largest `occurred_at` seen.
        candidate = None if unknown else (smallest_hold if smallest_hold is not None else largest)
        value = self._value
        if candidate is not None and (value is None or candidate > value):
            value = self._value = candidate
        if value is None:
            return None
        for progress in self._partitions.values():
            if progress.released:
                own = value
            elif progress.hold is None:
                continue  # nothing of it read and more to read: none of its alerts is due yet
            else:
                own = min(progress.hold, value)
            if progress.clock is None or own > progress.clock:
                progress.clock = own
        return value
