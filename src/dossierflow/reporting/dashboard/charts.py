"""Charts as SVG text, drawn on the server from figures: no script and no CDN in the browser.

Each chart is a pure function of its rows and already-formatted labels, so it can be checked
without a browser and renders the same offline. The SVG scales with its container
(`viewBox`, width 100 %), carries a `<title>` for screen readers, and marks each bar or point
with `data-` attributes holding the plotted value, which the browser test reads back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 720
WIDE = 1200
"""The trend spans the page; a wider drawing keeps its text the size of the other charts'."""
LABEL_WIDTH = 236
"""Room left of horizontal bars for unit names."""
ROW_HEIGHT = 30
FONT = "font-family=\"'Noto Sans', 'Segoe UI', Arial, sans-serif\""

GOOD, FAIR, POOR = "#2e7d32", "#ef8f00", "#c62828"
GOOD_RATE, FAIR_RATE = 0.95, 0.80
"""On-time rate bands of the colours; Decision 766 scores a province by the share of dossiers
resolved on time, and offices read 95 % and above as good, below 80 % as poor."""
RECEIVED_COLOUR, RESOLVED_COLOUR = "#1565c0", "#2e7d32"
OVERDUE_COLOUR, WITHIN_COLOUR = "#c62828", "#90a4ae"


@dataclass(frozen=True)
class RateBar:
    label: str
    rate: float
    """0..1"""
    text: str
    """The formatted rate, e.g. `92,50%`."""
    detail: str
    """What the rate is made of, shown on hover (e.g. `37/40 đúng hạn`)."""


@dataclass(frozen=True)
class BacklogBar:
    label: str
    overdue: int
    within: int
    overdue_text: str
    within_text: str


@dataclass(frozen=True)
class TrendPoint:
    label: str
    """The week, as shown on the axis."""
    received: int
    resolved: int


def _svg(title: str, height: int, body: list[str], css_class: str, width: int = WIDTH) -> str:
    return (
        f'<svg class="chart {css_class}" viewBox="0 0 {width} {height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet" {FONT}>'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _empty(title: str, text: str, css_class: str, width: int = WIDTH) -> str:
    return _svg(
        title,
        60,
        [f'<text x="{width / 2}" y="35" text-anchor="middle" fill="#607d8b" '
         f'font-size="14">{escape(text)}</text>'],
        css_class,
        width,
    )


BAND_COLOURS = {"good": GOOD, "warn": FAIR, "bad": POOR}


def rate_band(rate: float) -> str:
    """`good`, `warn` or `bad` (the page colours the on-time card the same way)."""
    if rate >= GOOD_RATE:
        return "good"
    return "warn" if rate >= FAIR_RATE else "bad"


def _clip(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def rate_bars(title: str, bars: Sequence[RateBar], empty_text: str) -> str:
    """Horizontal bars from 0 to 100 %, one row per unit, in the order given."""
    if not bars:
        return _empty(title, empty_text, "chart-rate")
    plot = WIDTH - LABEL_WIDTH - 70
    top = 24
    body = [
        f'<text x="{LABEL_WIDTH + plot * t / 100}" y="14" text-anchor="middle" '
        f'font-size="11" fill="#78909c">{t}%</text>'
        f'<line x1="{LABEL_WIDTH + plot * t / 100}" y1="{top - 4}" '
        f'x2="{LABEL_WIDTH + plot * t / 100}" y2="{top + ROW_HEIGHT * len(bars)}" '
        f'stroke="#eceff1"/>'
        for t in (0, 25, 50, 75, 100)
    ]
    for i, bar in enumerate(bars):
        y = top + i * ROW_HEIGHT
        length = plot * max(0.0, min(1.0, bar.rate))
        body.append(
            f'<g class="bar" data-label="{escape(bar.label)}" data-value="{bar.rate}">'
            f"<title>{escape(bar.label)}: {escape(bar.text)} ({escape(bar.detail)})</title>"
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 19}" text-anchor="end" font-size="13" '
            f'fill="#263238">{escape(_clip(bar.label))}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 6}" width="{length:.1f}" height="18" rx="3" '
            f'fill="{BAND_COLOURS[rate_band(bar.rate)]}"/>'
            f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 19}" font-size="12" '
            f'font-weight="600" fill="#263238">{escape(bar.text)}</text></g>'
        )
    return _svg(title, top + ROW_HEIGHT * len(bars) + 8, body, "chart-rate")


def backlog_bars(
    title: str, bars: Sequence[BacklogBar], legend: tuple[str, str], empty_text: str
) -> str:
    """Stacked horizontal bars: overdue (red) then within the deadline (grey), per unit."""
    if not bars:
        return _empty(title, empty_text, "chart-backlog")
    plot = WIDTH - LABEL_WIDTH - 90
    top = 30
    most = max(b.overdue + b.within for b in bars) or 1
    body = [_legend([(OVERDUE_COLOUR, legend[0]), (WITHIN_COLOUR, legend[1])], LABEL_WIDTH, 12)]
    for i, bar in enumerate(bars):
        y = top + i * ROW_HEIGHT
        red = plot * bar.overdue / most
        grey = plot * bar.within / most
        body.append(
            f'<g class="bar" data-label="{escape(bar.label)}" data-value="{bar.overdue}" '
            f'data-within="{bar.within}">'
            f"<title>{escape(bar.label)}: {escape(legend[0])} {escape(bar.overdue_text)}, "
            f"{escape(legend[1])} {escape(bar.within_text)}</title>"
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 19}" text-anchor="end" font-size="13" '
            f'fill="#263238">{escape(_clip(bar.label))}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 6}" width="{red:.1f}" height="18" '
            f'fill="{OVERDUE_COLOUR}"/>'
            f'<rect x="{LABEL_WIDTH + red:.1f}" y="{y + 6}" width="{grey:.1f}" height="18" '
            f'fill="{WITHIN_COLOUR}"/>'
            f'<text x="{LABEL_WIDTH + red + grey + 6:.1f}" y="{y + 19}" font-size="12" '
            f'fill="#263238"><tspan font-weight="600" fill="{OVERDUE_COLOUR}">'
            f"{escape(bar.overdue_text)}</tspan> / {escape(bar.within_text)}</text></g>"
        )
    return _svg(title, top + ROW_HEIGHT * len(bars) + 8, body, "chart-backlog")


def _legend(items: Sequence[tuple[str, str]], x: float, y: float) -> str:
    parts = []
    for colour, text in items:
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 9}" width="12" height="12" rx="2" fill="{colour}"/>'
            f'<text x="{x + 17:.1f}" y="{y + 1}" font-size="12" fill="#37474f">'
            f"{escape(text)}</text>"
        )
        x += 30 + 7.5 * len(text)
    return "".join(parts)


def axis_ticks(value: int, most: int = 5) -> list[int]:
    """Whole-number ticks from 0 to at least `value`, at most `most` + 1 of them, a step of
    1, 2 or 5 × 10^k (counts of dossiers have no fractions)."""
    value = max(value, 1)
    magnitude = 1
    while True:
        for base in (1, 2, 5):
            step = base * magnitude
            if math.ceil(value / step) <= most:
                return list(range(0, step * math.ceil(value / step) + 1, step))
        magnitude *= 10


def trend_lines(
    title: str, points: Sequence[TrendPoint], legend: tuple[str, str], empty_text: str
) -> str:
    """Received and resolved per week as two lines with dots, on a shared y axis from 0."""
    if not points:
        return _empty(title, empty_text, "chart-trend", WIDE)
    height, left, right, top, bottom = 300, 56, 24, 34, 36
    plot_w, plot_h = WIDE - left - right, height - top - bottom
    ticks = axis_ticks(max(max(p.received, p.resolved) for p in points))
    y_top = ticks[-1]
    step = plot_w / max(1, len(points) - 1) if len(points) > 1 else 0.0

    def x(i: int) -> float:
        return left + (i * step if len(points) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return top + plot_h * (1 - value / y_top)

    body = [_legend([(RECEIVED_COLOUR, legend[0]), (RESOLVED_COLOUR, legend[1])], left, 12)]
    for value in ticks:
        body.append(
            f'<line x1="{left}" y1="{y(value):.1f}" x2="{WIDE - right}" y2="{y(value):.1f}" '
            f'stroke="#eceff1"/><text x="{left - 8}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end" font-size="12" fill="#78909c">{value}</text>'
        )
    every = max(1, math.ceil(len(points) / 18))
    for i, point in enumerate(points):
        if i % every == 0:
            body.append(
                f'<text x="{x(i):.1f}" y="{height - bottom + 18}" text-anchor="middle" '
                f'font-size="12" fill="#546e7a">{escape(point.label)}</text>'
            )
    for series, colour in (("received", RECEIVED_COLOUR), ("resolved", RESOLVED_COLOUR)):
        coords = " ".join(
            f"{x(i):.1f},{y(getattr(p, series)):.1f}" for i, p in enumerate(points)
        )
        body.append(
            f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2.5" '
            f'stroke-linejoin="round"/>'
        )
        for i, p in enumerate(points):
            value = getattr(p, series)
            body.append(
                f'<circle class="point {series}" data-label="{escape(p.label)}" '
                f'data-value="{value}" cx="{x(i):.1f}" cy="{y(value):.1f}" r="3.5" '
                f'fill="{colour}"><title>{escape(p.label)}: {value}</title></circle>'
            )
    return _svg(title, height, body, "chart-trend", WIDE)
