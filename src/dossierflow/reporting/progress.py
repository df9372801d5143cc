"""The Decision 766 progress index as a report: `dossierflow report --index 766` and
`GET /report?index=766`.

The store gives per receiving unit the counts of 2.1 (`bi_progress_766`, migration 010) and
per unit and procedure the averages of 2.2 (`bi_progress_766_procedures`); the pure rules
(rules/progress_index.py) make ratios, scores, ranks within groups and classes; this module
renders them. A period that has not ended yet is judged now, not at its end: that is
"this month so far", the figure a unit head can still change.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from dossierflow.reporting.report import (
    LOCAL,
    ReportError,
    csv_text,
    format_rate,
    period_bounds,
)
from dossierflow.rules.catalog import Unit
from dossierflow.rules.progress_index import (
    IndexCounts,
    IndexReport,
    IndexRow,
    IndexSettings,
    build_index,
)
from dossierflow.store import Store

PROGRESS_SQL = """
SELECT unit_code, received, on_time, overdue, completed, processing_days, at_risk
FROM bi_progress_766(period_from = {period_from:String}, period_to = {period_to:String},
                     apology_appointment = {apology_appointment:String},
                     max_supplements = {max_supplements:UInt32})
ORDER BY unit_code
"""

PROCEDURES_SQL = """
SELECT unit_code, procedure_code, processing_unit, completed, average_duration, average_days
FROM bi_progress_766_procedures(period_from = {period_from:String},
                                period_to = {period_to:String})
ORDER BY unit_code, procedure_code, processing_unit
"""


@dataclass(frozen=True)
class ProcedureTime:
    """2.2 for one unit and procedure: resolved dossiers and their average time."""

    unit_code: str
    procedure_code: str
    processing_unit: str
    completed: int
    average: float
    average_days: float


@dataclass(frozen=True)
class ProgressReport:
    period_from: date
    period_to: date
    as_of: datetime
    """The instant open dossiers are judged at: the period's end, or now if sooner."""
    settings: IndexSettings
    index: IndexReport
    procedures: tuple[ProcedureTime, ...]


def judged_until(period_from: date, period_to: date, now: datetime) -> tuple[datetime, datetime]:
    """[from 00:00, min(to 00:00, now)): an unfinished period is read as of now."""
    start, end = period_bounds(period_from, period_to)
    if now <= start:
        raise ReportError(
            f"from ({period_from.isoformat()}) is in the future: nothing has happened yet"
        )
    return start, min(end, now.astimezone(LOCAL))


def _bound(instant: datetime) -> str:
    return instant.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def fetch_progress(
    store: Store, start: datetime, end: datetime, settings: IndexSettings
) -> dict[str, IndexCounts]:
    """`bi_progress_766` per receiving unit ('' for dossiers without one)."""
    result = store.client.query(
        PROGRESS_SQL,
        parameters={
            "period_from": _bound(start),
            "period_to": _bound(end),
            "apology_appointment": settings.apology_appointment.value,
            "max_supplements": settings.max_supplements_while_waiting,
        },
    )
    return {
        str(row[0]): IndexCounts(
            received=int(row[1]),
            on_time=int(row[2]),
            overdue=int(row[3]),
            completed=int(row[4]),
            processing_days=float(row[5]),
            at_risk=int(row[6]),
        )
        for row in result.result_rows
    }


def fetch_procedure_times(store: Store, start: datetime, end: datetime) -> list[ProcedureTime]:
    result = store.client.query(
        PROCEDURES_SQL, parameters={"period_from": _bound(start), "period_to": _bound(end)}
    )
    return [
        ProcedureTime(str(r[0]), str(r[1]), str(r[2] or ""), int(r[3]), float(r[4]), float(r[5]))
        for r in result.result_rows
    ]


def progress_report(
    store: Store,
    units: Mapping[str, Unit],
    period_from: date,
    period_to: date,
    now: datetime,
    settings: IndexSettings,
) -> ProgressReport:
    start, end = judged_until(period_from, period_to, now)
    counts = fetch_progress(store, start, end, settings)
    return ProgressReport(
        period_from=period_from,
        period_to=period_to,
        as_of=end,
        settings=settings,
        index=build_index(counts, units, settings),
        procedures=tuple(fetch_procedure_times(store, start, end)),
    )


# --- renderings -----------------------------------------------------------------------

COLUMNS = (
    "code", "name", "group", "received", "on_time", "overdue", "ratio", "score", "rank",
    "class", "average_days", "completed", "at_risk", "score_if_at_risk_overdue",
)

_TEXT_COLUMNS = frozenset({"code", "name", "group", "class"})

LABELS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "CHỈ SỐ 766 – TIẾN ĐỘ GIẢI QUYẾT (2.1 tỷ lệ đúng hạn, 2.2 thời gian giải quyết)",
        "period": "Kỳ: từ {start} đến {end} (tính đến {as_of}); hẹn sau xin lỗi: {appointment}",
        "code": "Mã", "name": "Đơn vị", "group": "Nhóm", "received": "Tiếp nhận và xử lý",
        "on_time": "Đúng hạn", "overdue": "Quá hạn", "ratio": "Tỷ lệ", "score": "Điểm 2.1",
        "rank": "Hạng", "class": "Xếp loại", "average_days": "TG TB (ngày)",
        "completed": "Đã giải quyết", "at_risk": "Sắp quá hạn",
        "score_if_at_risk_overdue": "Điểm nếu sắp quá hạn thành quá hạn",
        "province": "TOÀN TỈNH", "procedures": "2.2 Thời gian giải quyết trung bình theo TTHC",
        "procedure": "TTHC", "unit": "Đơn vị tính", "average": "Trung bình",
    },
    "en": {
        "title": "DECISION 766 INDEX – PROCESSING PROGRESS (2.1 on-time ratio, 2.2 time)",
        "period": "Period: {start} to {end} (as of {as_of}); appointment after an apology: "
        "{appointment}",
        "code": "Code", "name": "Unit", "group": "Group", "received": "Received or processed",
        "on_time": "On time", "overdue": "Overdue", "ratio": "Ratio", "score": "Score 2.1",
        "rank": "Rank", "class": "Class", "average_days": "Avg time (days)",
        "completed": "Resolved", "at_risk": "At risk",
        "score_if_at_risk_overdue": "Score if at-risk go overdue",
        "province": "PROVINCE", "procedures": "2.2 Average processing time per procedure",
        "procedure": "Procedure", "unit": "Unit of time", "average": "Average",
    },
}

GROUP_NAMES = {
    "vi": {"department": "Sở, ban, ngành", "commune": "Cấp xã", "district": "Cấp huyện",
           "province": "Cấp tỉnh", "": "Ngoài danh mục"},
    "en": {"department": "Departments", "commune": "Communes", "district": "Districts",
           "province": "Province level", "": "Not in the catalogue"},
}


def _labels(lang: str) -> dict[str, str]:
    if lang not in LABELS:
        raise ReportError(f"lang {lang!r}: use one of vi, en")
    return LABELS[lang]


def row_values(row: IndexRow, lang: str) -> dict[str, Any]:
    c = row.counts
    band = row.band
    return {
        "code": row.code,
        "name": row.name,
        "group": row.group,
        "received": c.received,
        "on_time": c.on_time,
        "overdue": c.overdue,
        "ratio": c.ratio,
        "score": row.score,
        "rank": row.rank,
        "class": (band.label_vi if lang == "vi" else band.label_en) if band else None,
        "average_days": c.average_days,
        "completed": c.completed,
        "at_risk": c.at_risk,
        "score_if_at_risk_overdue": row.score_if_at_risk_overdue,
    }


def progress_json(report: ProgressReport, lang: str = "vi") -> dict[str, Any]:
    _labels(lang)
    index = report.index
    return {
        "index": "766",
        "period": {"from": report.period_from.isoformat(), "to": report.period_to.isoformat()},
        "as_of": report.as_of.isoformat(),
        "settings": {
            "apology_appointment": report.settings.apology_appointment.value,
            "max_supplements_while_waiting": report.settings.max_supplements_while_waiting,
            "max_score": report.settings.max_score,
        },
        "province": row_values(index.province, lang),
        "groups": [row_values(g, lang) for g in index.groups],
        "units": [row_values(u, lang) for u in index.units],
        "procedures": [
            {
                "unit_code": p.unit_code,
                "procedure_code": p.procedure_code,
                "processing_unit": p.processing_unit,
                "completed": p.completed,
                "average": p.average,
                "average_days": p.average_days,
            }
            for p in report.procedures
        ],
    }


def rows_in_order(report: ProgressReport) -> list[IndexRow]:
    """Units group by group, each group's total after its units, the province last."""
    out: list[IndexRow] = []
    for group in report.index.groups:
        out.extend(u for u in report.index.units if u.group == group.code)
        out.append(group)
    out.append(report.index.province)
    return out


def progress_csv(report: ProgressReport, lang: str = "vi") -> str:
    """Machine keys in the header; group rows have group `group`, the province `province`.
    As the period report's CSV (`report_csv`): the text cells (codes, names, classes) pass
    through `csv_text`, and lines end in CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows_in_order(report):
        values = row_values(row, lang)
        writer.writerow([
            "" if values[k] is None
            else csv_text(values[k]) if k in _TEXT_COLUMNS and isinstance(values[k], str)
            else values[k]
            for k in COLUMNS
        ])
    return out.getvalue()


def _number(value: Any, lang: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:g}"
        return text.replace(".", ",") if lang == "vi" else text
    return str(value)


def progress_text(report: ProgressReport, lang: str = "vi", width: int = 200) -> str:
    labels = _labels(lang)
    names = GROUP_NAMES[lang]
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(labels["title"])
    last = report.period_to.toordinal() - 1
    console.print(labels["period"].format(
        start=report.period_from.strftime("%d/%m/%Y"),
        end=date.fromordinal(last).strftime("%d/%m/%Y"),
        as_of=report.as_of.strftime("%d/%m/%Y %H:%M"),
        appointment=report.settings.apology_appointment.value,
    ))
    table = Table(box=box.SQUARE, header_style="bold")
    shown = [k for k in COLUMNS if k != "group"]
    for key in shown:
        table.add_column(labels[key], justify="left" if key in ("code", "name") else "right")
    for row in rows_in_order(report):
        values = row_values(row, lang)
        if row.group == "group":
            values["name"] = names.get(row.code, row.code)
        elif row.group == "province":
            values["name"] = labels["province"]
        style = "bold" if row.group in ("group", "province") else None
        cells = (
            format_rate(values[k], lang) if k == "ratio" else _number(values[k], lang)
            for k in shown
        )
        table.add_row(*cells, style=style)
    console.print(table)
    if report.procedures:
        console.print(labels["procedures"])
        times = Table(box=box.SQUARE, header_style="bold")
        for key in ("code", "procedure", "unit", "completed", "average", "average_days"):
            times.add_column(labels[key])
        for p in report.procedures:
            times.add_row(
                p.unit_code, p.procedure_code, p.processing_unit, str(p.completed),
                _number(p.average, lang), _number(p.average_days, lang),
            )
        console.print(times)
    return console.export_text()


def render_progress(report: ProgressReport, fmt: str, lang: str = "vi") -> str:
    if fmt == "json":
        return json.dumps(progress_json(report, lang), ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return progress_csv(report, lang)
    if fmt == "table":
        return progress_text(report, lang)
    raise ReportError(f"format {fmt!r}: use one of json, csv, table")
