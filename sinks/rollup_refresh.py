"""Rebuild the dashboards' rollup soon after the sink writes facts, at most every so often.

The rollup (migration 008) is rebuilt by ClickHouse every minute; in between, the dashboards'
figures trail what `GET /report` counts (the demo once linked a dashboard showing 318
received against the report's 788). After a batch of facts the sink marks the rollup
pending; at most every `interval` seconds, while pending, it reads whether the rollup is
behind the newest fact (`RollupState.behind`) and, if so, asks for a rebuild now
(`SYSTEM REFRESH VIEW`, which returns at once: the rebuild runs in the engine). It stays
pending until the rollup has caught up, so a request that found a rebuild already running
is made again. A rebuild reads every dossier (2–4 s of CPU over ten million facts), so the
interval bounds what a steady stream of writes costs.

Runs in the sink's consumer loop, between two writes, on the sink's own store (a store's
client is used by one thread at a time).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from clickhouse_connect.driver.exceptions import ClickHouseError

from dossierflow.rollups import rollup_state
from dossierflow.store import ROLLUP_VIEWS, Store

log = logging.getLogger(__name__)


class RollupRefresher:
    def __init__(
        self, store: Store, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.interval = interval
        self.clock = clock
        self.requests = 0
        """Rebuilds asked for so far."""
        self._pending = False
        self._checked_at = -float("inf")
        self._failure: str | None = None

    def wrote_facts(self) -> None:
        self._pending = True

    @property
    def due(self) -> bool:
        return self._pending and self.clock() - self._checked_at >= self.interval

    def refresh_if_behind(self) -> None:
        """Blocking (a thread's work): one look, and one request when the rollup is behind."""
        self._checked_at = self.clock()
        try:
            if not rollup_state(self.store).behind:
                self._pending = False
                return
            for view in ROLLUP_VIEWS:
                self.store.client.command(f"SYSTEM REFRESH VIEW {view}")
        except (ClickHouseError, OSError) as exc:
            # The figures then catch up on the schedule, and the dashboard says they trail.
            reason = str(exc).splitlines()[0][:300]
            if reason != self._failure:
                log.warning("could not ask for a rebuild of the rollup (it rebuilds every "
                            "minute on its own; the sink's user needs SYSTEM VIEWS): %s", reason)
            self._failure = reason
            return
        self._failure = None
        self.requests += 1
