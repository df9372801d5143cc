"""How current the rollups are (migrations 008, 009): what the dashboards say beside their
figures, what the sink's refresher and its gauges watch. The store's, read by reporting and
by the sink alike."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from dossierflow.store import ROLLUP_VIEWS, Store, error_summary

ROLLUP_STATE_SQL = """
SELECT view, toUnixTimestamp(as_of), toUnixTimestamp(last_attempt_at), error
FROM bi_rollup_freshness
WHERE view IN {views:Array(String)}
"""
"""Per rollup view, from `bi_rollup_freshness` (migration 009, over `system.view_refreshes`;
the view Grafana's descriptions point at too): when its latest successful refresh started
(NULL when none has completed since the engine started or the view was created; second
precision), when its latest attempt finished (or started, while it runs) and the error of
that attempt ('' unless it failed; the engine keeps it until an attempt succeeds)."""


LAST_WRITE_SQL = "SELECT max(toUnixTimestamp64Milli(inserted_at)) FROM dossier_facts"
"""When the newest fact was written, in Unix milliseconds (0 for an empty table): compared
with the rollup's last refresh, whether the dashboards' figures trail the live report."""


@dataclass(frozen=True)
class RollupState:
    """How current the rollups are, over every view of `ROLLUP_VIEWS`."""

    refreshed_at: datetime | None
    """When the refresh that built the current contents started (the oldest over the views),
    in UTC; None until every rollup has completed a refresh since the engine started."""
    attempted_at: datetime | None
    """When the latest refresh attempt of a view finished (or started, while it runs), the
    newest over the views, in UTC; None before any attempt."""
    error: str | None
    """The first line of the error of a view's latest refresh attempt when it failed (the
    figures then stay as of `refreshed_at` until an attempt succeeds), else None."""
    written_at: datetime | None = None
    """When the newest fact was written to the store (`dossier_facts.inserted_at`, the
    server's clock, as the refresh times), in UTC; None while the store holds none."""

    @property
    def behind(self) -> bool:
        """Whether facts were written that the rollup may not count, so that its figures may
        disagree with the live report: one written at or after the second the last refresh
        started (that time has whole seconds: a fact of the same second counts as behind, so
        the answer errs towards saying so), or any fact before a first refresh."""
        if self.written_at is None:
            return False
        return self.refreshed_at is None or self.written_at >= self.refreshed_at

    def age_seconds(self, now: datetime) -> float:
        """Seconds since `refreshed_at` (NaN before the first refresh: unknown, not 0)."""
        if self.refreshed_at is None:
            return math.nan
        return max(0.0, (now - self.refreshed_at).total_seconds())


def rollup_state(store: Store) -> RollupState:
    """How current the pre-aggregated figures are. Every fact written before `refreshed_at`
    is counted; before the first refresh since the engine started the table may still hold
    an older process's figures, of unknown age.

    Read it before the figures: a refresh finishing in between then makes the figures newer
    than stated, never older (and `written_at` is read first, so `behind` may say yes for a
    fact the rollup has just counted, never no for one it lacks)."""
    written = store.client.query(LAST_WRITE_SQL).result_rows[0][0]
    result = store.client.query(ROLLUP_STATE_SQL, parameters={"views": list(ROLLUP_VIEWS)})
    rows = {str(row[0]): row for row in result.result_rows}
    started = [rows[view][1] if view in rows else None for view in ROLLUP_VIEWS]
    attempts = [int(rows[view][2]) for view in ROLLUP_VIEWS if view in rows and rows[view][2]]
    errors = [error_summary(str(rows[view][3])) for view in ROLLUP_VIEWS if view in rows]
    complete = [int(seconds) for seconds in started if seconds is not None]
    return RollupState(
        refreshed_at=datetime.fromtimestamp(min(complete), UTC)
        if len(complete) == len(ROLLUP_VIEWS)
        else None,
        attempted_at=datetime.fromtimestamp(max(attempts), UTC) if attempts else None,
        error=next((error for error in errors if error), None),
        written_at=datetime.fromtimestamp(float(written) / 1000, UTC) if written else None,
    )
