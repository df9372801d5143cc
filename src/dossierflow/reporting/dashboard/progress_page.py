"""The dashboard's Decision 766 page: `GET /dashboard/766?from&to|through&lang`.

The same figures as `GET /report?index=766` (reporting/progress.py), as a table a unit head
reads: units by group with each group's total and the province, score, rank, class, and what
the score becomes if the dossiers at risk go overdue. Without a period: this month so far,
judged now. Rendered on the server (no script), in the dashboard's stylesheet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from dossierflow.reporting.dashboard.pages import ENVIRONMENT
from dossierflow.reporting.dashboard.views import default_period
from dossierflow.reporting.progress import (
    COLUMNS,
    GROUP_NAMES,
    LABELS,
    ProgressReport,
    progress_report,
    row_values,
    rows_in_order,
)
from dossierflow.reporting.report import (
    MAX_DASHBOARD_DAYS,
    ReportError,
    format_rate,
    report_period,
)
from dossierflow.reporting.runner import QueryRunner
from dossierflow.rules.catalog import Unit
from dossierflow.rules.progress_index import IndexSettings
from dossierflow.store import StoreError

SHOWN = tuple(k for k in COLUMNS if k not in ("code", "name", "group"))
PAGE_TEXTS = {
    "vi": {"from": "Từ ngày", "through": "Đến ngày", "language": "English",
           "back": "← Bảng điều khiển",
           "reading": "Đúng hạn so sánh thời điểm kết thúc xử lý (trừ thời gian chờ bổ sung) "
           "với ngày hẹn trả; hồ sơ chưa xong tính tại cuối kỳ, hoặc lúc này nếu kỳ chưa hết."},
    "en": {"from": "From", "through": "Through", "language": "Tiếng Việt",
           "back": "← Dashboard",
           "reading": "On time compares the instant processing ended (less supplement waits) "
           "with the appointment; unfinished dossiers are judged at the period's end, or now "
           "while it runs."},
}


def _cell(key: str, value: Any, lang: str) -> str:
    if value is None:
        return "—"
    if key == "ratio":
        return format_rate(value, lang)
    if isinstance(value, float):
        text = f"{value:.2f}"
        return text.replace(".", ",") if lang == "vi" else text
    return str(value)


def progress_html(report: ProgressReport, lang: str) -> str:
    labels = {**LABELS[lang], **PAGE_TEXTS[lang]}
    rows = []
    for row in rows_in_order(report):
        values = row_values(row, lang)
        name = values["name"]
        if row.group == "group":
            name = GROUP_NAMES[lang].get(row.code, row.code)
        elif row.group == "province":
            name = labels["province"]
        rows.append({
            "code": row.code, "group": row.group, "name": name,
            "strong": row.group in ("group", "province"),
            "cells": [(k, _cell(k, values[k], lang)) for k in SHOWN],
        })
    through = report.period_to - timedelta(days=1)
    params = {"from": report.period_from.isoformat(), "through": through.isoformat()}
    other = "en" if lang == "vi" else "vi"
    return ENVIRONMENT.get_template("progress.html").render(
        lang=lang,
        t=labels,
        period_text=labels["period"].format(
            start=report.period_from.strftime("%d/%m/%Y"), end=through.strftime("%d/%m/%Y"),
            as_of=report.as_of.strftime("%d/%m/%Y %H:%M"),
            appointment=report.settings.apology_appointment.value,
        ),
        period_from=params["from"],
        period_through=params["through"],
        other_lang_href="/dashboard/766?" + urlencode(
            {**params, **({"lang": other} if other != "vi" else {})}),
        headers=[labels["name"], *(labels[k] for k in SHOWN)],
        rows=rows,
    )


def progress_page_handler(
    runner: QueryRunner,
    units: Mapping[str, Unit],
    settings: IndexSettings,
    clock: Callable[[], datetime],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def page(request: web.Request) -> web.Response:
        query = request.query
        lang = query.get("lang", "vi")
        now = clock()
        try:
            if lang not in LABELS:
                raise ReportError(f"lang {lang!r}: use one of vi, en")
            if {"from", "to", "through"} & query.keys():
                period_from, period_to = report_period(
                    query.get("from"), query.get("to"), query.get("through"), "",
                    max_days=MAX_DASHBOARD_DAYS,
                )
            else:
                period = default_period(now.date())
                period_from, period_to = period.start, period.end
            report = await runner.run(
                progress_report, units, period_from, period_to, now, settings
            )
            html = await asyncio.to_thread(progress_html, report, lang)
        except ReportError as exc:
            return web.Response(text=str(exc), status=400)
        except StoreError as exc:
            return web.Response(text=str(exc), status=503)
        return web.Response(
            text=html, content_type="text/html", charset="utf-8"
        )

    return page
