"""The period report of docs/domain.md ("The period report"): figures, rows, totals and renderings.

Functional core, imperative shell: this module is pure. It chooses rows, sums totals, computes
rates, checks the reconciliation and renders JSON, CSV and printed tables from the figures and
the unit catalogue; the store's figures come from `reporting.queries.fetch_figures`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

from dossierflow.errors import DossierflowError, ExitCode
from dossierflow.rules.calendar import VIETNAM
from dossierflow.rules.catalog_units import Unit, descendants
from dossierflow.rules.readings import Appointment, OutcomeReading, ReportReadings

LOCAL = VIETNAM
UNKNOWN_LEVEL = ""
LANGS = ("vi", "en")


@dataclass(frozen=True)
class Figures:
    """The integer keys of docs/domain.md's period report, for one unit or a total."""

    carried_over: int = 0
    received: int = 0
    received_online: int = 0
    received_in_person: int = 0
    received_postal: int = 0
    resolved_early: int = 0
    resolved_on_time: int = 0
    resolved_overdue: int = 0
    withdrawn: int = 0
    stopped: int = 0
    in_progress: int = 0
    in_progress_overdue: int = 0
    apologies: int = 0
    unknown_procedure: int = 0
    """In progress at `to` with a procedure the catalogue does not know (deadline unchecked)."""

    def __add__(self, other: Figures) -> Figures:
        return Figures(*(getattr(self, k) + getattr(other, k) for k in COUNT_KEYS))

    @property
    def resolved_in_time(self) -> int:
        """Resolved early or on time."""
        return self.resolved_early + self.resolved_on_time

    @property
    def resolved(self) -> int:
        """Resolved, whatever the outcome (early, on time, overdue)."""
        return self.resolved_in_time + self.resolved_overdue

    @property
    def accounted_for(self) -> int:
        """Resolved + withdrawn + stopped + in_progress: where the dossiers went."""
        return self.resolved + self.withdrawn + self.stopped + self.in_progress

    @property
    def on_time_rate(self) -> float | None:
        """(early + on time) / (early + on time + overdue); None when nothing was resolved."""
        return _ratio(self.resolved_in_time, self.resolved)

    @property
    def online_rate(self) -> float | None:
        return _ratio(self.received_online, self.received)

    @property
    def reconciles(self) -> bool:
        """carried_over + received = resolved (3 outcomes) + withdrawn + stopped + in_progress."""
        return self.carried_over + self.received == self.accounted_for

    def as_dict(self) -> dict[str, int | float | None]:
        out: dict[str, int | float | None] = {k: getattr(self, k) for k in COUNT_KEYS}
        out["on_time_rate"] = self.on_time_rate
        out["online_rate"] = self.online_rate
        return out


COUNT_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Figures))
RATE_KEYS: tuple[str, ...] = ("on_time_rate", "online_rate")
REPORT_KEYS: tuple[str, ...] = COUNT_KEYS + RATE_KEYS


@dataclass(frozen=True)
class Compliance:
    """Beyond docs/domain.md's keys: how a unit kept the one-stop limits in the period
    (`bi_compliance_report`, migration 011; docs/compliance.md). Not part of the
    reconciliation: each is a count of events or a subset of an overdue figure."""

    supplement_requests_late: int = 0
    """Supplement requests made in the period later than the limit after reception."""
    apologies_late: int = 0
    """First apologies issued in the period after the last day to apologise in time."""
    resolved_overdue_no_apology: int = 0
    """Of `resolved_overdue`, the dossiers that never had an apology."""
    in_progress_overdue_no_apology: int = 0
    """Of `in_progress_overdue`, the dossiers without an apology before `to`."""
    resolved_overdue_caused: int = 0
    """Dossiers resolved overdue in the period whose delay this unit's processing steps caused
    (`bi_delays_caused`, migration 016): the unit that signs the apology. Counted for the
    department of the steps, not the receiving unit, so its total may differ from
    `resolved_overdue`'s: a dossier no step overran counts for nobody, one that several
    departments delayed (`steps.delay_cause: every`) for each."""
    in_progress_overdue_caused: int = 0
    """Of the dossiers in progress and overdue at `to` (`in_progress_overdue`, counted for
    the receiving unit), those whose delay this unit's steps caused, the open step judged at
    `to` by the same rule (`bi_delays_caused`, migration 017)."""

    def __add__(self, other: Compliance) -> Compliance:
        return Compliance(*(getattr(self, k) + getattr(other, k) for k in COMPLIANCE_KEYS))

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in COMPLIANCE_KEYS}


COMPLIANCE_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Compliance))
DELAY_KEYS: tuple[str, ...] = ("resolved_overdue_caused", "in_progress_overdue_caused")
"""The compliance keys counted per department of the steps (the others: per receiving unit)."""
ROW_KEYS: tuple[str, ...] = REPORT_KEYS + COMPLIANCE_KEYS
"""Every key of a report row, as JSON, CSV and the table give them."""


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


@dataclass(frozen=True)
class ReportRow:
    unit_code: str
    unit_name: str
    level: str
    figures: Figures
    compliance: Compliance = field(default_factory=Compliance)

    def values(self) -> dict[str, int | float | None]:
        return {**self.figures.as_dict(), **self.compliance.as_dict()}


@dataclass(frozen=True)
class Report:
    period_from: date
    period_to: date
    rows: tuple[ReportRow, ...]
    total: Figures
    total_compliance: Compliance = field(default_factory=Compliance)

    def total_values(self) -> dict[str, int | float | None]:
        return {**self.total.as_dict(), **self.total_compliance.as_dict()}

    @property
    def violations(self) -> list[str]:
        """One line per row (and the total) that does not reconcile."""
        out = []
        for name, figures in [(r.unit_code, r.figures) for r in self.rows] + [
            ("total", self.total)
        ]:
            if not figures.reconciles:
                f = figures
                out.append(
                    f"{name}: carried_over {f.carried_over} + received {f.received} = "
                    f"{f.carried_over + f.received}, but resolved "
                    f"{f.resolved_early}+{f.resolved_on_time}+{f.resolved_overdue} + withdrawn "
                    f"{f.withdrawn} + stopped {f.stopped} + in_progress {f.in_progress} = "
                    f"{f.accounted_for}"
                )
        return out


class ReportError(DossierflowError, ValueError):
    """Bad report parameters; the message names the parameter and the problem."""

    exit_code = ExitCode.USAGE


def check_period(period_from: date, period_to: date, prefix: str = "--") -> None:
    """Refuse a period whose `to` is not after its `from`; `prefix` as in `report_period`."""
    if period_to <= period_from:
        raise ReportError(
            f"{prefix}to ({period_to.isoformat()}) must be after {prefix}from "
            f"({period_from.isoformat()}); the period is [from 00:00, to 00:00)"
        )


def period_bounds(period_from: date, period_to: date) -> tuple[datetime, datetime]:
    """[from 00:00, to 00:00) in local time; `to` must be after `from`."""
    check_period(period_from, period_to)
    return (
        datetime.combine(period_from, time(), LOCAL),
        datetime.combine(period_to, time(), LOCAL),
    )


# --- choosing rows (pure) -------------------------------------------------------------

LEVEL_ORDER = ("province", "department", "district", "commune")


def _level_rank(level: str) -> tuple[int, str]:
    if level in LEVEL_ORDER:
        return (LEVEL_ORDER.index(level), level)
    return (len(LEVEL_ORDER) + (1 if level == UNKNOWN_LEVEL else 0), level)


def build_report(
    figures: Mapping[str, Figures],
    units: Mapping[str, Unit],
    period_from: date,
    period_to: date,
    *,
    unit: str | None = None,
    level: str | None = None,
    lang: str = LANGS[0],
) -> Report:
    """Rows for the units in scope that have any figure, ordered by level then code.

    Scope: everything (the province), `unit` and its descendants in the unit tree, or the
    units of one `level`. The requested `unit` always gets a row, even with zeros. Units the
    catalogue does not know keep their code as name and an empty level. The total is the sum
    of the rows, so `--level commune` totals the commune level. A `level` none of whose
    units has a dossier while other levels have some raises `LevelWithoutDossiers`, in
    `lang`, naming those levels and their counts.
    """
    check_period(period_from, period_to)
    check_scope(units, unit, level, lang)
    if unit is not None and unit not in units and unit not in figures:
        raise ReportError(f"--unit {unit!r}: no such unit in the catalogue and no data for it")
    scope = _Scope.of(units, unit, level)
    chosen: dict[str, Figures] = {code: f for code, f in figures.items() if scope.holds(code)}
    if unit is not None:
        chosen.setdefault(unit, Figures())
    rows = [
        _row(code, f, units) for code, f in chosen.items() if f != Figures() or code == unit
    ]
    rows.sort(key=_row_order)
    if level is not None and not rows:
        _refuse_an_empty_level(level, figures, units, lang)
    return Report(period_from, period_to, tuple(rows), sum_figures(r.figures for r in rows))


@dataclass(frozen=True)
class _Scope:
    """The units a report covers: all of them, a unit and its descendants, or one level."""

    units: Mapping[str, Unit]
    within: frozenset[str] | None
    level: str | None

    @classmethod
    def of(cls, units: Mapping[str, Unit], unit: str | None, level: str | None) -> _Scope:
        within = None if unit is None else descendants(units, unit)
        return cls(units, within, level)

    def holds(self, code: str) -> bool:
        info = self.units.get(code)
        row_level = info.level if info else UNKNOWN_LEVEL
        return (self.within is None or code in self.within) and (
            self.level is None or row_level == self.level
        )


def _row(code: str, figures: Figures, units: Mapping[str, Unit]) -> ReportRow:
    info = units.get(code)
    return ReportRow(
        code, info.name if info else code, info.level if info else UNKNOWN_LEVEL, figures
    )


def _row_order(row: ReportRow) -> tuple[tuple[int, str], str]:
    return (_level_rank(row.level), row.unit_code)


class LevelWithoutDossiers(ReportError):
    """`--level L` selects no dossier while other levels hold some in the period."""

    exit_code = ExitCode.NO_DATA


def dossiers_by_level(
    figures: Mapping[str, Figures], units: Mapping[str, Unit]
) -> dict[str, int]:
    """Per level, the dossiers the period concerns (carried over + received), levels
    without any left out; a unit the catalogue does not know counts as `UNKNOWN_LEVEL`."""
    counts: dict[str, int] = {}
    for code, f in figures.items():
        info = units.get(code)
        row_level = info.level if info else UNKNOWN_LEVEL
        counts[row_level] = counts.get(row_level, 0) + f.carried_over + f.received
    return {k: counts[k] for k in sorted(counts, key=_level_rank) if counts[k]}


def _refuse_an_empty_level(
    level: str, figures: Mapping[str, Figures], units: Mapping[str, Unit], lang: str
) -> None:
    """An empty table for a level while the period has dossiers reads as "nothing happened":
    say instead where the dossiers are (docs/domain.md, "A level without dossiers"). A period
    without any dossier keeps its empty report."""
    counts = dossiers_by_level(figures, units)
    if not counts:
        return
    codes = ", ".join(sorted(code for code, u in units.items() if u.level == level))
    where = "; ".join(f"{level_name(k, lang)} ({format_count(n, lang)})" for k, n in counts.items())
    options = ", ".join(f"--level {k}" for k in counts if k != UNKNOWN_LEVEL)
    total = format_count(sum(counts.values()), lang)
    if lang == "en":
        message = (
            f"--level {level}: the {level_name(level, lang)} units ({codes}) have no dossier in "
            f"the period. Its {total} dossiers are at: {where}. Leave out --level for the whole "
            "province" + (f", or give one of: {options}" if options else "")
        )
    else:
        message = (
            f"--level {level}: các đơn vị {level_name(level, lang)} ({codes}) không có hồ sơ "
            f"nào trong kỳ. {total} hồ sơ của kỳ thuộc: {where}. Bỏ --level để có báo cáo "
            "toàn tỉnh" + (f", hoặc chọn một trong: {options}" if options else "")
        )
    raise LevelWithoutDossiers(message)


def with_compliance(
    report: Report,
    compliance: Mapping[str, Compliance],
    units: Mapping[str, Unit],
    *,
    unit: str | None = None,
    level: str | None = None,
) -> Report:
    """The report with each row's compliance figures and their total, for the scope the report
    was built with (`unit`, `level` as for `build_report`). A receiving unit with any has a
    row already (each figure concerns a dossier received before `to`); a department that
    only caused delays (`DELAY_KEYS`) gets a row of its own."""
    scope = _Scope.of(units, unit, level)
    by_code = {r.unit_code: r for r in report.rows}
    for code, figures in compliance.items():
        if code not in by_code and figures != Compliance() and scope.holds(code):
            by_code[code] = _row(code, Figures(), units)
    rows = tuple(
        sorted(
            (replace(r, compliance=compliance.get(r.unit_code, Compliance()))
             for r in by_code.values()),
            key=_row_order,
        )
    )
    total = sum((r.compliance for r in rows), Compliance())
    return replace(report, rows=rows, total_compliance=total)


MAX_UNIT_CODE_CHARS = 64
"""As long as a unit code of an event may be (schemas/event.py)."""


def check_scope(
    units: Mapping[str, Unit],
    unit: str | None,
    level: str | None,
    lang: str = LANGS[0],
    prefix: str = "--",
) -> None:
    """Refuse a scope no report can have, before any query: `unit` and `level` together, a
    unit code no event can carry, an unknown level or language."""
    if unit is not None and level is not None:
        raise ReportError(f"{prefix}unit and {prefix}level exclude each other; give one of them")
    if unit is not None and (len(unit) > MAX_UNIT_CODE_CHARS or not unit.isprintable()):
        raise ReportError(
            f"{prefix}unit: not a unit code (at most {MAX_UNIT_CODE_CHARS} printable characters)"
        )
    if level is not None:
        known = sorted({u.level for u in units.values()})
        if level not in known:
            raise ReportError(
                f"{prefix}level {level!r}: no unit has this level; known levels: "
                f"{', '.join(known)}"
            )
    report_labels(lang, prefix)


def sum_figures(items: Iterable[Figures]) -> Figures:
    total = Figures()
    for f in items:
        total = total + f
    return total


# --- JSON -----------------------------------------------------------------------------


def report_json(report: Report) -> dict[str, Any]:
    """Exactly `{"period": {...}, "rows": [...], "total": {...}}` of the issue."""
    return {
        "period": {"from": report.period_from.isoformat(), "to": report.period_to.isoformat()},
        "rows": [
            {
                "unit_code": r.unit_code,
                "unit_name": r.unit_name,
                "level": r.level,
                **r.values(),
            }
            for r in report.rows
        ],
        "total": report.total_values(),
    }


def report_from_json(data: Mapping[str, Any]) -> Report:
    """The inverse of `report_json` (for a report fetched from the sink's HTTP endpoint)."""
    try:
        rows = tuple(
            ReportRow(
                str(r["unit_code"]),
                str(r["unit_name"]),
                str(r["level"]),
                Figures(*(int(r[k]) for k in COUNT_KEYS)),
                _compliance_from_json(r),
            )
            for r in data["rows"]
        )
        return Report(
            date.fromisoformat(data["period"]["from"]),
            date.fromisoformat(data["period"]["to"]),
            rows,
            Figures(*(int(data["total"][k]) for k in COUNT_KEYS)),
            _compliance_from_json(data["total"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a period report: {exc!r}") from None


def _compliance_from_json(values: Mapping[str, Any]) -> Compliance:
    """A sink older than migration 011 sends no compliance keys: they read as 0."""
    return Compliance(*(int(values.get(k, 0)) for k in COMPLIANCE_KEYS))


# --- labels ---------------------------------------------------------------------------

LABELS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "BÁO CÁO TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH",
        "period": "Kỳ báo cáo: từ ngày {start} đến ngày {end}",
        "no": "STT",
        "unit_code": "Mã đơn vị",
        "unit_name": "Đơn vị",
        "level": "Cấp",
        "carried_over": "Kỳ trước chuyển sang",
        "received": "Mới tiếp nhận",
        "received_online": "Trực tuyến",
        "received_in_person": "Trực tiếp",
        "received_postal": "Bưu chính",
        "resolved_early": "Giải quyết trước hạn",
        "resolved_on_time": "Giải quyết đúng hạn",
        "resolved_overdue": "Giải quyết quá hạn",
        "withdrawn": "Rút hồ sơ",
        "stopped": "Dừng xử lý",
        "in_progress": "Đang giải quyết",
        "in_progress_overdue": "Trong đó quá hạn",
        "apologies": "Văn bản xin lỗi",
        "unknown_procedure": "Thủ tục ngoài danh mục",
        "supplement_requests_late": "Yêu cầu bổ sung quá hạn",
        "apologies_late": "Xin lỗi muộn",
        "resolved_overdue_no_apology": "Giải quyết quá hạn không xin lỗi",
        "in_progress_overdue_no_apology": "Đang quá hạn chưa xin lỗi",
        "resolved_overdue_caused": "Hồ sơ quá hạn do đơn vị gây ra",
        "in_progress_overdue_caused": "Hồ sơ đang quá hạn do đơn vị gây ra",
        "on_time_rate": "Tỷ lệ đúng hạn",
        "online_rate": "Tỷ lệ trực tuyến",
        "compliance": "Tuân thủ quy định về yêu cầu bổ sung hồ sơ và xin lỗi khi quá hạn",
        "subtotal": "Cộng {level}",
        "total": "TỔNG CỘNG",
        "ok": "Đối soát: tất cả các dòng khớp (kỳ trước + mới tiếp nhận = đã giải quyết "
        "+ rút + dừng + đang giải quyết).",
        "bad": "CẢNH BÁO: số liệu không khớp ở {n} dòng:",
        "empty": "Không có hồ sơ trong kỳ.",
    },
    "en": {
        "title": "ADMINISTRATIVE PROCEDURE DOSSIERS: PERIOD REPORT",
        "period": "Period: from {start} to {end} inclusive",
        "no": "No.",
        "unit_code": "Unit code",
        "unit_name": "Unit",
        "level": "Level",
        "carried_over": "Carried over",
        "received": "Received",
        "received_online": "Online",
        "received_in_person": "In person",
        "received_postal": "Postal",
        "resolved_early": "Resolved early",
        "resolved_on_time": "Resolved on time",
        "resolved_overdue": "Resolved overdue",
        "withdrawn": "Withdrawn",
        "stopped": "Stopped",
        "in_progress": "In progress",
        "in_progress_overdue": "of which overdue",
        "apologies": "Apologies",
        "unknown_procedure": "Unknown procedure",
        "supplement_requests_late": "Late supplement requests",
        "apologies_late": "Late apologies",
        "resolved_overdue_no_apology": "Resolved overdue, no apology",
        "in_progress_overdue_no_apology": "Overdue in progress, no apology",
        "resolved_overdue_caused": "Overdue dossiers it caused",
        "in_progress_overdue_caused": "Overdue in progress it caused",
        "on_time_rate": "On-time rate",
        "online_rate": "Online rate",
        "compliance": "Compliance: supplement requests and apologies for missed deadlines",
        "subtotal": "Subtotal {level}",
        "total": "TOTAL",
        "ok": "Reconciliation: every row reconciles (carried over + received = resolved "
        "+ withdrawn + stopped + in progress).",
        "bad": "WARNING: {n} rows do not reconcile:",
        "empty": "No dossiers in the period.",
    },
}

LEVEL_NAMES: dict[str, dict[str, str]] = {
    "vi": {
        "province": "cấp tỉnh",
        "department": "sở, ban, ngành",
        "district": "cấp huyện",
        "commune": "cấp xã",
        UNKNOWN_LEVEL: "đơn vị ngoài danh mục",
    },
    "en": {
        "province": "province level",
        "department": "departments",
        "district": "district level",
        "commune": "commune level",
        UNKNOWN_LEVEL: "units not in the catalogue",
    },
}


def report_labels(lang: str, prefix: str = "--") -> dict[str, str]:
    if lang not in LABELS:
        raise ReportError(f"{prefix}lang {lang!r}: use one of {', '.join(LANGS)}")
    return LABELS[lang]


def level_name(level: str, lang: str) -> str:
    return LEVEL_NAMES[lang].get(level, level)


def format_rate(rate: float | None, lang: str) -> str:
    if rate is None:
        return ""
    text = f"{rate * 100:.2f}%"
    return text.replace(".", ",") if lang == "vi" else text


def format_count(value: int, lang: str) -> str:
    text = f"{value:,}"
    return text.replace(",", ".") if lang == "vi" else text


# --- CSV ------------------------------------------------------------------------------


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\0")
"""First characters that make a spreadsheet read a cell as a formula (OWASP ASVS 5.0
requirement 1.2.10, "CSV and Formula Injection"; OWASP's CSV Injection page adds CR)."""


def csv_text(text: str) -> str:
    """A text cell that a spreadsheet shows as text: one starting with a formula prefix gets
    a leading single quote, as OWASP advises (`=HYPERLINK(...)` -> `'=HYPERLINK(...)`)."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def report_csv(report: Report, lang: str = "vi") -> str:
    """Machine keys in the header; the total is a last row with an empty unit_code. The text
    cells (codes and names come from events and the catalogue) pass through `csv_text`; the
    figures are numbers written by this code, negative ones included, and stay numbers.
    Lines end in CRLF (RFC 4180, section 2), so that a cell holding a line break of either
    kind is quoted (section 2.6) instead of splitting its row."""
    labels = report_labels(lang)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["unit_code", "unit_name", "level", *ROW_KEYS])
    for row in report.rows:
        texts = (row.unit_code, row.unit_name, row.level)
        writer.writerow([*map(csv_text, texts), *_csv_values(row.values())])
    writer.writerow(["", labels["total"], "", *_csv_values(report.total_values())])
    return out.getvalue()


def _csv_values(values: Mapping[str, int | float | None]) -> list[str]:
    return ["" if values[k] is None else str(values[k]) for k in ROW_KEYS]


# --- the printed table ----------------------------------------------------------------


MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def period_heading(report: Report, lang: str) -> str:
    """The period with both ends included, as reports name it: `[from, to)` ends the day
    before `to` ("từ ngày 01/01/2026 đến ngày 30/06/2026", "from 1 Jan 2026 to 30 Jun 2026
    inclusive")."""
    last_day = report.period_to - timedelta(days=1)
    if lang == "vi":
        start, end = report.period_from.strftime("%d/%m/%Y"), last_day.strftime("%d/%m/%Y")
    else:
        start, end = (
            f"{d.day} {MONTHS_EN[d.month - 1]} {d.year}" for d in (report.period_from, last_day)
        )
    return report_labels(lang)["period"].format(start=start, end=end)


def render(report: Report, fmt: str, lang: str = "vi") -> str:
    """The report in `fmt` (json, csv or table) as text."""
    if fmt == "json":
        return json.dumps(report_json(report), ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return report_csv(report, lang)
    if fmt == "table":
        from dossierflow.reporting.report_table import render_text  # rich: only for tables

        return render_text(report, lang)
    raise ReportError(f"--format {fmt!r}: use one of json, csv, table")


def report_readings(
    default: ReportReadings, outcome_reading: str | None, appointment: str | None,
    prefix: str = "--",
) -> ReportReadings:
    """The catalogue's readings with the request's overrides; errors name the parameter
    (`--outcome-reading` on the command line, `outcome_reading` in the HTTP query)."""
    return ReportReadings(
        _choice(
            OutcomeReading, outcome_reading, default.outcome_reading, "outcome-reading", prefix
        ),
        _choice(Appointment, appointment, default.appointment, "appointment", prefix),
    )


Choice = TypeVar("Choice", OutcomeReading, Appointment)


def _choice(
    kind: type[Choice], text: str | None, default: Choice, option: str, prefix: str
) -> Choice:
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        parameter = option if prefix else option.replace("-", "_")
        values = ", ".join(member.value for member in kind)
        raise ReportError(f"{prefix}{parameter} {text!r}: use one of {values}") from None


def parse_date(text: str, parameter: str) -> date:
    """A local date, `YYYY-MM-DD` (ISO) or `dd/mm/yyyy` (as Vietnamese documents write it,
    `d/m/yyyy` too); the error names the parameter."""
    try:
        if "/" in text:
            day, month, year = text.strip().split("/")
            if len(year) != 4:
                raise ValueError(text)
            return date(int(year), int(month), int(day))
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(
            f"{parameter} {text!r}: not a date; write YYYY-MM-DD or dd/mm/yyyy"
        ) from None


FIRST_DAY = date(2000, 1, 1)
"""The earliest day a period may start: before any electronic one-stop-shop record a province
could import, and far from year 1, whose arithmetic overflows."""
LAST_DAY = date(2099, 12, 31)
"""The latest day a period may include (year 9999 overflows `date`)."""
MAX_REPORT_DAYS = 5 * 366
"""The longest period of `report` and `GET /report`: five years, longer than any period a
provincial office compares; a longer one is several requests."""
MAX_DASHBOARD_DAYS = 366
"""The longest period of the dashboard: a year, one bar per week (53 at most)."""


def report_period(
    start: str | None,
    end: str | None,
    through: str | None,
    prefix: str = "--",
    max_days: int = MAX_REPORT_DAYS,
) -> tuple[date, date]:
    """The period `[from, to)` from `from` and exactly one of `to` (the first day *after* the
    period, as scripts give it) and `through` (its last day, as reports name it).

    `prefix` is how the caller spells its parameters in errors: `--` on the command line,
    nothing in the HTTP query. Every day lies in [`FIRST_DAY`, `LAST_DAY`] and the period is
    at most `max_days` long, so that a request cannot make a query or an answer as large as
    it likes.
    """
    period_from, period_to = _given_period(start, end, through, prefix)
    days = (period_to - period_from).days
    if days > max_days:
        raise ReportError(
            f"the period from {period_from.isoformat()} is {days} days long; at most "
            f"{max_days} days at once: ask for shorter periods"
        )
    return period_from, period_to


def _in_range(day: date, parameter: str, *, exclusive_end: bool = False) -> date:
    """`day`, refused outside [`FIRST_DAY`, `LAST_DAY`] (one day later for a `to`)."""
    last = LAST_DAY + timedelta(days=1) if exclusive_end else LAST_DAY
    if not FIRST_DAY <= day <= last:
        raise ReportError(
            f"{parameter} {day.isoformat()}: outside the days a report covers "
            f"({FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()})"
        )
    return day


def _given_period(
    start: str | None, end: str | None, through: str | None, prefix: str
) -> tuple[date, date]:
    if start is None:
        raise ReportError(f"{prefix}from is required (YYYY-MM-DD or dd/mm/yyyy)")
    if (end is None) == (through is None):
        raise ReportError(
            f"give one of {prefix}to (the day after the period) and {prefix}through "
            f"(its last day)"
        )
    period_from = _in_range(parse_date(start, f"{prefix}from"), f"{prefix}from")
    if end is not None:
        period_to = _in_range(
            parse_date(end, f"{prefix}to"), f"{prefix}to", exclusive_end=True
        )
        check_period(period_from, period_to, prefix)
        return period_from, period_to
    last_day = _in_range(parse_date(str(through), f"{prefix}through"), f"{prefix}through")
    if last_day < period_from:
        raise ReportError(
            f"{prefix}through ({last_day.isoformat()}) is before {prefix}from "
            f"({period_from.isoformat()}); the period is [from, through], both days included"
        )
    return period_from, last_day + timedelta(days=1)

