"""The worker's readiness: connected to Kafka, partitions assigned, its table recovered.

Before the Faust app exists (the worker waits for Kafka to create its topics) the worker is
"starting"; afterwards the app's own signals say whether a rebalance is in progress, and
the tables' recovery whether the state is complete. `attach` also logs the changes of
readiness from a Faust timer, so the log says once that the worker is ready, and once
when and why it stops being so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dossierflow.health import KafkaProbe, Readiness, ReadinessLog
from dossierflow.streams.faust_internals import first_recovery_completed

if TYPE_CHECKING:
    from dossierflow.streams.settings import WorkerSettings
    from dossierflow.streams.worker import DossierWorker

CHECK_INTERVAL = 1.0
"""Seconds between readiness checks of the log (the HTTP probe checks on each request)."""


class WorkerHealth:
    """Readiness of one worker process, from start-up to shutdown."""

    def __init__(self, settings: WorkerSettings, probe: KafkaProbe | None = None) -> None:
        self.settings = settings
        self.probe = probe or KafkaProbe(settings.bootstrap)
        self._worker: DossierWorker | None = None
        self._assigned: frozenset[int] | None = None
        self._log = ReadinessLog(self._ready_line)

    def attach(self, worker: DossierWorker) -> None:
        """Follow `worker`'s app: its assignments, and a timer logging readiness changes."""
        self._worker = worker
        worker.app.on_partitions_assigned.connect(self._on_assigned)
        worker.app.on_partitions_revoked.connect(self._on_revoked)
        worker.app.timer(CHECK_INTERVAL)(self._observe)

    async def _on_assigned(self, app: Any, /, *args: Any, **kwargs: Any) -> None:
        assigned: Iterable[Any] = args[0] if args else ()
        self._assigned = frozenset(
            tp.partition for tp in assigned if tp.topic == self.settings.events_topic
        )

    async def _on_revoked(self, app: Any, /, *args: Any, **kwargs: Any) -> None:
        self._assigned = None

    async def _observe(self) -> None:
        import asyncio

        self._log.observe(await asyncio.to_thread(self.readiness))

    def readiness(self) -> Readiness:
        reasons: list[str] = []
        if not self.probe.reachable():
            reasons.append(self.probe.reason)
        worker = self._worker
        if worker is None:
            reasons.append("starting: creating the topics")
            return Readiness(tuple(reasons))
        if worker.app.rebalancing or self._assigned is None:
            reasons.append("waiting for the consumer group to assign partitions")
        elif not first_recovery_completed(worker.app):
            reasons.append("recovering the dossiers table from its changelog")
        return Readiness(tuple(reasons))

    def _ready_line(self) -> str:
        s = self.settings
        partitions = sorted(self._assigned or ())
        clock = self._worker.runtime.clock.description if self._worker else "not chosen yet"
        return (
            f"applying {s.events_topic} partitions {partitions} at {s.bootstrap}; alerts to "
            f"{s.alerts_topic}, facts to {s.facts_topic}, dead letters to "
            f"{s.dead_letter_topic}; clock: {clock}"
        )
