"""`dossierflow calendar YEAR [--format table|json] [--catalog FILE]`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from dossierflow.commands.setting_options import add_setting_options, settings_from

if TYPE_CHECKING:
    from dossierflow.rules.calendar_years import ListedDay, YearView

_WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
FIRST_YEAR, LAST_YEAR = 1995, 2100
"""The `holidays` package's Vietnam starts observed days in 1995; beyond 2100 nobody knows."""
_PIPED_WIDTH = 400


def year(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a year: {text!r}") from None
    if not FIRST_YEAR <= value <= LAST_YEAR:
        raise argparse.ArgumentTypeError(f"{value}: give a year from {FIRST_YEAR} to {LAST_YEAR}")
    return value


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calendar",
        help="the working calendar of a year: weekdays off and working weekend days",
        description=(
            "Print the year as the product sees it, to hold against the Government's notice "
            "for that year: the Monday–Friday days that are not working days and the weekend "
            "days that are, each with its reason and where it comes from (the override file, "
            "the catalogue, or the holidays package for a year the file does not confirm)."
        ),
        options=_add_options,
    )
    parser.add_argument("year", type=year, help="e.g. 2026")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(func=run)


def _add_options(parser: argparse.ArgumentParser) -> None:
    from dossierflow.config import CatalogSettings

    add_setting_options(parser, CatalogSettings)


def run(args: argparse.Namespace) -> int:
    from dossierflow.config import CatalogSettings
    from dossierflow.rules.calendar_years import year_view
    from dossierflow.rules.catalog import load_catalog

    # CatalogError: one line, exit 2, from the cli.
    catalog = load_catalog(settings_from(args, CatalogSettings).catalog)
    view = year_view(catalog.calendar, catalog.arrangements, args.year)
    if args.format == "json":
        json.dump(as_json(view), sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _print_table(view)
    return 0


def as_json(view: YearView) -> dict[str, object]:
    return {
        "year": view.year,
        "days_off": [d.day.isoformat() for d in view.days_off],
        "make_up_days": [d.day.isoformat() for d in view.make_up_days],
    }


def _print_table(view: YearView) -> None:
    from rich.console import Console
    from rich.table import Table

    confirmed = view.confirmed_by or "chưa xác nhận — ngày lễ theo gói holidays, cần đối chiếu"
    table = Table(title=f"Lịch làm việc năm {view.year}", caption=f"Căn cứ: {confirmed}")
    for heading in ("Ngày", "Thứ", "Loại", "Lý do", "Nguồn"):
        table.add_column(heading, overflow="fold")
    rows: list[tuple[ListedDay, str]] = [
        *((d, "Nghỉ") for d in view.days_off),
        *((d, "Làm việc") for d in view.make_up_days),
    ]
    for listed, kind in sorted(rows, key=lambda row: row[0].day):
        table.add_row(
            f"{listed.day:%d/%m/%Y}", _WEEKDAYS_VI[listed.day.weekday()], kind,
            listed.reason, listed.source,
        )
    # Piped (grep, a file), one row a line: wide enough not to fold the reasons.
    Console(width=None if sys.stdout.isatty() else _PIPED_WIDTH).print(table)
