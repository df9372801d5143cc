"""An in-memory index of the next timer of every dossier this worker owns."""

from __future__ import annotations

import heapq
from datetime import datetime


class TimerIndex:
    """A min-heap with lazy deletion: a dossier's latest schedule wins."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str]] = []
        self._current: dict[str, datetime] = {}

    def __len__(self) -> int:
        return len(self._current)

    def schedule(self, dossier_id: str, when: datetime | None) -> None:
        if when is None:
            self._current.pop(dossier_id, None)
            return
        if self._current.get(dossier_id) != when:
            self._current[dossier_id] = when
            heapq.heappush(self._heap, (when, dossier_id))

    def pop_due(self, now: datetime, limit: int) -> list[str]:
        """Up to `limit` dossiers whose timer is at or before `now` (unscheduled)."""
        due: list[str] = []
        while self._heap and self._heap[0][0] <= now and len(due) < limit:
            when, dossier_id = heapq.heappop(self._heap)
            if self._current.get(dossier_id) == when:
                del self._current[dossier_id]
                due.append(dossier_id)
        return due

    def clear(self) -> None:
        self._heap.clear()
        self._current.clear()
