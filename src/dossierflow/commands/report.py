"""`dossierflow report`: the period report per receiving unit.

The store is `--store URL`, else `DOSSIERFLOW_CLICKHOUSE_URL`, else chDB in the user's data
folder (`~/.local/share/dossierflow/clickhouse`); reading never creates a store. chDB lets
one process open its directory: while `dossierflow sink` runs it owns the store, so `report`
first asks the sink's HTTP endpoint (when it serves that same store) and otherwise opens the
store itself; when neither works it says why.
"""

from __future__ import annotations

import argparse
import gc
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

from dossierflow.commands.setting_options import add_setting_options, settings_from
from dossierflow.errors import ExitCode

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dossierflow.reporting.report import Report
    from dossierflow.rules.catalog_units import Unit
    from dossierflow.rules.readings import ReportReadings

def add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report",
        help="the period report per receiving unit, with a province total",
        description="The period report for the days from --from up to --to (excluded) or "
        "through --through (included), local time. Dates are YYYY-MM-DD or dd/mm/yyyy. "
        "These name the same first half of 2026: `--from 2026-01-01 --to 2026-07-01` and "
        "`--from 01/01/2026 --through 30/06/2026`; the table's heading says "
        "'từ ngày 01/01/2026 đến ngày 30/06/2026', both days included. The table fits the "
        "terminal's width, splitting its columns into several tables when needed (set "
        "COLUMNS to choose the width when the output is piped; 80 otherwise).",
        options=_add_options,
    )
    p.add_argument(
        "--from",
        dest="period_from",
        required=True,
        metavar="DATE",
        help="first day of the period (included)",
    )
    end = p.add_mutually_exclusive_group(required=True)
    end.add_argument(
        "--to",
        dest="period_to",
        metavar="DATE",
        help="the day after the period (excluded): --to 2026-07-01 ends on 30 June",
    )
    end.add_argument(
        "--through",
        dest="period_through",
        metavar="DATE",
        help="last day of the period (included): --through 30/06/2026",
    )
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--unit", metavar="CODE", help="this unit and the units below it")
    scope.add_argument("--level", metavar="LEVEL", help="the units of one level")
    p.add_argument(
        "--outcome-reading",
        choices=("date", "instant"),
        help="early / on time / overdue by local date (provincial forms) or overdue once the "
        "appointment instant has passed (Decision 766); default: the catalogue's "
        "report.outcome_reading, else date",
    )
    p.add_argument(
        "--appointment",
        choices=("original", "rescheduled"),
        help="judge against the receipt slip's deadline (the law) or the apology's new date "
        "(the national portal's NgayHenTra); default: the catalogue's report.appointment, "
        "else original",
    )
    p.add_argument(
        "--index",
        choices=("766",),
        help="instead of the period report, the Decision 766 progress index (2.1 on-time "
        "ratio and score, 2.2 average time; per unit, group and the province, ranked; a "
        "period not over yet is judged now). Settings: DOSSIERFLOW_INDEX766_*",
    )
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--lang", choices=("vi", "en"), default="vi")
    p.set_defaults(func=run)


def _add_options(parser: argparse.ArgumentParser) -> None:
    from dossierflow.config import CatalogSettings, StoreSettings

    add_setting_options(parser, CatalogSettings)
    add_setting_options(parser, StoreSettings)


def run(args: argparse.Namespace) -> int:
    # One short run whose objects live until it exits: the cycle collector's passes over
    # every module loaded (the driver's, rich's) free next to nothing and cost the command
    # about 20 ms of CPU (docs/benchmarks.md, "Report").
    gc.disable()
    from dossierflow.config import CatalogSettings, StoreSettings, cache_home
    from dossierflow.reporting.client import fetch_from_sink
    from dossierflow.reporting.report import (
        ReportError,
        render,
        report_period,
        report_readings,
    )
    from dossierflow.rules.catalog_units import load_report_catalog
    from dossierflow.store import parse_store_url

    period_from, period_to = report_period(args.period_from, args.period_to, args.period_through)
    settings = settings_from(args, StoreSettings)
    store_url = parse_store_url(settings.url())
    catalog = load_report_catalog(
        settings_from(args, CatalogSettings).catalog, cache=cache_home() / "catalogue"
    )
    units = catalog.units
    sink_url = settings.sink_url
    if args.index:
        if args.unit or args.level or args.outcome_reading or args.appointment:
            raise ReportError(
                "--unit, --level, --outcome-reading and --appointment do not apply to --index "
                "766: it lists every unit, ranked within its group, with each group's total and "
                "the province's, by the DOSSIERFLOW_INDEX766_* settings"
            )
        return _progress_index(args, settings, units, period_from, period_to)
    readings = report_readings(catalog.report, args.outcome_reading, args.appointment)
    params = {"from": period_from.isoformat(), "to": period_to.isoformat()}
    if args.unit:
        params["unit"] = args.unit
    if args.level:
        params["level"] = args.level
    params["outcome_reading"] = readings.outcome_reading.value
    params["appointment"] = readings.appointment.value
    report = None
    sink_problem = ""
    if store_url.kind == "chdb":
        report, sink_problem = fetch_from_sink(
            sink_url, store_url.display, params, token=settings.token()
        )
    if report is None:
        report = _report_directly(
            settings.url(), args, units, readings, (period_from, period_to), sink_url,
            sink_problem,
        )
    if args.format == "table":
        _print_table(report, args.lang)
    else:
        sys.stdout.write(render(report, args.format, args.lang))
    if report.violations:
        print(
            "dossierflow report: the figures do not reconcile:\n  "
            + "\n  ".join(report.violations),
            file=sys.stderr,
        )
        return ExitCode.CHECK_FAILED
    return 0


def _print_table(report: Report, lang: str) -> None:
    """The table as rich prints it; drawn without rich's console when the output is plain
    text (piped, a file), the same characters for about 30 ms less."""
    from dossierflow.reporting.table_layout import report_parts
    from dossierflow.reporting.table_text import plain_width, table_text

    parts = report_parts(report, lang)
    width = plain_width()
    text = table_text(parts, width) if width is not None else None
    if text is not None:
        sys.stdout.write(text)
        return
    from rich.console import Console

    from dossierflow.reporting.report_table import report_table

    Console().print(report_table(report, lang))


def _progress_index(
    args: argparse.Namespace,
    settings: Any,
    units: Mapping[str, Unit],
    period_from: date,
    period_to: date,
) -> int:
    """`--index 766`: from the sink when it owns the chDB store, else from the store."""
    from datetime import datetime

    from dossierflow.config import ProgressIndexSettings
    from dossierflow.reporting.client import fetch_text_from_sink
    from dossierflow.reporting.progress import progress_report, render_progress
    from dossierflow.reporting.report import LOCAL
    from dossierflow.store import parse_store_url

    index_settings = ProgressIndexSettings.from_env().index_settings()
    store_url = parse_store_url(settings.url())
    text: str | None = None
    problem = ""
    if store_url.kind == "chdb":
        params = {"from": period_from.isoformat(), "to": period_to.isoformat(),
                  "index": args.index, "format": args.format, "lang": args.lang}
        text, problem = fetch_text_from_sink(
            settings.sink_url, store_url.display, params, token=settings.token()
        )
    if text is None:
        store = _open_for_report(settings.url(), settings.sink_url, problem)
        try:
            _require_facts(store)
            report = progress_report(
                store, units, period_from, period_to, datetime.now(LOCAL), index_settings
            )
        finally:
            store.close()
        text = render_progress(report, args.format, args.lang)
    sys.stdout.write(text)
    return 0


def _open_for_report(url: str, sink_url: str, sink_problem: str) -> Any:
    """The store, its rollup refreshes paused (the report reads live views); a clear error
    when another process holds it."""
    from dossierflow.store import StoreError, StoreLocked, connect, pause_rollup_refreshes

    try:
        store = connect(url, create=False)
    except StoreLocked as exc:
        raise StoreError(
            f"{exc}, and no sink serving it answered at {sink_url} ({sink_problem}). "
            "If `dossierflow sink` runs, give its address with --sink-url "
            "(or DOSSIERFLOW_SINK_URL); otherwise stop the process that holds the store."
        ) from None
    try:
        pause_rollup_refreshes(store)
    except BaseException:
        store.close()
        raise
    return store


def _require_facts(store: Any, *, up_to_date: bool = False) -> None:
    """Refuse a store that is not migrated (`up_to_date`: or lacks a migration the query
    reads) or holds no facts, with a clear error."""
    from dossierflow.store import (
        StoreEmpty,
        StoreNotMigrated,
        count_facts,
        pending_migrations,
        require_migrated,
    )

    require_migrated(store)
    pending = pending_migrations(store) if up_to_date else []
    if pending:
        raise StoreNotMigrated(
            f"the store {store.url.display} has not applied "
            f"{', '.join(m.name for m in pending)}, which the report reads; "
            f"run `dossierflow migrate --store {store.url.display}` first"
        )
    if count_facts(store) == 0:
        raise StoreEmpty(
            f"the store {store.url.display} holds no facts at all, so there is nothing to "
            "report; give the store the sink writes (--store or DOSSIERFLOW_CLICKHOUSE_URL)"
        )


def _report_directly(
    url: str,
    args: argparse.Namespace,
    units: Mapping[str, Unit],
    readings: ReportReadings,
    period: tuple[date, date],
    sink_url: str,
    sink_problem: str,
) -> Report:
    from dossierflow.reporting.queries import fetch_report
    from dossierflow.reporting.report import build_report, with_compliance

    store = _open_for_report(url, sink_url, sink_problem)
    try:
        period_from, period_to = period
        # The store's checks cost a round trip each: they run when the figures fail (no
        # tables, or a migration not applied yet) or are empty (no facts at all), which is
        # when their message is needed.
        try:
            figures, compliance = fetch_report(store, period_from, period_to, readings)
        except Exception:
            _require_facts(store, up_to_date=True)
            raise
        if not figures:  # no facts, or a store older than the views' latest migration
            _require_facts(store, up_to_date=True)
        report = build_report(
            figures, units, period_from, period_to, unit=args.unit, level=args.level,
            lang=args.lang,
        )
        return with_compliance(report, compliance, units, unit=args.unit, level=args.level)
    finally:
        store.close()


