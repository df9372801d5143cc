"""`dossierflow report`: the period report per receiving unit.

The store is `--store URL`, else `DOSSIERFLOW_CLICKHOUSE_URL`, else chDB under
`.dossierflow/clickhouse`. chDB lets one process open its directory: while `dossierflow sink`
runs it owns the store, so `report` first asks the sink's HTTP endpoint (when it serves that
same store) and otherwise opens the store itself; when neither works it says why.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dossierflow.commands.options import DEFAULT_SINK_HTTP_PORT, add_store_option, fail
from dossierflow.reporting.report import LANGS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dossierflow.reporting.report import Report
    from dossierflow.rules.catalog import Unit

SINK_URL_ENV = "DOSSIERFLOW_SINK_URL"


def add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report",
        help="the period report per receiving unit, with a province total",
        description="The period report of DOMAIN.md for [FROM 00:00, TO 00:00), local time.",
    )
    p.add_argument("--from", dest="period_from", required=True, metavar="DATE")
    p.add_argument("--to", dest="period_to", required=True, metavar="DATE")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--unit", metavar="CODE", help="this unit and the units below it")
    scope.add_argument("--level", metavar="LEVEL", help="the units of one level")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--lang", choices=LANGS, default="vi")
    p.add_argument("--catalog", type=Path, help="catalogue YAML (default: the sample)")
    p.add_argument(
        "--sink-url",
        metavar="URL",
        help="HTTP endpoint of a running `dossierflow sink` (default: $DOSSIERFLOW_SINK_URL, "
        f"else http://127.0.0.1:{DEFAULT_SINK_HTTP_PORT})",
    )
    add_store_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dossierflow.reporting.client import fetch_from_sink
    from dossierflow.reporting.report import ReportError, parse_date, render, report_table
    from dossierflow.rules.catalog import load_catalog
    from dossierflow.store import StoreError, default_url, parse_store_url

    try:
        period_from = parse_date(args.period_from, "--from")
        period_to = parse_date(args.period_to, "--to")
        store_url = parse_store_url(args.store or default_url())
        units = load_catalog(args.catalog).units
    except (ReportError, StoreError) as exc:
        return fail("report", str(exc))
    except (OSError, ValueError) as exc:
        return fail("report", f"catalogue: {exc}")
    sink_url = (args.sink_url or os.environ.get(SINK_URL_ENV) or "").strip() or (
        f"http://127.0.0.1:{DEFAULT_SINK_HTTP_PORT}"
    )
    params = {"from": period_from.isoformat(), "to": period_to.isoformat()}
    if args.unit:
        params["unit"] = args.unit
    if args.level:
        params["level"] = args.level
    try:
        report = None
        sink_problem = ""
        if store_url.kind == "chdb":
            report, sink_problem = fetch_from_sink(sink_url, store_url.display, params)
        if report is None:
            report = _report_directly(args, units, period_from, period_to, sink_url, sink_problem)
    except (ReportError, StoreError) as exc:
        return fail("report", str(exc))
    if args.format == "table":
        from rich.console import Console

        Console(width=max(160, Console().width)).print(report_table(report, args.lang))
    else:
        sys.stdout.write(render(report, args.format, args.lang))
    if report.violations:
        print(
            "dossierflow report: the figures do not reconcile:\n  "
            + "\n  ".join(report.violations),
            file=sys.stderr,
        )
        return 3
    return 0


def _report_directly(
    args: argparse.Namespace,
    units: Mapping[str, Unit],
    period_from: date,
    period_to: date,
    sink_url: str,
    sink_problem: str,
) -> Report:
    from dossierflow.reporting.report import run_report
    from dossierflow.store import StoreError, StoreLocked, connect, require_migrated

    try:
        store = connect(args.store)
    except StoreLocked as exc:
        raise StoreError(
            f"{exc}, and no sink serving it answered at {sink_url} ({sink_problem}). "
            "If `dossierflow sink` runs, give its address with --sink-url "
            "(or DOSSIERFLOW_SINK_URL); otherwise stop the process that holds the store."
        ) from None
    try:
        require_migrated(store)
        return run_report(store, units, period_from, period_to, unit=args.unit, level=args.level)
    finally:
        store.close()


