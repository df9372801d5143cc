"""Every query the report and the dashboard run on the store, over the BI views of
schemas/clickhouse/007_bi_views.sql, 008_bi_period_rollup.sql and 009; each function takes
an open `Store` and returns plain values or the pure report's `Figures` (which `report.build_report`
makes into the report).

Reading the same views as the BI tools keeps every number of the report and the dashboard
equal to theirs. `REPORT_SQL` gives the period report's figures, live (`bi_period_report`) or
pre-aggregated (`bi_period_report_daily`, as of the rollup's last refresh, at most about a
minute old); the dashboard reads the pre-aggregated figures, adds receipts and resolutions
per week (`bi_unit_daily`, the same rollup) and the open dossiers of a unit (`bi_dossiers`,
live), and says how old the rollup is and whether its last refresh failed (`rollup_state`, from
`bi_rollup_freshness`).

How the report's figures are derived. The facts table holds, per event, the dossier's state
right after it, and `position` orders a dossier's history; the state of a dossier *as of* an
instant T is the fact with the highest position among those with `occurred_at < T`. Rather
than fold every fact per dossier, the view reads one row per dossier (`dossier_state`, the last
fact of the newest history): the milestones the report needs are fixed once set, so received
before T means `received_at < T`, closed before T means `closed_at < T`, with the same ending
and outcome. What moves is the deadline (RESUMED) and when apologies were issued; both come
from `dossier_milestones`, looked up only for dossiers that resumed since `to` and for
apologies in the period. A dossier received before `from` and not closed before `from` was
open at `from` (carried over). Each dossier counts for its receiving unit (`unit_code`).
docs/bi.md says why this stays exact under re-delivery, re-issued histories and crashes.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time

from dossierflow.reporting.report import (
    COMPLIANCE_KEYS,
    COUNT_KEYS,
    LOCAL,
    Compliance,
    Figures,
    check_period,
    period_bounds,
)
from dossierflow.rules.readings import ReportReadings
from dossierflow.store import Store, bundled_migrations

REPORT_SQL = """
SELECT unit_code, {keys}
FROM {view}(period_from = {{period_from:String}}, period_to = {{period_to:String}})
"""
"""Per receiving unit, the integer keys of the report for [from, to) (local midnights), from
the `bi_period_report` view that BI tools read too, or its pre-aggregated twin
`bi_period_report_daily` (the same figures as of the rollup's last refresh, migration 008)."""

REPORT_VIEW = "bi_report_days"
"""Per receiving unit, and per department that caused a delay, the whole report of the whole
local days [from, to) in one query, live: `bi_report` (migration 016: the figures of
`bi_period_report` and the compliance figures of `bi_compliance_report` and
`bi_delays_caused`) as `bi_report_days` computes it from local dates (migrations 018, 019)."""

_VIEW_DEFINITION = re.compile(
    rf"CREATE (?:OR REPLACE )?VIEW (?:IF NOT EXISTS )?{REPORT_VIEW} AS\s+(.+)", re.DOTALL
)


@functools.cache
def live_report_sql() -> str:
    """The query of `fetch_report`: `REPORT_VIEW`'s own SELECT, from the migration that last
    defined it (the same text the store holds: `migrate` refuses an edited one), sent as
    text. The engine expands a parameterised view for 11-15 ms more than the same SELECT
    (docs/benchmarks.md, "Report")."""
    for migration in reversed(bundled_migrations()):
        for statement in migration.statements():
            if match := _VIEW_DEFINITION.match(statement):
                keys = ", ".join(COUNT_KEYS + COMPLIANCE_KEYS)
                return f"SELECT unit_code, {keys}\nFROM (\n{match.group(1)}\n)"
    raise LookupError(f"no bundled migration defines {REPORT_VIEW}")


OUTCOME_KEYS = ("resolved_early", "resolved_on_time", "resolved_overdue", "in_progress_overdue")
OUTCOMES_SQL = f"""
SELECT unit_code, {", ".join(OUTCOME_KEYS)}
FROM bi_period_outcomes(period_from = {{period_from:String}}, period_to = {{period_to:String}},
                        reading = {{reading:String}}, appointment = {{appointment:String}})
"""
"""Per receiving unit, the outcome classes of [from, to) under a province's reading (migration
011; rules/readings.py), live; with the default reading they equal `bi_period_report`'s."""

WEEKLY_TREND_SQL = """
SELECT
    toMonday(day) AS week,
    sum(received) AS received,
    sum(resolved_early + resolved_on_time + resolved_overdue) AS resolved
FROM bi_unit_daily
WHERE day >= {period_from:Date} AND day < {period_to:Date}
    AND ({all_units:Bool} OR unit_code IN {unit_codes:Array(String)})
GROUP BY week
ORDER BY week
"""
"""Receipts and resolutions per week (Monday) in [from, to), by receiving unit like the
report, from the rollup (as of its last refresh, like the dashboard's figures); summed over
the weeks they equal the pre-aggregated report's `received` and resolved counts."""

OPEN_DOSSIERS_SQL = """
SELECT dossier_id, procedure_code, unit_code, handling_unit_code, status,
    received_at, due_at, rescheduled_due_at,
    (dossier_id, assumeNotNull(due_at)) IN (
        SELECT dossier_id, deadline FROM bi_alerts
        WHERE kind = 'AT_RISK' AND at <= {now:DateTime64(3, 'Asia/Ho_Chi_Minh')}
            AND deadline >= {today:DateTime64(3, 'Asia/Ho_Chi_Minh')}
    ) AS at_risk_alerted
FROM bi_dossiers
WHERE is_open AND due_at IS NOT NULL AND due_at <= {due_until:DateTime64(3, 'Asia/Ho_Chi_Minh')}
    AND (handling_unit_code IN {unit_codes:Array(String)}
         OR unit_code IN {unit_codes:Array(String)})
ORDER BY due_at, dossier_id
LIMIT {limit:UInt32}
"""
"""Open dossiers handled or received by the units whose deadline is at most `due_until`
(the caller picks a bound that includes every dossier at risk now), each with whether the
AT_RISK alert of its current deadline has fired by `now` (`bi_alerts`: the alert's id, and so
its row, is per deadline; one of a deadline a RESUMED has moved no longer counts). Only the
deadlines from `today`'s midnight on are looked up: an earlier one is overdue, not at risk
(and the alerts' partitions are by the deadline's month)."""


DELAYED_DOSSIERS_SQL = """
SELECT dossier_id, procedure_code, unit_code, due_at, resolved_at, caused_by
FROM bi_overdue_causes(period_from = {period_from:String}, period_to = {period_to:String})
WHERE unit_code IN {unit_codes:Array(String)} OR hasAny(caused_by, {unit_codes:Array(String)})
ORDER BY resolved_at IS NULL, resolved_at, due_at, dossier_id
LIMIT {limit:UInt32}
"""
"""Dossiers overdue in [from, to) received by the units or delayed by their steps (migration
017's `bi_overdue_causes`): resolved overdue in the period, then in progress and overdue at
`to`, each with the departments that caused the delay (none when no step overran), as the
report counts them (`resolved_overdue` and `in_progress_overdue`, `..._caused`)."""


UNATTRIBUTED_SQL = """
SELECT dossier_id
FROM dossier_facts
WHERE dossier_id IN {dossier_ids:Array(String)}
    AND occurred_at < toDateTime64({period_to:String}, 3, 'Asia/Ho_Chi_Minh')
GROUP BY dossier_id
HAVING argMax(inserted_at, (version, position))
    < (SELECT min(applied_at) FROM schema_migrations WHERE version = 17)
"""
"""Of the dossiers in progress listed with no department, those judged by a fact stored
before migration 017 was applied (the fact `dossiers_overdue_at` reads: the highest
(version, position) before `period_to`): its attribution columns are their defaults, not
an answer, until the dossier's next event or a `replay --store` (017's header)."""


@dataclass(frozen=True)
class DelayedDossier:
    """An overdue dossier as the dashboard lists it: codes and instants only."""

    dossier_id: str
    procedure_code: str
    unit_code: str
    due_at: datetime | None
    resolved_at: datetime | None
    """None for a dossier still in progress at the period's end."""
    caused_by: tuple[str, ...]
    """The departments whose steps caused the delay: the units that sign the apology."""
    attributed: bool = True
    """False for a dossier in progress judged by a fact stored before migration 017, which
    holds no attribution: an empty `caused_by` then says nothing (`UNATTRIBUTED_SQL`)."""


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
    at_risk_alerted: bool = False
    """The AT_RISK alert of `due_at` fired (and was stored) by the time the list was read."""


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
    store: Store,
    unit_codes: Collection[str],
    due_until: datetime,
    now: datetime,
    limit: int = 1000,
) -> list[OpenDossier]:
    """Open dossiers of the units due at most at `due_until`, earliest deadline first, with
    whether their AT_RISK alert had fired at `now`."""
    today = datetime.combine(now.astimezone(LOCAL).date(), time(), LOCAL)
    result = store.client.query(
        OPEN_DOSSIERS_SQL,
        parameters={
            "unit_codes": sorted(unit_codes),
            "due_until": _local_text(due_until),
            "now": _local_text(now),
            "today": _local_text(today),
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
            at_risk_alerted=bool(row[8]),
        )
        for row in result.result_rows
    ]


def delayed_dossiers(
    store: Store,
    unit_codes: Collection[str],
    period_from: date,
    period_to: date,
    limit: int = 1000,
) -> list[DelayedDossier]:
    """`DELAYED_DOSSIERS_SQL`: the period's overdue dossiers of the units, the resolved ones
    first, earliest first."""
    bounds = _live_bounds(period_from, period_to)
    result = store.client.query(
        DELAYED_DOSSIERS_SQL,
        parameters={"unit_codes": sorted(unit_codes), **bounds, "limit": limit},
    )
    # The view's codes are never NULL: its values are the dataclass's as they come.
    delayed = [
        DelayedDossier(dossier, procedure, unit, due_at, resolved_at, tuple(caused_by))
        for dossier, procedure, unit, due_at, resolved_at, caused_by in result.result_rows
    ]
    unknown = _unattributed(store, [d.dossier_id for d in delayed
                                    if d.resolved_at is None and not d.caused_by],
                            bounds["period_to"])
    return [dataclasses.replace(d, attributed=False) if d.dossier_id in unknown else d
            for d in delayed]


def _unattributed(store: Store, dossier_ids: list[str], period_to: str) -> set[str]:
    """`UNATTRIBUTED_SQL` of `dossier_ids` (asked only when there are any)."""
    if not dossier_ids:
        return set()
    rows = store.client.query(
        UNATTRIBUTED_SQL, parameters={"dossier_ids": dossier_ids, "period_to": period_to}
    ).result_rows
    return {str(row[0]) for row in rows}


def _local_text(instant: datetime) -> str:
    """A DateTime64(3) parameter in local time."""
    return instant.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def fetch_report(
    store: Store, period_from: date, period_to: date, readings: ReportReadings | None = None
) -> tuple[dict[str, Figures], dict[str, Compliance]]:
    """Run `live_report_sql()`, one round trip: the figures and the compliance figures per
    unit ('' for dossiers without a receiving unit), a unit without any left out of each.
    A `readings` other than the lifecycle's own replaces the outcome classes as in
    `fetch_figures`."""
    result = store.client.query(
        live_report_sql(),
        parameters=_day_bounds(period_from, period_to),
    )
    figures: dict[str, Figures] = {}
    compliance: dict[str, Compliance] = {}
    counts = len(COUNT_KEYS)
    for row in result.result_rows:
        unit = str(row[0])
        values = [int(v) for v in row[1:]]
        if any(values[:counts]):
            figures[unit] = Figures(*values[:counts])
        if any(values[counts:]):
            compliance[unit] = Compliance(*values[counts:])
    return _with_readings(store, figures, period_from, period_to, readings), compliance


def _day_bounds(period_from: date, period_to: date) -> dict[str, str]:
    """The whole-day views' `period_from` and `period_to`: the dates as text."""
    check_period(period_from, period_to)
    return {"period_from": period_from.isoformat(), "period_to": period_to.isoformat()}


def _live_bounds(period_from: date, period_to: date) -> dict[str, str]:
    """The live views' `period_from` and `period_to`: local midnights as text."""
    start, end = period_bounds(period_from, period_to)
    return {
        "period_from": start.strftime("%Y-%m-%d %H:%M:%S"),
        "period_to": end.strftime("%Y-%m-%d %H:%M:%S"),
    }


def fetch_figures(
    store: Store,
    period_from: date,
    period_to: date,
    *,
    pre_aggregated: bool = False,
    readings: ReportReadings | None = None,
) -> dict[str, Figures]:
    """Run `REPORT_SQL`; '' stands for dossiers without a receiving unit. `pre_aggregated`
    reads the rollup (fast, as of its last refresh) instead of the live view. A `readings`
    other than the lifecycle's own replaces the outcome classes and `in_progress_overdue` by
    `OUTCOMES_SQL`'s (live, for the rollup's figures too, so that the two never disagree)."""
    if pre_aggregated:  # whole local days: the view takes dates
        view = "bi_period_report_daily"
        bounds = {"period_from": period_from.isoformat(), "period_to": period_to.isoformat()}
    else:
        view, bounds = "bi_period_report", _live_bounds(period_from, period_to)
    result = store.client.query(
        REPORT_SQL.format(keys=", ".join(COUNT_KEYS), view=view), parameters=bounds
    )
    figures = {str(row[0]): Figures(*(int(v) for v in row[1:])) for row in result.result_rows}
    return _with_readings(store, figures, period_from, period_to, readings)


def _with_readings(
    store: Store,
    figures: dict[str, Figures],
    period_from: date,
    period_to: date,
    readings: ReportReadings | None,
) -> dict[str, Figures]:
    if readings is None or readings.is_default:
        return figures
    outcomes = store.client.query(
        OUTCOMES_SQL,
        parameters={
            **_live_bounds(period_from, period_to),
            "reading": readings.outcome_reading.value,
            "appointment": readings.appointment.value,
        },
    )
    for row in outcomes.result_rows:
        unit = str(row[0])
        if unit in figures:
            values = dict(zip(OUTCOME_KEYS, map(int, row[1:]), strict=True))
            figures[unit] = dataclasses.replace(figures[unit], **values)
    return figures


def fetch_compliance(store: Store, period_from: date, period_to: date) -> dict[str, Compliance]:
    """The compliance figures of `fetch_report` (for the dashboard, whose other figures come
    from the rollup); units without any are left out."""
    return fetch_report(store, period_from, period_to)[1]
