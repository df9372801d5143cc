"""What the worker's runtime (streams/runtime.py) needs from the world around it.

Faust and Kafka provide these in the worker (streams/worker.py: its table, its output
producer, its consumer); the runtime's tests provide them in memory
(tests/worker_memory.py). Nothing here imports Faust or a Kafka client.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Protocol

Headers = list[tuple[str, bytes]]


class Message(Protocol):
    """One message read from the events topic (Faust's `event.message` is one)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> float:
        """The message's Kafka timestamp, Unix seconds."""
        ...


class StateTable(Protocol):
    """Keyed state that survives the worker: raw keys and values, each filed under the
    events partition whose dossiers it belongs to."""

    def get(self, key: bytes) -> bytes | None: ...
    def put_all(self, partition: int, records: Iterable[tuple[bytes, bytes]]) -> None:
        """Write `records` (key, value), all of events partition `partition`."""
        ...
    def delete(self, key: bytes) -> None:
        """Remove `key` if it is there."""
        ...
    def items(self) -> Iterable[tuple[bytes, bytes]]: ...
    async def changelog_delivered(self) -> None:
        """Return once every write so far is durable (raises if one was refused)."""
        ...


class Outbox(Protocol):
    """Alerts, facts and dead letters on their way out, sent together by `deliver`."""

    def add(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None
    ) -> None: ...
    async def deliver(self) -> None:
        """Send everything added so far; return once all of it is acknowledged."""
        ...


class PartitionEnds(Protocol):
    """Where the events partitions end, for the event-time clock."""

    def highwaters(self, partitions: Collection[int]) -> dict[int, int | None]:
        """Each partition's high-water mark as of the last fetch (None: not fetched yet)."""
        ...
    async def end_offsets(self, partitions: Collection[int]) -> dict[int, int]:
        """Each partition's end offset now, asked of the broker."""
        ...


class Clock(Protocol):
    """The time the worker evaluates dossiers by: chosen once (streams/clock.py)."""

    description: str
    """How the worker's ready line names it."""

    async def follow(
        self, owned: frozenset[int], starts: dict[int, int], seen: dict[int, datetime]
    ) -> None:
        """The worker owns `owned` now, reading each from `starts`; `seen`: the largest
        `occurred_at` already applied from each (its progress record)."""
        ...
    def forget(self) -> None:
        """The partitions were revoked: no clock until the next assignment is followed."""
        ...
    def advance(self) -> datetime | None:
        """Move the clock on; its value over every owned partition (None: not known yet,
        no alert is due)."""
        ...
    def start_batch(self) -> None:
        """A batch of events is about to be read."""
        ...
    def read(self, partition: int, offset: int, occurred_at: datetime | None) -> bool:
        """The message at `offset` was read (`occurred_at` None: malformed); whether it
        is late, behind the clock its partition had already reached."""
        ...
    def of(self, partition: int) -> datetime:
        """The clock a dossier of `partition` is evaluated by."""
        ...
    def report(self) -> None:
        """Set the clock's own gauges."""
        ...
