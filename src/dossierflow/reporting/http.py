"""`GET /report` over HTTP: the period report from the store a process holds open.

chDB lets one process open a data directory, so the process that owns the store (the sink)
serves the report for everyone else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from dossierflow.reporting.report import ReportError, parse_date, render, run_report
from dossierflow.rules.catalog import Unit
from dossierflow.store import Store, StoreError

CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "table": "text/plain",
}


def report_handler(
    report_store: Store, units: Mapping[str, Unit]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The aiohttp handler of `GET /report` over `report_store`."""
    lock = asyncio.Lock()

    async def report(request: web.Request) -> web.Response:
        query = request.query
        fmt = query.get("format", "json")
        lang = query.get("lang", "vi")
        try:
            if "from" not in query or "to" not in query:
                raise ReportError("from and to are required (YYYY-MM-DD)")
            period_from = parse_date(query["from"], "from")
            period_to = parse_date(query["to"], "to")
            if fmt not in CONTENT_TYPES:
                raise ReportError(f"format {fmt!r}: use one of json, csv, table")
            async with lock:  # one client, one query at a time
                result = await asyncio.to_thread(
                    run_report,
                    report_store,
                    units,
                    period_from,
                    period_to,
                    unit=query.get("unit") or None,
                    level=query.get("level") or None,
                )
            text = render(result, fmt, lang)
        except ReportError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except StoreError as exc:
            return web.json_response({"error": str(exc)}, status=503)
        headers = {"X-Dossierflow-Reconciliation": "failed" if result.violations else "ok"}
        return web.Response(
            text=text, content_type=CONTENT_TYPES[fmt], charset="utf-8", headers=headers
        )

    return report
