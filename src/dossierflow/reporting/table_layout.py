"""The period report's printed table, apart from how it is drawn: its parts (the heading,
the tables, the verdict) and the widths of its columns for a given width. `report_table`
draws it with rich; `table_text` draws the same characters without rich's console when the
output is plain text (≈ 30 ms less for the report command, docs/benchmarks.md "Report")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rich.cells import cell_len  # rich's own measure, so both drawings agree

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

UNIT_NAME_MIN_WIDTH = 16
"""Below this a unit's name wraps onto more lines than a reader follows comfortably."""


@dataclass(frozen=True)
class Line:
    """A line of text outside the tables; `centred` for the title and the period."""

    text: str
    style: str = ""
    centred: bool = False


@dataclass(frozen=True)
class FittedColumns:
    """The report's table laid out for a width.

    A figure is never cut: each figure column is as wide as its widest figure (its header
    wraps within it), and when the columns do not fit the width side by side they are split
    into several tables one under the other, each repeating the row number and the unit, as a
    wide report is printed on narrow paper. Widths are fixed here rather than left to rich,
    whose last resort for a table wider than the console is to shorten every column with
    an ellipsis ("1.2…").
    """

    row_headers: tuple[str, str]
    headers: list[str]
    rows: list[tuple[str, str, list[str], str]]
    """(number, unit name, figures, style); style "section" is a rule."""

    def figure_width(self, column: int) -> int:
        figures = [cell_len(r[2][column]) for r in self.rows if r[2]]
        return max([_longest_word(self.headers[column]), *figures])

    def layout(self, max_width: int) -> list[tuple[list[int], list[int]]]:
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
            need = self.figure_width(column) + 3
            if groups[-1] and used + need > max_width:
                groups.append([])
                used = fixed
            groups[-1].append(column)
            used += need
        layout = []
        for group in groups:
            widths = [number_width, name_width, *(self.figure_width(c) for c in group)]
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


def report_parts(report: Report, lang: str = "vi") -> list[Line | FittedColumns]:
    """Laid out like a provincial office's printed report: units grouped by level with a
    subtotal per level, a grand total, and the reconciliation verdict."""
    labels = report_labels(lang)
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

    def table_of(keys: tuple[str, ...]) -> FittedColumns:
        rows = [(n, name, _cells(v, keys, lang) if v else [], st) for n, name, v, st in lines]
        return FittedColumns((labels["no"], labels["unit_name"]), [labels[k] for k in keys], rows)

    # The provincial form's columns, then the compliance figures as a table of their own, so
    # that the form keeps its printed layout.
    parts: list[Line | FittedColumns] = [
        Line(labels["title"], "bold", centred=True),
        Line(period_heading(report, lang), centred=True),
        table_of(REPORT_KEYS),
        Line(labels["compliance"], "bold"),
        table_of(COMPLIANCE_KEYS),
    ]
    if not report.rows:
        parts.append(Line(labels["empty"]))
    violations = report.violations
    if violations:
        parts.append(Line(labels["bad"].format(n=len(violations)), "bold red"))
        parts.extend(Line(f"  {v}", "red") for v in violations)
    else:
        parts.append(Line(labels["ok"]))
    return parts


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def _cells(
    values: Mapping[str, int | float | None], keys: tuple[str, ...], lang: str
) -> list[str]:
    return [
        format_rate(values[k], lang) if k in RATE_KEYS else format_count(int(values[k] or 0), lang)
        for k in keys
    ]
