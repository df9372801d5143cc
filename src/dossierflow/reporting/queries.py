"""The dashboard's queries over the BI views (schemas/clickhouse/006_bi_views.sql).

The period report's own query is `report.REPORT_SQL`; the queries here add what the report
does not carry: receipts and resolutions per week (`bi_daily`) and the open dossiers of a unit
(`bi_dossiers`). Reading the same views as the report and the BI tools keeps every number on
the dashboard equal to theirs. Each function takes an open `Store` and returns plain values.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from dossierflow.store import TIMEZONE, Store

LOCAL = ZoneInfo(TIMEZONE)

WEEKLY_TREND_SQL = """
SELECT
    toMonday(day) AS week,
    sum(received) AS received,
    sum(resolved_early + resolved_on_time + resolved_overdue) AS resolved
FROM bi_daily
WHERE day >= {period_from:Date} AND day < {period_to:Date}
    AND ({all_units:Bool} OR ifNull(unit_code, '') IN {unit_codes:Array(String)})
GROUP BY week
ORDER BY week
"""
"""Receipts and resolutions per week (Monday) in [from, to), by receiving unit like the
report; summed over the weeks they equal the report's `received` and resolved counts."""

OPEN_DOSSIERS_SQL = """
SELECT dossier_id, procedure_code, unit_code, handling_unit_code, status,
    received_at, due_at, rescheduled_due_at
FROM bi_dossiers
WHERE is_open AND due_at IS NOT NULL AND due_at <= {due_until:DateTime64(3, 'Asia/Ho_Chi_Minh')}
    AND (handling_unit_code IN {unit_codes:Array(String)}
         OR unit_code IN {unit_codes:Array(String)})
ORDER BY due_at, dossier_id
LIMIT {limit:UInt32}
"""
"""Open dossiers handled or received by the units whose deadline is at most `due_until`
(the caller picks a bound that includes every dossier at risk now)."""


@dataclass(frozen=True)
class WeekCount:
    week: date
    """The Monday of the week."""
    received: int
    resolved: int


@dataclass(frozen=True)
class OpenDossier:
    """An open dossier as the dashboard shows it: codes and instants, no personal data."""

    dossier_id: str
    procedure_code: str
    unit_code: str
    handling_unit_code: str
    status: str
    received_at: datetime
    due_at: datetime
    rescheduled_due_at: datetime | None


def weekly_trend(
    store: Store, period_from: date, period_to: date, unit_codes: Collection[str] | None
) -> list[WeekCount]:
    """Weeks of [from, to) with any receipt or resolution; `unit_codes` None is everything."""
    result = store.client.query(
        WEEKLY_TREND_SQL,
        parameters={
            "period_from": period_from,
            "period_to": period_to,
            "all_units": unit_codes is None,
            "unit_codes": sorted(unit_codes or ()),
        },
    )
    return [WeekCount(row[0], int(row[1]), int(row[2])) for row in result.result_rows]


def open_dossiers(
    store: Store, unit_codes: Collection[str], due_until: datetime, limit: int = 1000
) -> list[OpenDossier]:
    """Open dossiers of the units due at most at `due_until`, earliest deadline first."""
    result = store.client.query(
        OPEN_DOSSIERS_SQL,
        parameters={
            "unit_codes": sorted(unit_codes),
            "due_until": due_until.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            "limit": limit,
        },
    )
    return [
        OpenDossier(
            dossier_id=str(row[0]),
            procedure_code=str(row[1] or ""),
            unit_code=str(row[2] or ""),
            handling_unit_code=str(row[3] or row[2] or ""),
            status=str(row[4]),
            received_at=row[5],
            due_at=row[6],
            rescheduled_due_at=row[7],
        )
        for row in result.result_rows
    ]
