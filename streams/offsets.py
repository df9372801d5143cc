"""Which offsets of each events partition the worker has applied since its assignment.

A guard. Faust lost fetched messages when a table recovery completed: a restarted worker
applied offsets 0–24 of every partition and then 42 onwards, and Faust then withheld
commits behind the gap (faust-streaming #378), or committed past it when it was one offset
wide (#606): a silent stall, or a lost event. `streams/faust_patches.py` corrects the causes
(faust-streaming #596, docs/architecture.md); should an event still go missing, the worker
checks every batch against this record and stops rather than apply events past a gap;
restarted, it resumes from the committed offsets.

Reading a partition starts where the worker `start`s it: the committed offset (or the log
start, when nothing was committed or retention removed it). Without that, messages dropped
at the very start of a partition after a restart would go unseen: the first message that
arrives would set the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AppliedOffsets:
    _next: dict[int, int] = field(default_factory=dict)

    def __contains__(self, partition: int) -> bool:
        """Whether reading of `partition` was started since the assignment."""
        return partition in self._next

    def start(self, partition: int, offset: int) -> None:
        """Reading of `partition` starts at `offset`: the first message must be that one."""
        self._next[partition] = offset

    def gap_before(self, partition: int, offset: int) -> range:
        """The offsets skipped between the last applied one (or the start) and `offset`
        (empty if none; also when `partition` was not started, which the worker avoids)."""
        expected = self._next.get(partition, offset)
        return range(expected, max(expected, offset))

    def copy(self) -> AppliedOffsets:
        return AppliedOffsets(dict(self._next))

    def applied(self, partition: int, offset: int) -> None:
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    def forget(self) -> None:
        """After a rebalance: reading restarts at the committed offsets."""
        self._next.clear()
