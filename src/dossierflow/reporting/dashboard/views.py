"""What the dashboard shows, as plain values: periods, pickers, cards, chart rows, open lists.

Pure functions of the report, the weekly counts, the open dossiers, the catalogue and the
clock; the aiohttp handlers (`handlers.py`) fetch and pass those in, and `pages.py` turns the
values into HTML. Vietnamese is the default language, English on `lang=en`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dossierflow.reporting.dashboard.charts import BacklogBar, RateBar, TrendPoint, rate_band
from dossierflow.reporting.queries import OpenDossier, WeekCount
from dossierflow.reporting.report import (
    LANGS,
    LEVEL_ORDER,
    Compliance,
    Figures,
    Report,
    ReportError,
    format_count,
    format_rate,
)
from dossierflow.rollups import RollupState
from dossierflow.rules.alerts import overdue_at
from dossierflow.rules.catalog import Catalog, Unit
from dossierflow.rules.lifecycle import Status

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Theo dõi giải quyết hồ sơ thủ tục hành chính",
        "province": "Toàn tỉnh",
        "unit": "Đơn vị",
        "period": "Kỳ báo cáo",
        "custom": "Tùy chọn",
        "from": "Từ ngày",
        "to": "Đến hết ngày",
        "year": "Năm {year}",
        "quarter": "Quý {quarter}/{year}",
        "month": "Tháng {month}/{year}",
        "period_text": "Từ ngày {start} đến hết ngày {end}",
        "carried_over": "Kỳ trước chuyển sang",
        "received": "Mới tiếp nhận",
        "resolved": "Đã giải quyết",
        "on_time_rate": "Tỷ lệ đúng hạn",
        "in_progress": "Đang giải quyết",
        "in_progress_overdue": "Đang giải quyết quá hạn",
        "online_rate": "Tỷ lệ trực tuyến",
        "of_received": "{online} trực tuyến",
        "of_resolved": "{good}/{all} trước và đúng hạn",
        "chart_rate": "Tỷ lệ giải quyết đúng hạn theo đơn vị",
        "chart_trend": "Tiếp nhận và giải quyết theo tuần",
        "chart_backlog": "Hồ sơ đang giải quyết theo đơn vị",
        "legend_received": "Mới tiếp nhận",
        "legend_resolved": "Đã giải quyết",
        "legend_overdue": "Quá hạn",
        "legend_within": "Trong hạn",
        "week": "Tuần {day}",
        "no_resolved": "Chưa có hồ sơ được giải quyết trong kỳ.",
        "no_weeks": "Không có hồ sơ tiếp nhận hay giải quyết trong kỳ.",
        "no_backlog": "Không có hồ sơ đang giải quyết.",
        "rate_detail": "{good}/{all} trước và đúng hạn",
        "table": "Báo cáo chi tiết theo đơn vị",
        "compliance": "Tuân thủ quy định bổ sung hồ sơ và xin lỗi",
        "compliance_failed": "Không đọc được số liệu tuân thủ: {error}",
        "supplement_requests_late": "Yêu cầu bổ sung quá hạn",
        "apologies_late": "Xin lỗi muộn",
        "overdue_no_apology": "Quá hạn không xin lỗi",
        "of_overdue_no_apology": "{resolved} đã giải quyết, {open} đang xử lý",
        "updated": "Cập nhật lúc {time}",
        "figures_as_of": "Số liệu tính đến {time}",
        "figures_pending": "Số liệu đang tính…",
        "figures_pending_note": "Bảng tổng hợp chưa được tính xong từ khi khởi động; các con số "
        "có thể chưa đầy đủ, sẽ tự cập nhật trong khoảng một phút.",
        "figures_failed": "Lần tính gần nhất bị lỗi ({time}): {error}. Số liệu chưa được cập "
        "nhật; hãy báo cho bộ phận vận hành.",
        "figures_behind": "Chưa gồm dữ liệu ghi từ thời điểm đó (mới nhất lúc {time}): các "
        "con số dưới đây có thể thấp hơn báo cáo hiện thời, đang được tính lại.",
        "refreshing": "Tự động làm mới mỗi {seconds} giây",
        "refresh_failed": "Không làm mới được số liệu: {error}",
        "open_list": "Hồ sơ sắp đến hạn và quá hạn đang xử lý",
        "open_note": "Hồ sơ chưa kết thúc do đơn vị xử lý hoặc tiếp nhận, tính đến {now}.",
        "open_counts": "{overdue} quá hạn, {at_risk} sắp đến hạn",
        "dossier_id": "Mã hồ sơ",
        "procedure": "Mã thủ tục",
        "received_at": "Ngày tiếp nhận",
        "due_at": "Hạn giải quyết",
        "rescheduled": "Hẹn lại",
        "state": "Tình trạng",
        "handling": "Đơn vị xử lý",
        "overdue": "Quá hạn",
        "at_risk": "Sắp đến hạn",
        "paused": "đang tạm dừng",
        "no_open": "Không có hồ sơ sắp đến hạn hoặc quá hạn.",
        "truncated": "Chỉ hiện {n} hồ sơ có hạn sớm nhất.",
        "delayed_list": "Hồ sơ quá hạn trong kỳ (đã giải quyết, hoặc còn đang giải quyết cuối kỳ) "
        "và đơn vị gây ra quá hạn",
        "receiving_unit": "Đơn vị tiếp nhận",
        "resolved_at": "Ngày giải quyết",
        "caused_by": "Đơn vị gây ra quá hạn (ký văn bản xin lỗi)",
        "caused_by_nobody": "Không bước nào quá hạn",
        # A dossier whose last fact predates migration 017: nobody is not known to be right.
        "caused_by_not_attributed": "Chưa phân tích bước (lưu trước bản cập nhật 017)",
        "no_delayed": "Không có hồ sơ quá hạn trong kỳ.",
        "back": "← Toàn bộ báo cáo",
        "language": "English",
        "level": "Cấp",
    },
    "en": {
        "title": "Administrative procedure dossiers",
        "province": "Whole province",
        "unit": "Unit",
        "period": "Period",
        "custom": "Custom",
        "from": "From",
        "to": "To (inclusive)",
        "year": "Year {year}",
        "quarter": "Q{quarter} {year}",
        "month": "{month_name} {year}",
        "period_text": "{start} to {end} inclusive",
        "carried_over": "Carried over",
        "received": "Received",
        "resolved": "Resolved",
        "on_time_rate": "On-time rate",
        "in_progress": "In progress",
        "in_progress_overdue": "In progress, overdue",
        "online_rate": "Online rate",
        "of_received": "{online} online",
        "of_resolved": "{good}/{all} early or on time",
        "chart_rate": "On-time rate by unit",
        "chart_trend": "Received and resolved per week",
        "chart_backlog": "Dossiers in progress by unit",
        "legend_received": "Received",
        "legend_resolved": "Resolved",
        "legend_overdue": "Overdue",
        "legend_within": "Within deadline",
        "week": "Week of {day}",
        "no_resolved": "No dossier was resolved in the period.",
        "no_weeks": "Nothing was received or resolved in the period.",
        "no_backlog": "No dossier in progress.",
        "rate_detail": "{good}/{all} early or on time",
        "table": "Report by unit",
        "updated": "Updated at {time}",
        "figures_as_of": "Figures as of {time}",
        "figures_pending": "Figures being computed…",
        "figures_pending_note": "The rollup has not been computed since start-up; the numbers "
        "may be incomplete and will update within about a minute.",
        "figures_failed": "The last computation failed ({time}): {error}. The figures are not "
        "being updated; tell the operators.",
        "figures_behind": "Data written since then (latest at {time}) is not counted yet: "
        "the figures below may trail the live report; they are being recomputed.",
        "refreshing": "Refreshes every {seconds} s",
        "refresh_failed": "Could not refresh the figures: {error}",
        "compliance": "Compliance: supplement requests and apologies",
        "compliance_failed": "The compliance figures could not be read: {error}",
        "supplement_requests_late": "Late supplement requests",
        "apologies_late": "Late apologies",
        "overdue_no_apology": "Overdue, no apology",
        "of_overdue_no_apology": "{resolved} resolved, {open} in progress",
        "open_list": "Open dossiers at risk or overdue",
        "open_note": "Open dossiers handled or received by the unit, as of {now}.",
        "open_counts": "{overdue} overdue, {at_risk} at risk",
        "dossier_id": "Dossier code",
        "procedure": "Procedure code",
        "received_at": "Received",
        "due_at": "Deadline",
        "rescheduled": "Rescheduled to",
        "state": "State",
        "handling": "Handling unit",
        "overdue": "Overdue",
        "at_risk": "At risk",
        "paused": "paused",
        "no_open": "No dossier at risk or overdue.",
        "truncated": "Only the {n} dossiers with the earliest deadlines are shown.",
        "delayed_list": "Dossiers overdue in the period (resolved, or still in progress at "
        "its end) and who caused the delay",
        "receiving_unit": "Receiving unit",
        "resolved_at": "Resolved",
        "caused_by": "Delay caused by (signs the apology)",
        "caused_by_nobody": "No step overran",
        "caused_by_not_attributed": "Steps not attributed yet (stored before migration 017)",
        "no_delayed": "No dossier overdue in the period.",
        "back": "← Whole report",
        "language": "Tiếng Việt",
        "level": "Level",
    },
}
ROMAN = ("I", "II", "III", "IV")
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)
REFRESH_SECONDS = 30


def texts(lang: str) -> dict[str, str]:
    if lang not in TEXTS:
        raise ReportError(f"lang {lang!r}: use one of {', '.join(LANGS)}")
    return TEXTS[lang]


def format_day(day: date, lang: str) -> str:
    return day.strftime("%d/%m/%Y") if lang == "vi" else day.isoformat()


def format_instant(instant: datetime, lang: str, *, seconds: bool = False) -> str:
    """To the minute, or to the second (the figures' as-of time: refreshes are a minute
    apart)."""
    clock = "%H:%M:%S" if seconds else "%H:%M"
    return instant.strftime(f"{clock} %d/%m/%Y") if lang == "vi" else instant.strftime(
        f"%Y-%m-%d {clock}"
    )


@dataclass(frozen=True)
class Freshness:
    """The line that says how old the figures are."""

    text: str
    note: str
    """Shown on hover, or beside the time when the last refresh failed; empty when the as-of
    time says it all."""
    pending: bool
    failed: bool = False
    behind: bool = False
    """Facts were written that the figures may not count (`RollupState.behind`): `note`
    says so, beside the time, never only on hover."""


def freshness(rollup: RollupState, lang: str) -> Freshness:
    """`rollup` in local time: `refreshed_at` None while the first refresh since start-up runs
    (the figures shown may then be an older run's or none); a failed last refresh is said
    with its error instead of promising an update that is not coming."""
    t = texts(lang)
    if rollup.refreshed_at is None:
        text, pending = t["figures_pending"], True
    else:
        shown_time = format_instant(rollup.refreshed_at, lang, seconds=True)
        text = t["figures_as_of"].format(time=shown_time)
        pending = False
    if rollup.error is not None:
        attempted = rollup.attempted_at or rollup.refreshed_at
        when = format_instant(attempted, lang, seconds=True) if attempted else "?"
        note = t["figures_failed"].format(time=when, error=rollup.error)
        return Freshness(text, note, pending, failed=True)
    if pending:
        return Freshness(text, t["figures_pending_note"], pending=True)
    if rollup.behind and rollup.written_at is not None:
        written = format_instant(rollup.written_at, lang, seconds=True)
        return Freshness(text, t["figures_behind"].format(time=written), False, behind=True)
    return Freshness(text, "", pending=False)


# --- periods --------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """[start, end) in local days, as the report takes it."""

    start: date
    end: date

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)


@dataclass(frozen=True)
class PeriodChoice:
    label: str
    period: Period


def default_period(today: date) -> Period:
    """This month so far: from its first day to the end of today."""
    return Period(today.replace(day=1), today + timedelta(days=1))


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_choices(selected: Period, today: date, lang: str) -> dict[int, list[PeriodChoice]]:
    """Per year (the selected period's, this year and last year, newest first): the year, its
    quarters and its months that have begun. A period still running ends with today, so its
    figures are those of today rather than a forecast of dossiers still open at its end."""
    t = texts(lang)
    last = today + timedelta(days=1)
    years = sorted({selected.start.year, today.year, today.year - 1}, reverse=True)
    out: dict[int, list[PeriodChoice]] = {}
    for year in years:
        candidates = [(t["year"].format(year=year), date(year, 1, 1), date(year + 1, 1, 1))]
        for q in range(4):
            start = date(year, 3 * q + 1, 1)
            label = t["quarter"].format(quarter=ROMAN[q] if lang == "vi" else q + 1, year=year)
            candidates.append((label, start, _add_months(start, 3)))
        for m in range(1, 13):
            start = date(year, m, 1)
            label = t["month"].format(month=m, month_name=MONTH_NAMES[m - 1], year=year)
            candidates.append((label, start, _add_months(start, 1)))
        choices = [
            PeriodChoice(label, Period(start, min(end, last)))
            for label, start, end in candidates
            if start < last
        ]
        if choices:
            out[year] = choices
    return out


# --- units ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitOption:
    code: str
    name: str
    depth: int


def _unit_rank(unit: Unit) -> tuple[int, str]:
    level = LEVEL_ORDER.index(unit.level) if unit.level in LEVEL_ORDER else len(LEVEL_ORDER)
    return (level, unit.code)


def unit_options(units: Mapping[str, Unit]) -> list[UnitOption]:
    """The unit tree depth-first (roots first, children by level then code)."""
    children: dict[str | None, list[Unit]] = {}
    for unit in units.values():
        parent = unit.parent if unit.parent in units else None
        children.setdefault(parent, []).append(unit)
    out: list[UnitOption] = []
    stack = [(u, 0) for u in sorted(children.get(None, []), key=_unit_rank, reverse=True)]
    while stack:
        unit, depth = stack.pop()
        out.append(UnitOption(unit.code, unit.name, depth))
        below = sorted(children.get(unit.code, []), key=_unit_rank, reverse=True)
        stack.extend((child, depth + 1) for child in below)
    return out


def unit_name(units: Mapping[str, Unit], code: str) -> str:
    unit = units.get(code)
    return unit.name if unit else code


# --- summary cards and chart rows -----------------------------------------------------


@dataclass(frozen=True)
class Card:
    key: str
    """The report key the card shows (the browser test compares it with the JSON report)."""
    label: str
    value: str
    note: str = ""
    tone: str = ""
    """`good`, `warn` or `bad` for the value's colour; empty for neutral."""


def cards(total: Figures, lang: str) -> list[Card]:
    t = texts(lang)
    rate = total.on_time_rate
    return [
        Card("carried_over", t["carried_over"], format_count(total.carried_over, lang)),
        Card(
            "received",
            t["received"],
            format_count(total.received, lang),
            t["of_received"].format(online=format_count(total.received_online, lang)),
        ),
        Card(
            "resolved",
            t["resolved"],
            format_count(total.resolved, lang),
            t["of_resolved"].format(
                good=format_count(total.resolved_in_time, lang),
                all=format_count(total.resolved, lang),
            ),
        ),
        Card(
            "on_time_rate",
            t["on_time_rate"],
            format_rate(rate, lang) or "—",
            tone="" if rate is None else rate_band(rate),
        ),
        Card("in_progress", t["in_progress"], format_count(total.in_progress, lang)),
        Card(
            "in_progress_overdue",
            t["in_progress_overdue"],
            format_count(total.in_progress_overdue, lang),
            tone="bad" if total.in_progress_overdue else "good",
        ),
        Card("online_rate", t["online_rate"], format_rate(total.online_rate, lang) or "—"),
    ]


def compliance_cards(total: Compliance, lang: str) -> list[Card]:
    """The period's breaches of the one-stop limits (docs/compliance.md); `bad` when any."""
    t = texts(lang)
    without = total.resolved_overdue_no_apology + total.in_progress_overdue_no_apology

    def card(key: str, value: int, note: str = "") -> Card:
        return Card(key, t[key], format_count(value, lang), note, "bad" if value else "good")

    return [
        card("supplement_requests_late", total.supplement_requests_late),
        card("apologies_late", total.apologies_late),
        card("overdue_no_apology", without, t["of_overdue_no_apology"].format(
            resolved=format_count(total.resolved_overdue_no_apology, lang),
            open=format_count(total.in_progress_overdue_no_apology, lang),
        )),
    ]


def rate_rows(report: Report, lang: str) -> list[RateBar]:
    """Units with any resolution in the period, lowest on-time rate first (worst on top)."""
    t = texts(lang)
    bars = []
    for row in report.rows:
        rate = row.figures.on_time_rate
        if rate is None:
            continue
        detail = t["rate_detail"].format(
            good=format_count(row.figures.resolved_in_time, lang),
            all=format_count(row.figures.resolved, lang),
        )
        bars.append(RateBar(row.unit_name, rate, format_rate(rate, lang), detail))
    return sorted(bars, key=lambda b: (b.rate, b.label))


def backlog_rows(report: Report, lang: str) -> list[BacklogBar]:
    """Units with dossiers in progress at the end of the period, most overdue first."""
    bars = [
        BacklogBar(
            row.unit_name,
            row.figures.in_progress_overdue,
            row.figures.in_progress - row.figures.in_progress_overdue,
            format_count(row.figures.in_progress_overdue, lang),
            format_count(row.figures.in_progress - row.figures.in_progress_overdue, lang),
        )
        for row in report.rows
        if row.figures.in_progress
    ]
    return sorted(bars, key=lambda b: (-b.overdue, -b.within, b.label))


def trend_points(weeks: Sequence[WeekCount], period: Period, lang: str) -> list[TrendPoint]:
    """Every week of the period, a week with nothing in it as zeros (the line must not
    jump over quiet weeks), labelled by its Monday."""
    counts = {w.week: w for w in weeks}
    monday = period.start - timedelta(days=period.start.weekday())
    points = []
    while monday < period.end:
        week = counts.get(monday)
        label = monday.strftime("%d/%m") if lang == "vi" else monday.strftime("%m-%d")
        points.append(
            TrendPoint(label, week.received if week else 0, week.resolved if week else 0)
        )
        monday += timedelta(days=7)
    return points


# --- open dossiers of a unit ----------------------------------------------------------


@dataclass(frozen=True)
class OpenItem:
    dossier: OpenDossier
    overdue: bool
    """Overdue (the day after the deadline began); otherwise at risk."""
    paused: bool


def at_risk_horizon(now: datetime, catalog: Catalog) -> datetime:
    """A deadline bound that includes every dossier at risk at `now` (for the query): one
    whose deadline is within the lead time of working time from now, plus a day of slack."""
    return catalog.calendar.add(now, catalog.at_risk_lead) + timedelta(days=1)


def classify_open(
    dossiers: Sequence[OpenDossier], now: datetime, catalog: Catalog
) -> list[OpenItem]:
    """The dossiers overdue or at risk at `now`, overdue first, each by deadline.

    Overdue from 00:00 after the deadline's date (`rules.alerts.overdue_at`, the OVERDUE
    alert's instant); at risk when the AT_RISK alert of the current deadline has fired
    (`OpenDossier.at_risk_alerted`, read from the stored alerts): the rules decide it from the
    clock start, which a received_at cannot stand for (received after office hours or the
    procedure's cut-off, or restarted by a RESUMED), so the list and the alerts the unit heads
    got never disagree. A paused dossier is listed with its mark: its clock is stopped and no
    alert fires for it, but the office still holds it.
    """
    items = []
    for dossier in dossiers:
        paused = dossier.status == Status.PAUSED
        if overdue_at(catalog.calendar, dossier.due_at) <= now:
            items.append(OpenItem(dossier, overdue=True, paused=paused))
        elif dossier.at_risk_alerted:
            items.append(OpenItem(dossier, overdue=False, paused=paused))
    return sorted(items, key=lambda i: (not i.overdue, i.dossier.due_at, i.dossier.dossier_id))
