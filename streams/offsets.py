"""Which offsets of each events partition the worker has applied since its assignment.

A guard. Faust lost fetched messages when a table recovery completed: a restarted worker
applied offsets 0–24 of every partition and then 42 onwards, and Faust then withheld
commits behind the gap (faust-streaming #378), or committed past it when it was one offset
wide (#606): a silent stall, or a lost event. `streams/faust_patches.py` corrects the cause
(faust-streaming #596); should an event still go missing, the worker checks every batch
against this record and stops rather than apply events past a gap; restarted, it resumes
from the committed offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AppliedOffsets:
    _next: dict[int, int] = field(default_factory=dict)

    def gap_before(self, partition: int, offset: int) -> range:
        """The offsets skipped between the last applied one and `offset` (empty if none,
        or if nothing of `partition` was applied since the assignment)."""
        expected = self._next.get(partition, offset)
        return range(expected, max(expected, offset))

    def copy(self) -> AppliedOffsets:
        return AppliedOffsets(dict(self._next))

    def applied(self, partition: int, offset: int) -> None:
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    def forget(self) -> None:
        """After a rebalance: reading restarts at the committed offsets."""
        self._next.clear()
