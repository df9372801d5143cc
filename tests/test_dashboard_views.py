"""The dashboard's pure parts: SVG charts, periods, pickers, cards, the open-dossier rules.

Expected values are worked by hand from the office hours of docs/domain.md (07:30-11:30,
13:00-17:00) and the chart geometry constants, never read back from the code under test.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dossierflow.reporting.dashboard import charts
from dossierflow.reporting.dashboard.charts import BacklogBar, RateBar, TrendPoint
from dossierflow.reporting.dashboard.handlers import parse_selection
from dossierflow.reporting.dashboard.pages import Selection, dashboard_fragments, unit_fragments
from dossierflow.reporting.dashboard.views import (
    Period,
    cards,
    classify_open,
    default_period,
    freshness,
    period_choices,
    trend_points,
    unit_options,
)
from dossierflow.reporting.queries import OpenDossier, WeekCount
from dossierflow.reporting.report import Figures, ReportError, build_report
from dossierflow.rollups import RollupState
from dossierflow.rules.catalog import Catalog
from dossierflow.store import error_summary
from tests.test_report import UNITS

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
SVG = "{http://www.w3.org/2000/svg}"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=HCM)


def refreshed(
    text: str | None, error: str | None = None, attempted: str | None = None
) -> RollupState:
    return RollupState(
        refreshed_at=at(text) if text else None,
        attempted_at=at(attempted) if attempted else None,
        error=error,
    )


NEVER = refreshed(None)


def parse(svg: str) -> ET.Element:
    """The chart must be well-formed XML (a stray `<` or `&` in a unit name would break it)."""
    return ET.fromstring(svg)


# --- charts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ticks"),
    [
        (0, [0, 1]),
        (3, [0, 1, 2, 3]),
        (6, [0, 2, 4, 6]),
        (7, [0, 2, 4, 6, 8]),
        (11, [0, 5, 10, 15]),
        (99, [0, 20, 40, 60, 80, 100]),
        (1234, [0, 500, 1000, 1500]),
    ],
)
def test_axis_ticks_are_whole_numbers_of_a_round_step(value: int, ticks: list[int]) -> None:
    assert charts.axis_ticks(value) == ticks


def test_rate_bars_are_proportional_coloured_by_band_and_escaped() -> None:
    svg = charts.rate_bars(
        "Tỷ lệ",
        [
            RateBar("Xã <A> & B", 0.5, "50,00%", "1/2"),
            RateBar("Sở", 1.0, "100,00%", "4/4"),
            RateBar("Phường", 0.85, "85,00%", "17/20"),
        ],
        "trống",
    )
    root = parse(svg)
    bars = root.findall(f"{SVG}g")
    assert [b.get("data-label") for b in bars] == ["Xã <A> & B", "Sở", "Phường"]
    plot = charts.WIDTH - charts.LABEL_WIDTH - 70
    widths = [float(b.find(f"{SVG}rect").get("width") or "nan") for b in bars]  # type: ignore[union-attr]
    assert widths == [pytest.approx(plot / 2, abs=0.1), pytest.approx(plot, abs=0.1),
                      pytest.approx(plot * 0.85, abs=0.1)]
    fills = [b.find(f"{SVG}rect").get("fill") for b in bars]  # type: ignore[union-attr]
    assert fills == [charts.POOR, charts.GOOD, charts.FAIR]


def test_backlog_bars_stack_overdue_then_within_scaled_to_the_largest_unit() -> None:
    root = parse(
        charts.backlog_bars(
            "Tồn",
            [BacklogBar("A", 3, 1, "3", "1"), BacklogBar("B", 0, 2, "0", "2")],
            ("Quá hạn", "Trong hạn"),
            "trống",
        )
    )
    plot = charts.WIDTH - charts.LABEL_WIDTH - 90
    a, b = root.findall(f"{SVG}g")
    assert [float(r.get("width") or 0) for r in a.findall(f"{SVG}rect")] == [
        pytest.approx(plot * 3 / 4, abs=0.1), pytest.approx(plot / 4, abs=0.1)
    ]
    assert [float(r.get("width") or 0) for r in b.findall(f"{SVG}rect")] == [
        0, pytest.approx(plot / 2, abs=0.1)
    ]


def test_trend_draws_two_lines_with_a_point_per_week() -> None:
    root = parse(
        charts.trend_lines(
            "Tuần",
            [TrendPoint("02/03", 4, 1), TrendPoint("09/03", 0, 2), TrendPoint("16/03", 3, 3)],
            ("Nhận", "Giải quyết"),
            "trống",
        )
    )
    lines = root.findall(f"{SVG}polyline")
    assert [len((p.get("points") or "").split()) for p in lines] == [3, 3]
    received = [int(c.get("data-value") or 0) for c in root.findall(f"{SVG}circle")][:3]
    assert received == [4, 0, 3]


def test_empty_charts_say_so() -> None:
    assert "Không có" in charts.rate_bars("t", [], "Không có")
    assert "Không có" in charts.trend_lines("t", [], ("a", "b"), "Không có")
    assert "Không có" in charts.backlog_bars("t", [], ("a", "b"), "Không có")


# --- periods and pickers --------------------------------------------------------------


def test_trend_points_cover_every_week_of_the_period_with_zeros() -> None:
    # 2026-03-01 is a Sunday: its week starts Monday 2026-02-23.
    weeks = [WeekCount(date(2026, 3, 9), 5, 2)]
    points = trend_points(weeks, Period(date(2026, 3, 1), date(2026, 3, 20)), "vi")
    assert [(p.label, p.received, p.resolved) for p in points] == [
        ("23/02", 0, 0), ("02/03", 0, 0), ("09/03", 5, 2), ("16/03", 0, 0)
    ]


def test_period_choices_stop_at_today() -> None:
    today = date(2026, 3, 10)
    choices = period_choices(Period(date(2026, 2, 1), date(2026, 3, 1)), today, "vi")
    assert list(choices) == [2026, 2025]
    this_year = {c.label: (c.period.start, c.period.end) for c in choices[2026]}
    assert this_year == {
        "Năm 2026": (date(2026, 1, 1), date(2026, 3, 11)),
        "Quý I/2026": (date(2026, 1, 1), date(2026, 3, 11)),
        "Tháng 1/2026": (date(2026, 1, 1), date(2026, 2, 1)),
        "Tháng 2/2026": (date(2026, 2, 1), date(2026, 3, 1)),
        "Tháng 3/2026": (date(2026, 3, 1), date(2026, 3, 11)),
    }
    assert len(choices[2025]) == 1 + 4 + 12
    assert default_period(today) == Period(date(2026, 3, 1), date(2026, 3, 11))


def test_units_are_listed_as_a_tree() -> None:
    assert [(u.code, u.depth) for u in unit_options(UNITS)] == [
        ("P", 0), ("S", 1), ("H", 1), ("X1", 2), ("X2", 1)
    ]


def test_selection_from_the_query_string() -> None:
    today = date(2026, 3, 10)
    assert parse_selection({}, today) == Selection(default_period(today), None, "vi")
    chosen = parse_selection({"from": "2026-01-01", "to": "2026-04-01", "lang": "en"}, today, "S")
    assert chosen == Selection(Period(date(2026, 1, 1), date(2026, 4, 1)), "S", "en")
    through = parse_selection({"from": "01/01/2026", "through": "31/03/2026"}, today)
    assert through.period == Period(date(2026, 1, 1), date(2026, 4, 1))
    with pytest.raises(ReportError, match="give one of to"):
        parse_selection({"from": "2026-01-01"}, today)
    with pytest.raises(ReportError, match="from is required"):
        parse_selection({"to": "2026-01-01"}, today)
    with pytest.raises(ReportError, match=r"^to \(2026-01-01\) must be after from \(2026-02-01\)"):
        parse_selection({"from": "2026-02-01", "to": "2026-01-01"}, today)
    with pytest.raises(ReportError, match="lang 'fr'"):
        parse_selection({"lang": "fr"}, today)


def test_cards_in_vietnamese_and_english_number_formats() -> None:
    total = Figures(received=1234, received_online=617, resolved_early=2, resolved_on_time=1,
                    resolved_overdue=1, in_progress=1230)
    vi = {c.key: (c.value, c.tone) for c in cards(total, "vi")}
    assert vi["received"] == ("1.234", "")
    assert vi["on_time_rate"] == ("75,00%", "bad")
    assert vi["online_rate"] == ("50,00%", "")
    assert vi["in_progress_overdue"] == ("0", "good")
    (resolved,) = [c for c in cards(total, "vi") if c.key == "resolved"]
    assert (resolved.value, resolved.note) == ("4", "3/4 trước và đúng hạn")
    en = {c.key: c.value for c in cards(total, "en")}
    assert en["received"] == "1,234" and en["on_time_rate"] == "75.00%"


def test_fragments_link_units_and_escape_names() -> None:
    units = {**UNITS, "X9": UNITS["X2"].__class__("X9", "Xã <b>", "commune", "P")}
    report = build_report(
        {"X9": Figures(received=1, in_progress=1)}, units, date(2026, 3, 1), date(2026, 4, 1)
    )
    selection = Selection(Period(date(2026, 3, 1), date(2026, 4, 1)), None, "vi")
    html = dashboard_fragments(report, NEVER, [], selection, at("2026-03-10 10:00"))
    assert "Xã &lt;b&gt;" in html["report-table"]
    assert 'href="/dashboard/units/X9?from=2026-03-01&amp;to=2026-04-01"' in html["report-table"]
    parse(html["chart-backlog"])


# --- how old the figures are ---------------------------------------------------------


def test_figures_say_when_the_rollup_was_refreshed_to_the_second() -> None:
    rollup = refreshed("2026-03-10 09:04:05")
    vi, en = freshness(rollup, "vi"), freshness(rollup, "en")
    assert (vi.text, vi.pending) == ("Số liệu tính đến 09:04:05 10/03/2026", False)
    assert (en.text, en.pending) == ("Figures as of 2026-03-10 09:04:05", False)


def test_figures_before_the_first_refresh_are_marked_as_being_computed() -> None:
    report = build_report({}, UNITS, date(2026, 3, 1), date(2026, 4, 1))
    selection = Selection(Period(date(2026, 3, 1), date(2026, 4, 1)), None, "vi")
    html = dashboard_fragments(report, NEVER, [], selection, at("2026-03-10 10:00"))
    assert "Số liệu đang tính…" in html["figures-as-of"]
    assert 'class="pending"' in html["figures-as-of"]
    assert freshness(NEVER, "en").text == "Figures being computed…"


def test_a_failed_refresh_shows_its_error_instead_of_promising_an_update() -> None:
    rollup = refreshed("2026-03-10 09:04:05", "Code: 60. Unknown table", "2026-03-10 09:10:07")
    vi = freshness(rollup, "vi")
    assert vi.failed and not vi.pending
    assert vi.text == "Số liệu tính đến 09:04:05 10/03/2026"
    assert vi.note.startswith("Lần tính gần nhất bị lỗi (09:10:07 10/03/2026): Code: 60.")
    report = build_report({}, UNITS, date(2026, 3, 1), date(2026, 4, 1))
    selection = Selection(Period(date(2026, 3, 1), date(2026, 4, 1)), None, "vi")
    html = dashboard_fragments(report, rollup, [], selection, at("2026-03-10 10:00"))
    assert 'class="failed"' in html["figures-as-of"]
    assert "Lần tính gần nhất bị lỗi" in html["figures-as-of"]
    # failing before any success: no promise of "within about a minute" either
    never = freshness(refreshed(None, "boom <b>", "2026-03-10 09:10:07"), "vi")
    assert never.failed and "một phút" not in never.note
    html = dashboard_fragments(
        report, refreshed(None, "boom <b>"), [], selection, at("2026-03-10 10:00")
    )
    assert "boom &lt;b&gt;" in html["figures-as-of"]


def test_error_summary_drops_the_stack_trace_and_long_tails() -> None:
    assert error_summary("") is None
    assert error_summary("Code: 60. Unknown table x. (UNKNOWN_TABLE), Stack trace (when copying"
                         " this message, always include the lines below):\n\n0. ? @ 0x1") == (
        "Code: 60. Unknown table x. (UNKNOWN_TABLE)"
    )
    assert error_summary(":HTTPDriver for http://ch:8123 received error\n Code: 62. Syntax") == (
        "Code: 62. Syntax"
    )
    long = error_summary("x" * 1000)
    assert long is not None and len(long) == 300 and long.endswith("…")


def test_the_unit_pages_open_list_keeps_its_own_time() -> None:
    now = at("2026-03-10 10:00")
    report = build_report({}, UNITS, date(2026, 3, 1), date(2026, 4, 1), unit="X1")
    selection = Selection(Period(date(2026, 3, 1), date(2026, 4, 1)), "X1", "vi")
    html = unit_fragments(
        report, refreshed("2026-03-10 09:59:30"), [], None, UNITS, selection, now
    )
    assert html["figures-as-of"] == "Số liệu tính đến 09:59:30 10/03/2026"
    assert "tính đến 10:00 10/03/2026" in html["open-list"]
    assert "09:59:30" not in html["open-list"]


# --- open dossiers at risk and overdue ------------------------------------------------


def dossier(
    code: str, received: str, due: str, status: str = "OPEN", alerted: bool = False
) -> OpenDossier:
    return OpenDossier(
        code, "1.000894", "X1", "X1", status, at(received), at(due), None, alerted
    )


def test_open_dossiers_overdue_by_the_rule_and_at_risk_as_the_alerts_fired() -> None:
    """Overdue from the midnight after the deadline's date, whether an alert was stored or
    not; at risk exactly when the AT_RISK alert of the deadline fired (the agreement with the
    rules themselves is tests/test_dashboard_at_risk.py's)."""
    now = at("2026-03-09 10:00")  # Monday
    listed = classify_open(
        [
            dossier("RISK", "2026-03-02 08:00", "2026-03-10 09:00", alerted=True),
            # no alert (yet, or none: the clock started too late for one)
            dossier("NOT-YET", "2026-03-02 08:00", "2026-03-10 11:00"),
            # due Sunday: overdue from Monday 00:00
            dossier("LATE", "2026-03-02 08:00", "2026-03-08 17:00", alerted=True),
            # due this morning: its date is today, so at risk, not yet overdue
            dossier("TODAY", "2026-03-02 08:00", "2026-03-09 09:00", alerted=True),
            dossier("PAUSED", "2026-02-02 08:00", "2026-02-20 17:00", status="PAUSED"),
        ],
        now,
        Catalog(),
    )
    assert [(i.dossier.dossier_id, i.overdue, i.paused) for i in listed] == [
        ("PAUSED", True, True),
        ("LATE", True, False),
        ("TODAY", False, False),
        ("RISK", False, False),
    ]


def test_the_query_bound_includes_every_dossier_at_risk() -> None:
    from dossierflow.reporting.dashboard.views import at_risk_horizon

    # Friday 16:00: 8 working hours ahead is 1 h on Friday, 4 h Monday morning and 3 h
    # Monday afternoon, so Monday 16:00; the bound adds a day of slack.
    now = at("2026-03-13 16:00")
    assert at_risk_horizon(now, Catalog()) == at("2026-03-16 16:00") + timedelta(days=1)
