"""The period report as a printed table (rich), apart from `reporting.report` so that JSON
and CSV, and the report command until it prints a table, never import rich (≈ 50 ms)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

from dossierflow.reporting.report import (
    COMPLIANCE_KEYS,
    RATE_KEYS,
    REPORT_KEYS,
    Compliance,
    Report,
    ReportRow,
    format_count,
    format_rate,
    level_name,
    period_heading,
    report_labels,
    sum_figures,
)


def report_table(report: Report, lang: str = "vi") -> Group:
    """A renderable laid out like a provincial office's printed report: units grouped by
    level with a subtotal per level, a grand total, and the reconciliation verdict. The
    columns fit the console it is printed on (see `FittedTable`)."""
    labels = report_labels(lang)
    title = Text(labels["title"], style="bold", justify="center")
    period = Text(period_heading(report, lang), justify="center")
    lines: list[tuple[str, str, Mapping[str, int | float | None], str]] = []
    levels: dict[str, list[ReportRow]] = {}
    for row in report.rows:
        levels.setdefault(row.level, []).append(row)
    number = 0
    for lvl, level_rows in levels.items():
        for row in level_rows:
            number += 1
            lines.append((str(number), row.unit_name, row.values(), ""))
        if len(levels) > 1 and len(level_rows) > 1:
            subtotal = labels["subtotal"].format(level=level_name(lvl, lang))
            summed = {
                **sum_figures(r.figures for r in level_rows).as_dict(),
                **sum((r.compliance for r in level_rows), Compliance()).as_dict(),
            }
            lines.append(("", subtotal, summed, "italic"))
        lines.append(("", "", {}, "section"))
    lines.append(("", labels["total"], report.total_values(), "bold"))

    def table_of(keys: tuple[str, ...]) -> FittedTable:
        rows = [(n, name, _cells(v, keys, lang) if v else [], st) for n, name, v, st in lines]
        return FittedTable((labels["no"], labels["unit_name"]), [labels[k] for k in keys], rows)

    # The provincial form's columns, then the compliance figures as a table of their own, so
    # that the form keeps its printed layout.
    table = Group(
        table_of(REPORT_KEYS),
        Text(labels["compliance"], style="bold"),
        table_of(COMPLIANCE_KEYS),
    )
    parts: list[Any] = [title, period, table]
    if not report.rows:
        parts.append(Text(labels["empty"]))
    violations = report.violations
    if violations:
        parts.append(Text(labels["bad"].format(n=len(violations)), style="bold red"))
        parts.extend(Text(f"  {v}", style="red") for v in violations)
    else:
        parts.append(Text(labels["ok"]))
    return Group(*parts)


UNIT_NAME_MIN_WIDTH = 16
"""Below this a unit's name wraps onto more lines than a reader follows comfortably."""


class FittedTable:
    """The report's table laid out for the width of the console it is printed on.

    A figure is never cut: each figure column is as wide as its widest figure (its header
    wraps within it), and when the columns do not fit the width side by side they are split
    into several tables one under the other, each repeating the row number and the unit, as a
    wide report is printed on narrow paper. Widths are fixed here rather than left to rich,
    whose last resort for a table wider than the console is to shorten every column with
    an ellipsis ("1.2…").
    """

    def __init__(
        self,
        row_headers: tuple[str, str],
        headers: list[str],
        rows: list[tuple[str, str, list[str], str]],
    ) -> None:
        self.row_headers = row_headers
        self.headers = headers
        self.rows = rows  # (number, unit name, figures, style); style "section" is a rule

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for columns, widths in self._layout(options.max_width):
            yield self._table(columns, widths)

    def _figure_width(self, column: int) -> int:
        figures = [cell_len(r[2][column]) for r in self.rows if r[2]]
        return max([_longest_word(self.headers[column]), *figures])

    def _layout(self, max_width: int) -> list[tuple[list[int], list[int]]]:
        """Groups of figure columns and the widths of all columns of each table."""
        number_width = max(cell_len(self.row_headers[0]), *(cell_len(r[0]) for r in self.rows))
        names = [self.row_headers[1], *(r[1] for r in self.rows)]
        name_full = max(cell_len(n) for n in names)
        name_width = min(name_full, max(UNIT_NAME_MIN_WIDTH, *(_longest_word(n) for n in names)))
        # Each column adds its padding (1 + 1) and one border; the table adds one border.
        fixed = 1 + (number_width + 3) + (name_width + 3)
        groups: list[list[int]] = [[]]
        used = fixed
        for column in range(len(self.headers)):
            need = self._figure_width(column) + 3
            if groups[-1] and used + need > max_width:
                groups.append([])
                used = fixed
            groups[-1].append(column)
            used += need
        layout = []
        for group in groups:
            widths = [number_width, name_width, *(self._figure_width(c) for c in group)]
            wants = [number_width, name_full, *(cell_len(self.headers[c]) for c in group)]
            spare = max_width - (1 + sum(w + 3 for w in widths))
            # Spare room widens the narrowest columns first (a header on fewer lines), one
            # character at a time, up to what each column's text wants on one line.
            growable = [i for i in range(1, len(widths)) if widths[i] < wants[i]]
            while spare > 0 and growable:
                index = min(growable, key=lambda i: widths[i])
                widths[index] += 1
                spare -= 1
                growable = [i for i in growable if widths[i] < wants[i]]
            layout.append((group, widths))
        return layout

    def _table(self, columns: list[int], widths: list[int]) -> Table:
        table = Table(box=box.SQUARE, show_lines=False, header_style="bold")
        table.add_column(self.row_headers[0], justify="right", width=widths[0], no_wrap=True)
        table.add_column(self.row_headers[1], width=widths[1], overflow="fold")
        for column, width in zip(columns, widths[2:], strict=True):
            header = Text(self.headers[column], justify="right", overflow="fold", no_wrap=False)
            table.add_column(header, justify="right", width=width, no_wrap=True)
        for number, name, figures, style in self.rows:
            if style == "section":
                table.add_section()
            else:
                table.add_row(number, name, *(figures[c] for c in columns), style=style or None)
        return table


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def _cells(
    values: Mapping[str, int | float | None], keys: tuple[str, ...], lang: str
) -> list[str]:
    return [
        format_rate(values[k], lang) if k in RATE_KEYS else format_count(int(values[k] or 0), lang)
        for k in keys
    ]


def render_text(report: Report, lang: str = "vi", width: int = 240) -> str:
    """The printed table as plain text (for files and the HTTP endpoint)."""
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(report_table(report, lang))
    return console.export_text()
