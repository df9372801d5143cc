"""`dossierflow replay EVENTS.jsonl [--as-of RFC3339] [--catalog FILE]`."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dossierflow.commands.options import add_catalog_option, check_events_file

if TYPE_CHECKING:
    from collections import Counter

    from dossierflow.rules.catalog import Catalog
    from dossierflow.rules.evaluation import Evaluation


def rfc3339(text: str) -> datetime:
    from dossierflow.rules.calendar import VIETNAM

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"needs a UTC offset, e.g. {text}+07:00")
    return value.astimezone(VIETNAM)


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="apply the rules to a file of events and print each dossier as JSON",
        description=(
            "Read events (one JSON object a line), apply the rules with event time as the "
            "clock and print one JSON object per dossier, sorted by dossier_id."
        ),
    )
    parser.add_argument("events", type=Path, help="JSONL file of events (schema v1)")
    parser.add_argument(
        "--as-of", type=rfc3339, help="the clock (default: the largest occurred_at)"
    )
    add_catalog_option(parser)
    parser.add_argument(
        "--store",
        help="also write facts and alerts through the ClickHouse sink to this store "
        "(chdb:///path or http(s)://user:password@host:8123/db; "
        "default when given without the option: $DOSSIERFLOW_CLICKHOUSE_URL)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dossierflow.replay import read_events, replay, summary_line, unknown_procedures
    from dossierflow.rules.catalog import load_catalog

    catalog = load_catalog(args.catalog)  # CatalogError: one line, exit 2, from the cli
    check_events_file(args.events)
    events = read_events(
        args.events,
        lambda number, reason: print(f"{args.events}:{number}: skipped: {reason}", file=sys.stderr),
    )
    clock = args.as_of or events.latest
    if clock is None:
        print("dossierflow replay: no valid events", file=sys.stderr)
        return 0 if not events.bad_lines else 1
    evaluations = list(replay(
        events, catalog, clock,
        lambda event, reason: print(
            f"{args.events}: event {event.event_id} of dossier {event.dossier_id}: skipped: "
            f"{reason}", file=sys.stderr,
        ),
    ))
    sys.stdout.writelines(summary_line(e, clock) for e in evaluations)
    _warn_unknown_procedures(unknown_procedures(evaluations), args.catalog)
    if args.store:
        return _store(args, evaluations, catalog)
    return 0


def _warn_unknown_procedures(by_code: Counter[str], catalog: Path | None) -> None:
    if not by_code:
        return
    codes = ", ".join(f"{code or '(none)'} ({count})" for code, count in by_code.most_common())
    dossiers = "1 dossier has" if by_code.total() == 1 else f"{by_code.total()} dossiers have"
    print(
        f"dossierflow replay: warning: {dossiers} no deadline and no "
        f"alert because their procedure is not in the catalogue "
        f"({catalog or 'the shipped sample'}): {codes}; add these procedure codes with their "
        f"processing_time to the catalogue (--catalog) and replay again",
        file=sys.stderr,
    )


def _store(args: argparse.Namespace, evaluations: list[Evaluation], catalog: Catalog) -> int:
    from dossierflow.backfill import backfill
    from dossierflow.sinks.clickhouse import ClickHouseSink
    from dossierflow.store import StoreError, connect, migrate, pause_rollup_refreshes

    try:
        store = connect(args.store)
        migrate(store)
        pause_rollup_refreshes(store)  # the sink rebuilds them when it opens the store
        result = backfill(evaluations, catalog, ClickHouseSink(store), str(args.events))
    except StoreError as exc:
        print(f"dossierflow replay: {exc}", file=sys.stderr)
        return 1
    print(
        f"stored {result.facts} facts and {result.alerts} alerts in {result.batches} batches "
        f"into {store.url.display}",
        file=sys.stderr,
    )
    store.close()
    return 0
