"""HTML of the dashboard: whole pages for the first load, fragments for each refresh.

A page is its fragments inside the layout, and the JSON endpoints carry the same fragments
beside the data, so the first paint and every refresh come from one rendering (the browser
script only swaps them in). Templates live in `templates/` (package data) and are rendered
by Jinja2 with autoescaping; the charts are SVG from `charts.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from dossierflow.reporting.dashboard import charts
from dossierflow.reporting.dashboard.views import (
    REFRESH_SECONDS,
    OpenItem,
    Period,
    backlog_rows,
    cards,
    compliance_cards,
    format_day,
    format_instant,
    freshness,
    period_choices,
    rate_rows,
    texts,
    trend_points,
    unit_name,
    unit_options,
)
from dossierflow.reporting.queries import DelayedDossier, WeekCount
from dossierflow.reporting.report import (
    LABELS,
    RATE_KEYS,
    REPORT_KEYS,
    Report,
    format_count,
    format_rate,
    level_name,
)
from dossierflow.rollups import RollupState
from dossierflow.rules.catalog import Unit

ENVIRONMENT = Environment(
    loader=PackageLoader("dossierflow.reporting.dashboard", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Selection:
    """What the pickers chose; `unit` None is the whole province."""

    period: Period
    unit: str | None
    lang: str

    def query(self, **overrides: str) -> str:
        params = {"from": self.period.start.isoformat(), "to": self.period.end.isoformat()}
        if self.unit:
            params["unit"] = self.unit
        if self.lang != "vi":
            params["lang"] = self.lang
        params.update(overrides)
        return urlencode({k: v for k, v in params.items() if v})


def _render(template: str, **context: Any) -> str:
    return ENVIRONMENT.get_template(template).render(**context)


def _cell(key: str, value: int | float | None, lang: str) -> str:
    if key in RATE_KEYS:
        return format_rate(value, lang) if isinstance(value, float) else ""
    return format_count(int(value or 0), lang)


def period_text(selection: Selection) -> str:
    return texts(selection.lang)["period_text"].format(
        start=format_day(selection.period.start, selection.lang),
        end=format_day(selection.period.last_day, selection.lang),
    )


def _figures_as_of(rollup: RollupState, lang: str) -> str:
    shown = freshness(rollup, lang)
    if shown.failed:
        return Markup('{} <span class="failed">{}</span>').format(shown.text, shown.note)
    if shown.behind:
        return Markup('{} <strong class="behind" role="status">{}</strong>').format(
            shown.text, shown.note
        )
    if shown.pending:
        return Markup('<span class="pending" title="{}">{}</span>').format(shown.note, shown.text)
    return str(Markup.escape(shown.text))


def _common_fragments(
    report: Report, rollup: RollupState, selection: Selection, now: datetime
) -> dict[str, str]:
    """The parts both pages share: the period, the time of this answer, the summary cards and
    how old their figures are (`rollup`: the rollup's last refresh, local time)."""
    lang = selection.lang
    return {
        "period-text": period_text(selection),
        "updated": texts(lang)["updated"].format(time=now.strftime("%H:%M:%S")),
        "figures-as-of": _figures_as_of(rollup, lang),
        "summary": _render("_cards.html", cards=cards(report.total, lang)),
    }


def dashboard_fragments(
    report: Report,
    rollup: RollupState,
    weeks: Sequence[WeekCount],
    selection: Selection,
    now: datetime,
    compliance_error: str | None = None,
) -> dict[str, str]:
    """Element id -> inner HTML, for everything that changes with the figures;
    `compliance_error` when the live compliance figures could not be read."""
    lang = selection.lang
    t = texts(lang)
    rows = [
        {
            "code": row.unit_code,
            "name": row.unit_name,
            "level": level_name(row.level, lang),
            "cells": [(k, _cell(k, v, lang)) for k, v in row.figures.as_dict().items()],
            "href": f"/dashboard/units/{row.unit_code}?{selection.query(unit='')}"
            if row.unit_code
            else "",
        }
        for row in report.rows
    ]
    total = [(k, _cell(k, v, lang)) for k, v in report.total.as_dict().items()]
    return {
        **_common_fragments(report, rollup, selection, now),
        "chart-rate": charts.rate_bars(
            t["chart_rate"], rate_rows(report, lang), t["no_resolved"]
        ),
        "chart-trend": charts.trend_lines(
            t["chart_trend"],
            trend_points(weeks, selection.period, lang),
            (t["legend_received"], t["legend_resolved"]),
            t["no_weeks"],
        ),
        "chart-backlog": charts.backlog_bars(
            t["chart_backlog"],
            backlog_rows(report, lang),
            (t["legend_overdue"], t["legend_within"]),
            t["no_backlog"],
        ),
        "compliance": _render(
            "_cards.html", cards=compliance_cards(report.total_compliance, lang)
        )
        if compliance_error is None
        else str(Markup('<p class="failed">{}</p>').format(
            t["compliance_failed"].format(error=compliance_error)
        )),
        "report-table": _render(
            "_table.html",
            t=t,
            headers=[LABELS[lang][k] for k in REPORT_KEYS],
            rows=rows,
            total_label=LABELS[lang]["total"],
            total=total,
            empty=LABELS[lang]["empty"],
        ),
    }


def unit_fragments(
    report: Report,
    rollup: RollupState,
    items: Sequence[OpenItem],
    truncated_at: int | None,
    units: Mapping[str, Unit],
    selection: Selection,
    now: datetime,
    delayed: Sequence[DelayedDossier] = (),
) -> dict[str, str]:
    lang = selection.lang
    t = texts(lang)
    assert selection.unit is not None
    delayed_rows = [
        {
            "dossier_id": d.dossier_id,
            "procedure": d.procedure_code,
            "unit": unit_name(units, d.unit_code),
            "due_at": format_instant(d.due_at, lang) if d.due_at else "",
            "resolved_at": format_instant(d.resolved_at, lang) if d.resolved_at
            else t["in_progress"],
            "in_progress": d.resolved_at is None,
            "caused_by": ", ".join(unit_name(units, code) for code in d.caused_by)
            or t["caused_by_nobody" if d.attributed else "caused_by_not_attributed"],
        }
        for d in delayed
    ]
    rows = [
        {
            "dossier_id": item.dossier.dossier_id,
            "procedure": item.dossier.procedure_code,
            "received_at": format_instant(item.dossier.received_at, lang),
            "due_at": format_instant(item.dossier.due_at, lang),
            "rescheduled": format_instant(item.dossier.rescheduled_due_at, lang)
            if item.dossier.rescheduled_due_at
            else "",
            "state": "overdue" if item.overdue else "at_risk",
            "paused": item.paused,
            "handling": unit_name(units, item.dossier.handling_unit_code),
        }
        for item in items
    ]
    return {
        **_common_fragments(report, rollup, selection, now),
        "unit-title": unit_name(units, selection.unit),
        "open-list": _render(
            "_open.html",
            t=t,
            rows=rows,
            note=t["open_note"].format(now=format_instant(now, lang)),
            counts=t["open_counts"].format(
                overdue=format_count(sum(i.overdue for i in items), lang),
                at_risk=format_count(sum(not i.overdue for i in items), lang),
            ),
            truncated=t["truncated"].format(n=truncated_at) if truncated_at else "",
        ),
        "delayed-list": _render("_delayed.html", t=t, rows=delayed_rows),
    }


def _page(
    template: str,
    selection: Selection,
    units: Mapping[str, Unit],
    now: datetime,
    fragments: Mapping[str, str],
    api: str,
    page_path: str,
    with_province: bool,
) -> str:
    lang = selection.lang
    other = "en" if lang == "vi" else "vi"
    return _render(
        template,
        lang=lang,
        t=texts(lang),
        selection=selection,
        fragments={k: Markup(v) for k, v in fragments.items()},
        units=unit_options(units),
        with_province=with_province,
        choices=period_choices(selection.period, now.date(), lang),
        api=api,
        page_path=page_path,
        refresh_seconds=REFRESH_SECONDS,
        other_lang_href=f"{page_path}?{selection.query(lang=other)}",
        province_href=f"/dashboard?{selection.query(unit='')}",
    )


def dashboard_page(
    selection: Selection, units: Mapping[str, Unit], now: datetime, fragments: Mapping[str, str]
) -> str:
    return _page(
        "dashboard.html", selection, units, now, fragments, "/api/dashboard", "/dashboard", True
    )


def unit_page(
    selection: Selection, units: Mapping[str, Unit], now: datetime, fragments: Mapping[str, str]
) -> str:
    assert selection.unit is not None
    return _page(
        "unit.html",
        selection,
        units,
        now,
        fragments,
        "/api/units/{unit}/open",
        f"/dashboard/units/{selection.unit}",
        False,
    )


def error_page(message: str, lang: str) -> str:
    return _render("error.html", lang=lang if lang in ("vi", "en") else "vi", message=message)
