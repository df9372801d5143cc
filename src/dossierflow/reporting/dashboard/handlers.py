"""The dashboard's aiohttp routes: two pages, their JSON endpoints and the static files.

    GET /dashboard?from&to&unit&lang           the period report, charts and pickers
    GET /dashboard/units/{code}?from&to&lang   a unit: its figures and open dossiers at risk
    GET /api/dashboard?...                     the dashboard's data and HTML fragments
    GET /api/units/{code}/open?...             the unit page's data and HTML fragments
    GET /dashboard/static/...                  stylesheet and script (package data)

`from`/`to` are local days, [from, to) as for `GET /report`; without them, this month so far.
Every query goes through the process's one `QueryRunner`, shared with `GET /report`. The
figures and the weekly trend come from the rollup (migration 008: a few hundred thousand rows
instead of every dossier), as of its last refresh (the sink asks for one after writing facts,
rate-limited; else every minute): both pages say as of when (`figures_as_of` in the JSON, the
time the refresh started in the calendar's time zone; null while the first refresh since
start-up runs; `figures_error` the error of the last refresh when it failed, else null), and,
beside the figures, when facts were written since (`figures_behind`, `facts_written_at`): the
figures may then trail `GET /report`. The
open dossiers of a unit page are read live, at the time of the request (`as_of`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from dossierflow.reporting.dashboard.pages import (
    Selection,
    dashboard_fragments,
    dashboard_page,
    error_page,
    unit_fragments,
    unit_page,
)
from dossierflow.reporting.dashboard.views import (
    OpenItem,
    Period,
    at_risk_horizon,
    classify_open,
    default_period,
    texts,
)
from dossierflow.reporting.queries import (
    DelayedDossier,
    WeekCount,
    delayed_dossiers,
    fetch_compliance,
    fetch_figures,
    open_dossiers,
    weekly_trend,
)
from dossierflow.reporting.report import (
    MAX_DASHBOARD_DAYS,
    Report,
    ReportError,
    build_report,
    check_scope,
    report_json,
    report_period,
    with_compliance,
)
from dossierflow.reporting.runner import QueryRunner
from dossierflow.rollups import RollupState, rollup_state
from dossierflow.rules.catalog import Catalog
from dossierflow.store import Store, StoreError, error_summary

log = logging.getLogger(__name__)

OPEN_LIST_LIMIT = 500
"""Open dossiers listed on a unit page at most (earliest deadlines first)."""

STATIC_DIR = Path(str(resources.files("dossierflow.reporting.dashboard") / "static"))


def parse_selection(
    query: Mapping[str, str], today: date, unit: str | None = None
) -> Selection:
    """The pickers' choice from the query string, whose period is given as for `GET /report`
    (`from` and `to` or `through`); errors name the parameter."""
    lang = query.get("lang", "vi")
    texts(lang)
    if {"from", "to", "through"} & query.keys():
        period = Period(
            *report_period(
                query.get("from"), query.get("to"), query.get("through"), "",
                max_days=MAX_DASHBOARD_DAYS,
            )
        )
    else:
        period = default_period(today)
    chosen = unit or query.get("unit") or None
    check_scope({}, chosen, None, lang, prefix="")
    return Selection(period, chosen, lang)


def _local(rollup: RollupState, catalog: Catalog) -> RollupState:
    tz = catalog.calendar.tz
    return RollupState(
        refreshed_at=rollup.refreshed_at.astimezone(tz) if rollup.refreshed_at else None,
        attempted_at=rollup.attempted_at.astimezone(tz) if rollup.attempted_at else None,
        error=rollup.error,
        written_at=rollup.written_at.astimezone(tz) if rollup.written_at else None,
    )


def _report(
    store: Store, catalog: Catalog, period: Period, unit: str | None
) -> tuple[Report, RollupState]:
    """The report from the rollup and, in local time, how current it is (read first: see
    `rollup_state`)."""
    rollup = rollup_state(store)
    figures = fetch_figures(
        store, period.start, period.end, pre_aggregated=True, readings=catalog.report
    )
    report = build_report(figures, catalog.units, period.start, period.end, unit=unit)
    return report, _local(rollup, catalog)


def _with_compliance(
    store: Store, catalog: Catalog, report: Report, unit: str | None
) -> tuple[Report, str | None]:
    """The report with its compliance figures, read live (they are not in the rollup): when
    they cannot be read, the report without them and why, for the page to say so while the
    rollup's figures stay."""
    from clickhouse_connect.driver.exceptions import DatabaseError

    try:
        compliance = fetch_compliance(store, report.period_from, report.period_to)
    except (DatabaseError, StoreError) as exc:
        log.warning("dashboard: compliance figures unavailable: %s", error_summary(str(exc)))
        return report, error_summary(str(exc))
    return with_compliance(report, compliance, catalog.units, unit=unit), None


def _dashboard_data(
    store: Store, catalog: Catalog, selection: Selection
) -> tuple[Report, RollupState, list[WeekCount], str | None]:
    """The figures and the weekly trend from the same contents of the rollup, so that summed
    over the weeks they equal the report: a refresh completing between the two reads moves
    the as-of time, read again after the trend, and the pair is read once more (refreshes
    are a minute apart, so the second pair is consistent)."""
    period, unit = selection.period, selection.unit
    scope = None if unit is None else catalog.descendants(unit)
    for _attempt in range(2):
        report, rollup = _report(store, catalog, period, unit)
        weeks = weekly_trend(store, period.start, period.end, scope)
        if _local(rollup_state(store), catalog).refreshed_at == rollup.refreshed_at:
            break
    report, compliance_error = _with_compliance(store, catalog, report, unit)
    return report, rollup, weeks, compliance_error


def _unit_data(
    store: Store, catalog: Catalog, selection: Selection, now: datetime
) -> tuple[Report, RollupState, list[OpenItem], int | None, list[DelayedDossier]]:
    assert selection.unit is not None
    report, rollup = _report(store, catalog, selection.period, selection.unit)
    scope = catalog.descendants(selection.unit)
    rows = open_dossiers(
        store, scope, at_risk_horizon(now, catalog), now, limit=OPEN_LIST_LIMIT + 1
    )
    truncated_at = OPEN_LIST_LIMIT if len(rows) > OPEN_LIST_LIMIT else None
    delayed = delayed_dossiers(
        store, scope, selection.period.start, selection.period.end, limit=OPEN_LIST_LIMIT
    )
    open_items = classify_open(rows[:OPEN_LIST_LIMIT], now, catalog)
    return report, rollup, open_items, truncated_at, delayed


def _as_of_json(rollup: RollupState) -> dict[str, str | bool | None]:
    return {
        "figures_as_of": rollup.refreshed_at.isoformat() if rollup.refreshed_at else None,
        "figures_error": rollup.error,
        "figures_behind": rollup.behind,
        "facts_written_at": rollup.written_at.isoformat() if rollup.written_at else None,
    }


def _trend_json(weeks: list[WeekCount]) -> list[dict[str, Any]]:
    return [
        {"week": w.week.isoformat(), "received": w.received, "resolved": w.resolved}
        for w in weeks
    ]


def _open_json(items: list[OpenItem]) -> list[dict[str, Any]]:
    return [
        {
            "dossier_id": i.dossier.dossier_id,
            "procedure_code": i.dossier.procedure_code,
            "unit_code": i.dossier.unit_code,
            "handling_unit_code": i.dossier.handling_unit_code,
            "received_at": i.dossier.received_at.isoformat(),
            "due_at": i.dossier.due_at.isoformat(),
            "rescheduled_due_at": i.dossier.rescheduled_due_at.isoformat()
            if i.dossier.rescheduled_due_at
            else None,
            "state": "overdue" if i.overdue else "at_risk",
            "paused": i.paused,
        }
        for i in items
    ]


Handler = Callable[[web.Request], Awaitable[web.Response]]
Answer = tuple[Callable[[], dict[str, Any]], Callable[[], str]]
"""A view's answer in both forms: the JSON body (data and fragments) and the whole page,
each built only when asked for; one view per page keeps the two equal."""
View = Callable[[web.Request, datetime], Awaitable[Answer]]


def add_dashboard_routes(
    app: web.Application,
    runner: QueryRunner,
    catalog: Catalog,
    clock: Callable[[], datetime],
) -> None:
    """Register the dashboard on `app`; `clock` gives the local now (for the open lists and
    the default period)."""

    def selection_of(request: web.Request, now: datetime) -> Selection:
        return parse_selection(request.query, now.date(), request.match_info.get("code"))

    async def dashboard(request: web.Request, now: datetime) -> Answer:
        selection = selection_of(request, now)
        report, rollup, weeks, compliance_error = await runner.run(
            _dashboard_data, catalog, selection
        )
        fragments = await asyncio.to_thread(
            dashboard_fragments, report, rollup, weeks, selection, now, compliance_error
        )
        return lambda: {
            **report_json(report),
            "unit": selection.unit,
            **_as_of_json(rollup),
            "compliance_error": compliance_error,
            "trend": _trend_json(weeks),
            "html": fragments,
        }, lambda: dashboard_page(selection, catalog.units, now, fragments)

    async def unit(request: web.Request, now: datetime) -> Answer:
        selection = selection_of(request, now)
        report, rollup, items, truncated_at, delayed = await runner.run(
            _unit_data, catalog, selection, now
        )
        fragments = await asyncio.to_thread(
            unit_fragments, report, rollup, items, truncated_at, catalog.units, selection, now,
            delayed,
        )
        return lambda: {
            **report_json(report),
            "unit": selection.unit,
            **_as_of_json(rollup),
            "as_of": now.isoformat(),
            "open": _open_json(items),
            "delayed": [
                {
                    "dossier_id": d.dossier_id,
                    "procedure_code": d.procedure_code,
                    "unit_code": d.unit_code,
                    "due_at": d.due_at.isoformat() if d.due_at else None,
                    "resolved_at": d.resolved_at.isoformat() if d.resolved_at else None,
                    "delay_caused_by": list(d.caused_by),
                    "delay_attributed": d.attributed,
                }
                for d in delayed
            ],
            "html": fragments,
        }, lambda: unit_page(selection, catalog.units, now, fragments)

    async def home(request: web.Request) -> web.Response:
        raise web.HTTPFound("/dashboard")

    app.router.add_get("/", home)
    app.router.add_get("/dashboard", _as_page(dashboard, clock))
    app.router.add_get("/dashboard/units/{code}", _as_page(unit, clock))
    app.router.add_get("/api/dashboard", _as_json(dashboard, clock))
    app.router.add_get("/api/units/{code}/open", _as_json(unit, clock))
    app.router.add_static("/dashboard/static", STATIC_DIR)


def _status(exc: Exception) -> int:
    return 400 if isinstance(exc, ReportError) else 503


def _as_json(view: View, clock: Callable[[], datetime]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        try:
            body, _page = await view(request, clock())
        except (ReportError, StoreError) as exc:
            return web.json_response({"error": str(exc)}, status=_status(exc))
        text = await asyncio.to_thread(lambda: json.dumps(body()))
        return web.Response(text=text, content_type="application/json")

    return handler


def _as_page(view: View, clock: Callable[[], datetime]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        try:
            _body, page = await view(request, clock())
        except (ReportError, StoreError) as exc:
            return _html(error_page(str(exc), request.query.get("lang", "vi")), _status(exc))
        return _html(await asyncio.to_thread(page))

    return handler


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8", status=status)
