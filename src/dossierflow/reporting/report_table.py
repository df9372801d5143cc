"""The period report as a printed table (rich), apart from `reporting.report` so that JSON
and CSV, and the report command until it prints a table, never import rich (≈ 50 ms)."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

from dossierflow.reporting.report import Report
from dossierflow.reporting.table_layout import FittedColumns, Line, report_parts


def report_table(report: Report, lang: str = "vi") -> Group:
    """A renderable of `table_layout.report_parts`; the columns fit the console it is
    printed on (see `FittedColumns`)."""
    return Group(*(
        FittedTable(part) if isinstance(part, FittedColumns) else _text(part)
        for part in report_parts(report, lang)
    ))


def _text(line: Line) -> Text:
    return Text(line.text, style=line.style, justify="center" if line.centred else None)


class FittedTable:
    """`FittedColumns` drawn as rich tables for the width of the console."""

    def __init__(self, columns: FittedColumns) -> None:
        self.columns = columns

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for columns, widths in self.columns.layout(options.max_width):
            yield self._table(columns, widths)

    def _table(self, columns: list[int], widths: list[int]) -> Table:
        fitted = self.columns
        table = Table(box=box.SQUARE, show_lines=False, header_style="bold")
        table.add_column(fitted.row_headers[0], justify="right", width=widths[0], no_wrap=True)
        table.add_column(fitted.row_headers[1], width=widths[1], overflow="fold")
        for column, width in zip(columns, widths[2:], strict=True):
            header = Text(fitted.headers[column], justify="right", overflow="fold", no_wrap=False)
            table.add_column(header, justify="right", width=width, no_wrap=True)
        for number, name, figures, style in fitted.rows:
            if style == "section":
                table.add_section()
            else:
                table.add_row(number, name, *(figures[c] for c in columns), style=style or None)
        return table


def render_text(report: Report, lang: str = "vi", width: int = 240) -> str:
    """The printed table as plain text (for files and the HTTP endpoint)."""
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(report_table(report, lang))
    return console.export_text()
