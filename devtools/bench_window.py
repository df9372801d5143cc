"""The window in which devtools/bench_pipeline.py times a worker, taken without observing it.

The anchor (devtools/empty_agent.py) times itself, from its first event to its last. The
worker is timed from what it left in Kafka instead: it appends its facts to a Kafka record
batch as it delivers each batch of events (streams/outbox.py, `timestamp=None`: aiokafka
stamps each record with the wall clock when appended, and the broker keeps that
CreateTime), one fact at least for each event it applied. So the CreateTimes of the facts
mark the end of the rules of each batch of events. Grouped into batches (`output_batches`),
the interval from the first batch's mark to the last one's holds exactly the whole cycles of
the batches after the first (the delivery and saving of the one before, the fetch, the rules
up to the append) and counts those batches' events only: the first batch's rules come before
the window, so its events are left out; the last one's delivery after it, like the anchor's
exit after its last event. The CPU at those instants is interpolated between samples of
/proc/PID/stat that this process takes every few milliseconds (`interpolate`): reading them
costs the worker nothing, where scraping its /metrics page did (prometheus-client renders
every metric and reads /proc in the worker's process).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

BATCH_GAP_SECONDS = 0.02
"""Facts whose CreateTimes are closer than this belong to one delivery: a delivery appends
its records within a few milliseconds, and the next comes after the rules of its batch (≥ 20
ms for a batch of a few hundred events). Two small batches closer than this merge into one,
which only makes the window's ends coarser: each mark is the *last* record of its group."""


@dataclass(frozen=True)
class OutputBatch:
    """A group of facts appended together: the CreateTime of its last (Unix seconds) and how
    many events it is the first fact of."""

    at: float
    events: int


def output_batches(first_seen: Iterable[float],
                   gap: float = BATCH_GAP_SECONDS) -> list[OutputBatch]:
    """The batches of events' first facts (their CreateTimes, any order), in time order: a
    new batch starts where the next time is more than `gap` after the one before."""
    batches: list[OutputBatch] = []
    last, events = float("nan"), 0
    for at in sorted(first_seen):
        if events and at - last > gap:
            batches.append(OutputBatch(last, events))
            events = 0
        last, events = at, events + 1
    if events:
        batches.append(OutputBatch(last, events))
    return batches


@dataclass(frozen=True)
class AppliedTimeline:
    """When the events were applied, from the worker's output batches, in events of the
    topic: each fact-bearing event counts `scale` events (the topic's events over the events
    with a fact; a duplicate is read and dropped without one)."""

    batches: Sequence[OutputBatch]
    scale: float = 1.0

    def __post_init__(self) -> None:
        if len(self.batches) < 2:
            raise ValueError(f"{len(self.batches)} output batch(es): no window to time")

    @property
    def first(self) -> float:
        return self.batches[0].at

    @property
    def last(self) -> float:
        return self.batches[-1].at

    def mark_of(self, at: float) -> float:
        """The mark of the batch holding instant `at` (the first mark at or after it)."""
        marks = [b.at for b in self.batches]
        return marks[min(len(marks) - 1, bisect.bisect_left(marks, at))]

    def applied_after(self, mark: float) -> float:
        """Events applied in the batches after the one marked `mark`, to the last."""
        return self.scale * sum(b.events for b in self.batches if b.at > mark)

    def mark_reached(self, share: float) -> float:
        """The first mark by which `share` of the events were applied."""
        goal = share * sum(b.events for b in self.batches)
        applied = 0
        for batch in self.batches:
            applied += batch.events
            if applied >= goal:
                return batch.at
        return self.last

    def rate_between(self, start: float, end: float) -> float:
        """Events per second applied after the batch marked `start` up to the one `end`."""
        return (self.applied_after(start) - self.applied_after(end)) / max(1e-9, end - start)


def interpolate(samples: Sequence[tuple[float, Sequence[float]]], at: float) -> list[float]:
    """Each value of `samples` ((time, values) in time order) at instant `at`, linearly
    between the samples either side; `at` must lie within them."""
    times = [t for t, _ in samples]
    if not times or not times[0] <= at <= times[-1]:
        raise ValueError(f"instant {at} outside the samples "
                         f"({times[0] if times else None}…{times[-1] if times else None})")
    if len(samples) == 1:
        return list(samples[0][1])
    after = max(1, bisect.bisect_left(times, at))
    (t0, v0), (t1, v1) = samples[after - 1], samples[after]
    weight = (at - t0) / (t1 - t0) if t1 > t0 else 1.0
    return [a + weight * (b - a) for a, b in zip(v0, v1, strict=True)]
