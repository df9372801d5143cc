"""The translation of a stream of bodies, for the file and the HTTP paths alike.

`IntakeSession` holds what the translator must remember between bodies (`Memory`) and the
counts a run reports; `rejection_line` is the one JSON Lines form of a rejection, whether it
goes to `--rejections` or to the endpoint's rejections file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dossierflow.intake.translate import IntakeRules, Memory, Rejection, Translation, translate_raw


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
    memory: Memory = field(default_factory=dict)
    counts: IntakeCounts = field(default_factory=IntakeCounts)

    def take(self, raw: bytes | str) -> Translation:
        """The translation of one body; the memory moves on with it."""
        result = translate_raw(raw, self.memory, self.rules)
        self.memory = result.memory
        self.counts.bodies += 1
        self.counts.rejected += len(result.rejections)
        return result


def rejection_line(rejection: Rejection, **where: Any) -> str:
    """One line of a rejections file: where the body came from (`line`, `received_at`), the
    reason and the body with its personal fields already removed."""
    return json.dumps({**where, **rejection.as_json()}, ensure_ascii=False)
