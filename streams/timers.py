"""An in-memory index of the next timer of every dossier this worker owns.

One heap per events partition: a dossier's timer fires by the clock of its partition
(streams/watermark.py), which after a rebalance may lag the others'.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime


class TimerIndex:
    """Min-heaps with lazy deletion: a dossier's latest schedule wins."""

    def __init__(self) -> None:
        self._heaps: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
        self._current: dict[str, tuple[int, datetime]] = {}

    def __len__(self) -> int:
        return len(self._current)

    def schedule(self, dossier_id: str, when: datetime | None, partition: int) -> None:
        """The dossier's next timer is `when` (None: it has none), on `partition`."""
        if when is None:
            self.unschedule(dossier_id)
            return
        if self._current.get(dossier_id) != (partition, when):
            self._current[dossier_id] = (partition, when)
            heapq.heappush(self._heaps[partition], (when, dossier_id))

    def unschedule(self, dossier_id: str) -> None:
        self._current.pop(dossier_id, None)

    def pop_due(self, clocks: Mapping[int, datetime], limit: int) -> list[str]:
        """Up to `limit` dossiers whose timer is at or before the clock of their partition
        (unscheduled), earliest first across partitions, so that a partition with many due
        timers does not hold back the others; a partition without a clock fires nothing."""
        due: list[str] = []
        heads = [
            (heap[0][0], partition)
            for partition, heap in self._heaps.items()
            if heap and partition in clocks and heap[0][0] <= clocks[partition]
        ]
        heapq.heapify(heads)
        while heads and len(due) < limit:
            _, partition = heapq.heappop(heads)
            heap = self._heaps[partition]
            when, dossier_id = heapq.heappop(heap)
            if self._current.get(dossier_id) == (partition, when):
                del self._current[dossier_id]
                due.append(dossier_id)
            if heap and heap[0][0] <= clocks[partition]:
                heapq.heappush(heads, (heap[0][0], partition))
        return due

    def clear(self) -> None:
        self._heaps.clear()
        self._current.clear()
