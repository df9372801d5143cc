"""Prometheus metrics of the sink process (served on its HTTP port at /metrics)."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge

from dossierflow.rollups import RollupState

log = logging.getLogger(__name__)

INSERT_FAILURES = Counter(
    "dossierflow_sink_insert_failures_total",
    "Batches the store refused for a transient reason (each is retried after a backoff).",
)

ROLLUP_AGE = Gauge(
    "dossierflow_rollup_age_seconds",
    "Seconds since the refresh that built the dashboards' rollup started (NaN before the "
    "first since the engine started). Read at each scrape.",
)
ROLLUP_REFRESH_FAILED = Gauge(
    "dossierflow_rollup_refresh_failed",
    "1 if the rollup's latest refresh attempt failed (the error is in the sink's log), else 0.",
)
ROLLUP_AGE.set(math.nan)


class RollupWatch:
    """Sets the rollup gauges from a `RollupState`, logging each distinct error once (the
    engine retries every minute; the same error each time is one log line)."""

    def __init__(self) -> None:
        self._logged_error: str | None = None

    def observe(self, rollup: RollupState, now: datetime | None = None) -> None:
        ROLLUP_AGE.set(rollup.age_seconds(now or datetime.now(UTC)))
        ROLLUP_REFRESH_FAILED.set(0 if rollup.error is None else 1)
        if rollup.error is not None and rollup.error != self._logged_error:
            log.error("the dashboards' rollup failed to refresh: %s", rollup.error)
        elif rollup.error is None and self._logged_error is not None:
            log.info("the dashboards' rollup refreshes again")
        self._logged_error = rollup.error
