"""The report's table as plain text, character for character what rich prints when the
output is not a terminal, without importing rich's console (its import and its generic
rendering cost the report command about 30 ms of CPU; docs/benchmarks.md "Report").

It follows rich 15's rules for what the table uses: `rich._wrap.divide_line` breaks a
cell's text (words, folding a word longer than the column), a line is trimmed and justified
(`rich.containers.Lines.justify`), a header is aligned to the bottom of its row and a cell
to the top, and the borders are `rich.box.SQUARE`'s. Whatever it does not follow it leaves
to rich: `plain_width` answers None when rich would not print plain text or would measure
the width otherwise, and `table_text` None when a text holds what rich would interpret
(markup `[`, emoji codes `:`, control characters) or a table is wider than the width.
tests/test_report_text.py compares both on many reports and widths."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from itertools import pairwise

from rich._wrap import divide_line
from rich.cells import cell_len, set_cell_size

from dossierflow.reporting.table_layout import FittedColumns, Line

_RICH_ENVIRONMENT = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS")
"""Settings that make rich print colours or measure the width otherwise."""
_TRAILING_SPACE = re.compile(r"\s+$")


def plain_width(environ: Mapping[str, str] = os.environ) -> int | None:
    """The width rich's console gives standard output when it prints plain text to it
    (not a terminal, UTF-8): COLUMNS, else the size of the first of stdin, stdout and stderr
    that is a terminal, else 80; None when rich would do otherwise."""
    stdout = sys.stdout
    if sys.platform == "win32" or any(name in environ for name in _RICH_ENVIRONMENT):
        return None
    try:
        terminal = stdout.isatty()
    except (AttributeError, ValueError):  # no such method, or closed: rich decides
        return None
    if terminal or not (getattr(stdout, "encoding", None) or "").lower().startswith("utf"):
        return None
    width: int | None = None
    for descriptor in (0, 1, 2):
        try:
            width = os.get_terminal_size(descriptor).columns
        except (AttributeError, ValueError, OSError):
            continue
        break
    columns = environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        width = int(columns)
    return width or 80


def table_text(parts: list[Line | FittedColumns], width: int) -> str | None:
    """The parts as rich prints them on a console of `width`, or None when rich's output
    might differ (see the module's note)."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, Line):
            if not _plain(part.text, allow_markup=True):
                return None
            out.extend(_wrap(part.text, width, "center" if part.centred else ""))
            continue
        strings = [*part.row_headers, *(r[1] for r in part.rows)]  # rich's Text: the headers
        if not all(_plain(t) for t in strings) or not all(map(str.isprintable, part.headers)):
            return None
        for columns, widths in part.layout(width):
            if 1 + sum(w + 3 for w in widths) > width:
                return None
            out.extend(_table(part, columns, widths))
    return "".join(line + "\n" for line in out)


def _plain(text: str, *, allow_markup: bool = False) -> bool:
    """Whether rich prints `text` as it is: it reads markup and emoji codes in strings (not
    in its `Text`, which the lines outside the tables are), and expands tabs."""
    return text.isprintable() and (allow_markup or not ("[" in text or ":" in text))


def _table(fitted: FittedColumns, columns: list[int], widths: list[int]) -> list[str]:
    justify = ["right", "left", *("right" for _ in columns)]
    spans = [w + 2 for w in widths]
    lines = ["┌" + "┬".join("─" * s for s in spans) + "┐"]
    header = [fitted.row_headers[0], fitted.row_headers[1], *(fitted.headers[c] for c in columns)]
    lines.extend(_row(header, widths, justify, bottom=True))
    lines.append("├" + "┼".join("─" * s for s in spans) + "┤")
    rows = fitted.rows
    for index, (number, name, figures, style) in enumerate(rows):
        if style == "section":
            continue
        lines.extend(_row([number, name, *(figures[c] for c in columns)], widths, justify))
        ends_section = index + 1 < len(rows) and rows[index + 1][3] == "section"
        if ends_section and any(r[3] != "section" for r in rows[index + 1:]):
            lines.append("├" + "┼".join("─" * s for s in spans) + "┤")
    lines.append("└" + "┴".join("─" * s for s in spans) + "┘")
    return lines


def _row(cells: list[str], widths: list[int], justify: list[str], *, bottom: bool = False
         ) -> list[str]:
    rendered = [_wrap(text, width, how) for text, width, how in zip(cells, widths, justify,
                                                                     strict=True)]
    height = max(len(r) for r in rendered)
    columns = []
    for lines, width in zip(rendered, widths, strict=True):
        blank = [" " * width] * (height - len(lines))
        padded = [_pad(line, width) for line in lines]
        columns.append(blank + padded if bottom else padded + blank)
    return ["│" + "│".join(f" {cell} " for cell in row) + "│" for row in zip(*columns, strict=True)]


def _wrap(text: str, width: int, justify: str) -> list[str]:
    """`rich.text.Text.wrap` of one line of text, overflow "fold"."""
    offsets = divide_line(text, width, fold=True)
    bounds = [0, *offsets, len(text)]
    lines = []
    for start, end in pairwise(bounds):
        line = text[start:end]
        if len(line) > width:  # Text.rstrip_end
            trailing = _TRAILING_SPACE.search(line)
            if trailing:
                line = line[: len(line) - min(len(trailing.group(0)), len(line) - width)]
        if justify == "left":
            line = _pad(_crop(line, width), width)
        elif justify in ("right", "center"):
            line = _crop(line.rstrip(), width)
            room = width - cell_len(line)
            left = room if justify == "right" else room // 2
            line = " " * left + line
            if justify == "center":
                line += " " * (width - cell_len(line))
        lines.append(_crop(line, width))
    return lines


def _crop(text: str, width: int) -> str:
    return set_cell_size(text, width) if cell_len(text) > width else text


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - cell_len(text))
