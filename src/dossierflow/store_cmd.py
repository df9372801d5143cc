"""`dossierflow migrate`, `dossierflow report` and `dossierflow sink`.

The store is `--store URL`, else `DOSSIERFLOW_CLICKHOUSE_URL`, else chDB under
`.dossierflow/clickhouse`. chDB lets one process open its directory: while `dossierflow sink`
runs it owns the store, so `report` first asks the sink's HTTP endpoint (when it serves that
same store) and otherwise opens the store itself; when neither works it says why.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from dossierflow.rules.catalog import Unit, load_catalog
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.sinks.kafka_sink import SinkSettings, serve
from dossierflow.sinks.report import (
    LANGS,
    Report,
    ReportError,
    render,
    report_from_json,
    report_period,
    report_table,
    run_report,
)
from dossierflow.sinks.store import (
    Store,
    StoreError,
    StoreLocked,
    connect,
    default_url,
    migrate,
    parse_store_url,
    require_migrated,
)

SINK_URL_ENV = "DOSSIERFLOW_SINK_URL"
DEFAULT_HTTP_PORT = 8686


def _store_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="URL",
        help="chdb:///abs/path or http(s)://user:password@host:8123/db "
        "(default: $DOSSIERFLOW_CLICKHOUSE_URL, else chDB in .dossierflow/clickhouse)",
    )


def add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "migrate",
        help="create or upgrade the ClickHouse tables (idempotent)",
        description="Apply the numbered DDL files not applied yet; safe to run twice.",
    )
    _store_arg(p)
    p.set_defaults(func=run_migrate)

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
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--lang", choices=LANGS, default="vi")
    p.add_argument("--catalog", type=Path, help="catalogue YAML (default: the sample)")
    p.add_argument(
        "--sink-url",
        metavar="URL",
        help="HTTP endpoint of a running `dossierflow sink` (default: $DOSSIERFLOW_SINK_URL, "
        f"else http://127.0.0.1:{DEFAULT_HTTP_PORT})",
    )
    _store_arg(p)
    p.set_defaults(func=run_report_cmd)

    p = subparsers.add_parser(
        "sink",
        help="consume facts and alerts into ClickHouse and serve /report and /healthz",
        description="Consume the facts and alerts topics into the store, committing offsets "
        "only after the store acknowledged; serve GET /report and GET /healthz.",
    )
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: $DOSSIERFLOW_BOOTSTRAP)")
    p.add_argument("--facts-topic", help="default: dossier-facts")
    p.add_argument("--alerts-topic", help="default: dossier-alerts")
    p.add_argument("--group", dest="group_id", help="consumer group of the sink")
    p.add_argument(
        "--http-host",
        help=f"address of GET /report and /healthz (default: the host of ${SINK_URL_ENV}, "
        "else 127.0.0.1)",
    )
    p.add_argument(
        "--http-port",
        type=int,
        help=f"default: the port of ${SINK_URL_ENV}, else {DEFAULT_HTTP_PORT}",
    )
    p.add_argument("--batch-size", type=int, help="records per partition batch (10000)")
    p.add_argument("--batch-max-age", type=float, help="seconds a record may wait (1.0)")
    p.add_argument("--catalog", type=Path, help="catalogue YAML (default: the sample)")
    _store_arg(p)
    p.set_defaults(func=run_sink)


def _fail(command: str, message: str, status: int = 2) -> int:
    print(f"dossierflow {command}: {message}", file=sys.stderr)
    return status


def _sink_url(given: str | None) -> str:
    """`--sink-url`, else $DOSSIERFLOW_SINK_URL, else the sink's default address."""
    return (given or os.environ.get(SINK_URL_ENV) or "").strip() or (
        f"http://127.0.0.1:{DEFAULT_HTTP_PORT}"
    )


def _units(path: Path | None) -> Mapping[str, Unit]:
    return load_catalog(path).units


def run_migrate(args: argparse.Namespace) -> int:
    try:
        store = connect(args.store)
    except StoreError as exc:
        return _fail("migrate", str(exc), 1)
    try:
        applied = migrate(store)
    except StoreError as exc:
        return _fail("migrate", str(exc), 1)
    finally:
        store.close()
    if applied:
        print(f"{store.url.display}: applied {', '.join(applied)}")
    else:
        print(f"{store.url.display}: up to date")
    return 0


def run_report_cmd(args: argparse.Namespace) -> int:
    try:
        period_from, period_to = report_period(
            args.period_from, args.period_to, args.period_through
        )
        store_url = parse_store_url(args.store or default_url())
        units = _units(args.catalog)
    except (ReportError, StoreError) as exc:
        return _fail("report", str(exc))
    except (OSError, ValueError) as exc:
        return _fail("report", f"catalogue: {exc}")
    sink_url = _sink_url(args.sink_url)
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
        return _fail("report", str(exc))
    if args.format == "table":
        from rich.console import Console

        Console().print(report_table(report, args.lang))
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


def fetch_from_sink(
    sink_url: str, store_display: str, params: Mapping[str, str], timeout: float = 30.0
) -> tuple[Report | None, str]:
    """The report from a running sink serving `store_display`, or (None, why not)."""
    base = sink_url.rstrip("/")
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2.0) as response:
            health = json.load(response)
    except urllib.error.HTTPError as exc:  # 503 while the sink's store is unreachable
        health = json.load(exc)
    except (OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    if health.get("store") != store_display:
        return None, f"it serves {health.get('store')!r}, not {store_display!r}"
    query = urllib.parse.urlencode({**params, "format": "json"})
    try:
        with urllib.request.urlopen(f"{base}/report?{query}", timeout=timeout) as response:
            return report_from_json(json.load(response)), ""
    except urllib.error.HTTPError as exc:
        detail = json.load(exc).get("error", exc.reason)
        raise ReportError(f"the sink at {base} refused the report: {detail}") from None


def run_sink(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # One variable says where the sink answers, for the sink and for `dossierflow report`.
    listen = urllib.parse.urlsplit(_sink_url(None))
    settings = SinkSettings.from_env(
        bootstrap=args.bootstrap,
        facts_topic=args.facts_topic,
        alerts_topic=args.alerts_topic,
        group_id=args.group_id,
        http_host=args.http_host or listen.hostname,
        http_port=args.http_port or listen.port or DEFAULT_HTTP_PORT,
        batch_size=args.batch_size,
        batch_max_age=args.batch_max_age,
    )
    try:
        units = _units(args.catalog)
    except (OSError, ValueError) as exc:
        return _fail("sink", f"catalogue: {exc}")
    try:
        write_store = connect(args.store)
        migrate(write_store)
        report_store = connect(args.store)
    except StoreError as exc:
        return _fail("sink", str(exc), 1)
    try:
        asyncio.run(_serve_until_signal(settings, write_store, report_store, units))
    except OSError as exc:
        return _fail("sink", f"HTTP endpoint {settings.http_host}:{settings.http_port}: {exc}", 1)
    finally:
        report_store.close()
        write_store.close()
    return 0


async def _serve_until_signal(
    settings: SinkSettings, write_store: Store, report_store: Store, units: Mapping[str, Unit]
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, ClickHouseSink(write_store), report_store, units, stop)
