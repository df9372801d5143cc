"""`dossierflow demo`: the product end to end on its embedded defaults, no server needed.

Generates a seeded quarter of realistic dossier histories, runs them through the rules
(as `replay` does), writes facts and alerts through the ClickHouse sink into the embedded
chDB store, and prints the quarter's period report in Vietnamese.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

DEMO_DIR = Path(".dossierflow/demo")


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole product on its embedded defaults (rules, chDB store, report)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=20_000, help="events to generate")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--dir", type=Path, default=DEMO_DIR, help="where the demo writes")
    parser.add_argument(
        "--store", help="store URL (default: chdb:// in --dir, or $DOSSIERFLOW_CLICKHOUSE_URL)"
    )
    parser.add_argument("--lang", choices=("vi", "en"), default="vi")
    parser.set_defaults(func=run)


def _default_store(directory: Path) -> str:
    """$DOSSIERFLOW_CLICKHOUSE_URL, or an embedded chDB store inside the demo folder."""
    embedded = f"chdb://{(directory / 'clickhouse').resolve()}"
    return os.environ.get("DOSSIERFLOW_CLICKHOUSE_URL") or embedded


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from dossierflow.backfill import backfill
    from dossierflow.replay import read_events, replay, summary
    from dossierflow.reporting.report import report_table, run_report
    from dossierflow.rules.catalog import load_catalog
    from dossierflow.sinks.clickhouse import ClickHouseSink
    from dossierflow.store import StoreError, connect, migrate
    from dossierflow.synth import DEFAULT_START, write_jsonl

    args.dir.mkdir(parents=True, exist_ok=True)
    events_path = args.dir / "events.jsonl"
    today = date.today()
    try:
        write_jsonl(events_path, args.events, args.seed, today=today)
    except ValueError as exc:
        print(f"dossierflow demo: {exc}", file=sys.stderr)
        return 2
    catalog = load_catalog()
    events = read_events(
        events_path, lambda n, reason: print(f"line {n}: {reason}", file=sys.stderr)
    )
    assert events.latest is not None
    evaluations = list(replay(events, catalog, events.latest))
    with (args.dir / "dossiers.jsonl").open("w") as out:
        for evaluation in evaluations:
            out.write(json.dumps(summary(evaluation, events.latest), ensure_ascii=False) + "\n")
    statuses = Counter(e.state.status.value for e in evaluations)
    alerts = Counter(a.kind.value for e in evaluations for a in e.alerts)
    print(f"{events.count} events of {len(evaluations)} dossiers -> {events_path}")
    print("status: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    print("alerts: " + ", ".join(f"{k} {v}" for k, v in sorted(alerts.items())))
    try:
        store = connect(args.store or _default_store(args.dir))
        migrate(store)
        stored = backfill(evaluations, catalog, ClickHouseSink(store), str(events_path))
        print(f"stored {stored.facts} facts and {stored.alerts} alerts in {store.url.display}")
        period_from = DEFAULT_START.date()
        period_to = period_from + timedelta(days=91)
        report = run_report(store, catalog.units, period_from, min(period_to, today))
        store.close()
    except StoreError as exc:
        print(f"dossierflow demo: {exc}", file=sys.stderr)
        return 1
    Console().print(report_table(report, args.lang))  # laid out for this terminal
    return 0
