"""The worker runtime's surroundings in memory (streams/ports.py), for tests without a broker."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from dossierflow.streams.ports import Headers


@dataclass(frozen=True)
class Read:
    """A message read from the events topic."""

    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    topic: str = "dossier-events"
    timestamp: float = field(default_factory=time.time)


class MemoryTable:
    """A table that keeps what was put until deleted: what a restarted worker restores."""

    def __init__(self) -> None:
        self.rows: dict[bytes, tuple[bytes, int]] = {}

    def get(self, key: bytes) -> bytes | None:
        row = self.rows.get(key)
        return row[0] if row is not None else None

    def put(self, key: bytes, value: bytes, partition: int) -> None:
        self.rows[key] = (value, partition)

    def put_all(self, partition: int, records: Iterable[tuple[bytes, bytes]]) -> None:
        for key, value in records:
            self.put(key, value, partition)

    def delete(self, key: bytes) -> None:
        self.rows.pop(key, None)

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        return [(key, value) for key, (value, _) in self.rows.items()]

    async def changelog_delivered(self) -> None:
        return None


@dataclass(frozen=True)
class Sent:
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers


class MemoryOutbox:
    """Delivers what was added to `delivered`, or refuses it all while `refusing`."""

    def __init__(self) -> None:
        self.delivered: list[Sent] = []
        self.refusing = False
        self._pending: list[Sent] = []

    def add(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None
    ) -> None:
        self._pending.append(Sent(topic, key, value, headers or []))

    async def deliver(self) -> None:
        pending, self._pending = self._pending, []
        if self.refusing:
            raise ConnectionError("the broker refused the batch")
        self.delivered.extend(pending)

    async def opened(self) -> MemoryOutbox:
        """The runtime's `open_outbox`: always this one."""
        return self

    def on(self, topic: str) -> list[Sent]:
        return [sent for sent in self.delivered if sent.topic == topic]


class MemoryEnds:
    """Each partition's end offset as set by the test (none: not fetched yet)."""

    def __init__(self, ends: dict[int, int]) -> None:
        self.ends = ends

    def highwaters(self, partitions: Collection[int]) -> dict[int, int | None]:
        return {p: self.ends.get(p) for p in partitions}

    async def end_offsets(self, partitions: Collection[int]) -> dict[int, int]:
        return {p: self.ends[p] for p in partitions if p in self.ends}
