"""The reporting HTTP app: `GET /report` and the built-in dashboard.

chDB lets one process open a data directory, so the process that owns the store (the sink)
serves the report and the dashboard for everyone else. Both read the store through one
`QueryRunner`, so their queries never run on the store's client at the same time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web

from dossierflow.config import ProgressIndexSettings
from dossierflow.reporting.client import FACTS_HEADER
from dossierflow.reporting.dashboard.handlers import add_dashboard_routes
from dossierflow.reporting.dashboard.progress_page import progress_page_handler
from dossierflow.reporting.progress import progress_report, render_progress
from dossierflow.reporting.queries import fetch_report
from dossierflow.reporting.report import (
    LANGS,
    LOCAL,
    ReportError,
    build_report,
    check_scope,
    render,
    report_period,
    report_readings,
    with_compliance,
)
from dossierflow.reporting.runner import QueryRunner
from dossierflow.rules.catalog import Catalog
from dossierflow.rules.progress_index import IndexSettings
from dossierflow.store import Store, StoreError, count_facts

CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "table": "text/plain",
}


def local_now() -> datetime:
    return datetime.now(LOCAL)


def add_reporting_routes(
    app: web.Application,
    report_store: Store,
    catalog: Catalog,
    clock: Callable[[], datetime] = local_now,
    index_settings: IndexSettings | None = None,
    time_limit: float = 30.0,
) -> QueryRunner:
    """`GET /report` and the dashboard (`/dashboard`, `/api/...`) over `report_store`;
    returns the runner their queries share (for any other reader of `report_store`), which
    stops any of them after `time_limit` seconds. `index_settings`: how the 766 index is read
    (default: `ProgressIndexSettings` from the environment, read now so that a bad value stops
    the process at start)."""
    runner = QueryRunner(report_store, time_limit)
    if index_settings is None:
        index_settings = ProgressIndexSettings.from_env().index_settings()
    app.router.add_get(
        "/report", report_handler(runner, catalog, index_settings, clock)
    )
    add_dashboard_routes(app, runner, catalog, clock)
    app.router.add_get(
        "/dashboard/766", progress_page_handler(runner, catalog.units, index_settings, clock)
    )
    return runner


def report_handler(
    runner: QueryRunner,
    catalog: Catalog,
    index_settings: IndexSettings,
    clock: Callable[[], datetime] = local_now,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The aiohttp handler of `GET /report`; `outcome_reading` and `appointment` override the
    catalogue's `report:` readings; `index=766` gives the Decision 766 progress index
    (reporting/progress.py) instead of the period report."""
    units = catalog.units

    async def report(request: web.Request) -> web.Response:
        query = request.query
        fmt = query.get("format", "json")
        lang = query.get("lang", "vi")
        try:
            # Every parameter is checked before the store is asked anything.
            period_from, period_to = report_period(
                query.get("from"), query.get("to"), query.get("through"), prefix=""
            )
            if fmt not in CONTENT_TYPES:
                raise ReportError(f"format {fmt!r}: use one of json, csv, table")
            index = query.get("index")
            if index is not None:
                if index != "766":
                    raise ReportError(f"index {index!r}: the one index known is 766")
                if lang not in LANGS:
                    raise ReportError(f"lang {lang!r}: use one of {', '.join(LANGS)}")
                ignored = {"unit", "level", "outcome_reading", "appointment"} & query.keys()
                if ignored:
                    raise ReportError(
                        f"{', '.join(sorted(ignored))} do not apply to index=766: it lists every "
                        "unit, ranked within its group, by the DOSSIERFLOW_INDEX766_* settings"
                    )
                progress = await runner.run(
                    progress_report, units, period_from, period_to, clock(), index_settings
                )
                text = await asyncio.to_thread(render_progress, progress, fmt, lang)
                facts = await runner.run(count_facts)
                return web.Response(
                    text=text, content_type=CONTENT_TYPES[fmt], charset="utf-8",
                    headers={FACTS_HEADER: str(facts)},
                )
            unit, level = query.get("unit") or None, query.get("level") or None
            check_scope(units, unit, level, lang, prefix="")
            readings = report_readings(
                catalog.report, query.get("outcome_reading"), query.get("appointment"), ""
            )
            figures, compliance = await runner.run(
                fetch_report, period_from, period_to, readings
            )
            result = build_report(
                figures, units, period_from, period_to, unit=unit, level=level, lang=lang
            )
            result = with_compliance(result, compliance, units, unit=unit, level=level)
            facts = await runner.run(count_facts)
            text = await asyncio.to_thread(render, result, fmt, lang)
        except ReportError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except StoreError as exc:
            return web.json_response({"error": str(exc)}, status=503)
        headers = {
            "X-Dossierflow-Reconciliation": "failed" if result.violations else "ok",
            # A report of a store without any fact is all zeros: say so, clients check it.
            FACTS_HEADER: str(facts),
        }
        return web.Response(
            text=text, content_type=CONTENT_TYPES[fmt], charset="utf-8", headers=headers
        )

    return report
