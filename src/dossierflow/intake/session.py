"""The translation of a stream of bodies, for the file and the HTTP paths alike.

`IntakeSession` holds what the translator must remember between bodies (`Memory`, kept in a
`MemoryFile` when given, so that it outlives the process) and the counts a run reports;
`rejection_line` is the one JSON Lines form of a rejection, whether it goes to `--rejections`
or to the endpoint's rejections file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dossierflow.intake.memory_file import MemoryFile
from dossierflow.intake.translate import (
    DossierMemory,
    IntakeRules,
    Rejection,
    Translation,
    translate_body,
    translate_raw,
)
from dossierflow.schemas.event import DossierEvent


@dataclass
class IntakeCounts:
    bodies: int = 0
    events: int = 0
    rejected: int = 0
    failed: int = 0
    """Events Kafka did not acknowledge."""

    def summary(self, destination: str) -> str:
        failed = f", {self.failed} not delivered" if self.failed else ""
        return (f"intake: {self.bodies} bodies, {self.events} events {destination}, "
                f"{self.rejected} rejected{failed}")


@dataclass
class IntakeSession:
    """Bodies translated in the order they come, each against what the earlier ones said."""

    rules: IntakeRules = field(default_factory=IntakeRules)
    memory_file: MemoryFile | None = None
    """Where the memory is kept between runs; each body's change is staged in it, and
    `commit` makes the staged changes durable."""
    memory: dict[str, DossierMemory] = field(default_factory=dict)
    """Updated in place with what each body changed (a copy per body would cost the whole
    memory each time); starts as the memory file's."""
    counts: IntakeCounts = field(default_factory=IntakeCounts)
    published: set[str] = field(default_factory=set)
    """The `event_id`s already written or acknowledged: a later record repeats its
    dossier's earlier events (RECEIVED with every status), which need not go out again."""

    def __post_init__(self) -> None:
        if self.memory_file is not None:
            self.memory = self.memory_file.memory

    def commit(self) -> None:
        """Make the memory of the bodies taken so far durable (nothing without a file)."""
        if self.memory_file is not None:
            self.memory_file.commit()

    def fresh(self, events: Iterable[DossierEvent]) -> list[DossierEvent]:
        """`events` but those already published, each once."""
        found: dict[str, DossierEvent] = {}
        for event in events:
            if event.event_id not in self.published:
                found.setdefault(event.event_id, event)
        return list(found.values())

    def mark_published(self, events: Iterable[DossierEvent]) -> None:
        self.published.update(event.event_id for event in events)

    def take(self, raw: bytes | str) -> Translation:
        """The translation of one body as sent; the memory moves on with it."""
        return self._moved_on(translate_raw(raw, self.memory, self.rules))

    def take_body(self, body: Any) -> Translation:
        """The translation of one body already read as JSON."""
        return self._moved_on(translate_body(body, self.memory, self.rules))

    def _moved_on(self, result: Translation) -> Translation:
        self.memory.update(result.remembered)
        if self.memory_file is not None:
            self.memory_file.save(result.remembered)
        self.counts.bodies += 1
        self.counts.rejected += len(result.rejections)
        return result


def rejection_line(rejection: Rejection, **where: Any) -> str:
    """One line of a rejections file: where the body came from (`line`, `received_at`), the
    reason and the body with its personal fields already removed."""
    return json.dumps({**where, **rejection.as_json()}, ensure_ascii=False)
