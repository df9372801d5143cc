"""`dossierflow replay EVENTS.jsonl [--as-of DATE|TIME] [--catalog FILE] [--jobs N]`."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dossierflow.commands.options import check_events_file, local_date
from dossierflow.commands.setting_options import add_setting_options, settings_from
from dossierflow.errors import ExitCode

if TYPE_CHECKING:
    from collections import Counter

    from dossierflow.rules.catalog import Catalog
    from dossierflow.rules.evaluation import Evaluation


def as_of_time(text: str) -> datetime:
    """An argparse type for `--as-of`: a local date (`YYYY-MM-DD` or `dd/mm/yyyy`), meaning
    the start of that day in Vietnam, or an RFC 3339 time with its UTC offset."""
    from dossierflow.rules.calendar import VIETNAM

    try:
        return datetime.combine(local_date(text), time(), VIETNAM)
    except argparse.ArgumentTypeError:
        pass
    try:
        if text[10:11] not in ("T", "t", " "):  # Python takes any separator: `2026-03-04+07:00`
            raise ValueError(text)  # would be 07:00 of that day, without an offset
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a date nor an RFC 3339 time; write e.g. 2026-03-04 or "
            "04/03/2026 (the start of that day), or 2026-03-04T08:00:00+07:00"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} needs a UTC offset, e.g. {value.isoformat()}+07:00"
        )
    return value.astimezone(VIETNAM)


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="apply the rules to a file of events and print each dossier as JSON",
        description=(
            "Read events (one JSON object a line), apply the rules with event time as the "
            "clock and print one JSON object per dossier, sorted by dossier_id. Malformed "
            "lines, and events the rules fail on, are reported on stderr and skipped; then the "
            "exit code is 3."
        ),
        options=_add_options,
    )
    parser.add_argument("events", type=Path, help="JSONL file of events (schema v1)")
    parser.add_argument(
        "--as-of",
        type=as_of_time,
        metavar="DATE|TIME",
        help="the clock: YYYY-MM-DD or dd/mm/yyyy (00:00 that day, Vietnam time) or an RFC "
        "3339 time with its offset (default: the largest occurred_at); dossiers with no event "
        "by then are left out",
    )
    parser.add_argument(
        "--jobs",
        type=positive_int,
        metavar="N",
        help="processes to spread the dossiers over (default: the number of cores, "
        f"{_cores()} here); the output is the same for any N. With --store, or "
        "from a pipe, the replay runs in one process",
    )
    parser.add_argument(
        "--store", metavar="URL",
        help="also write facts and alerts through the ClickHouse sink to this store "
        "(chdb:///path or http(s)://user:password@host:8123/db)",
    )
    parser.set_defaults(func=run)


def _add_options(parser: argparse.ArgumentParser) -> None:
    from dossierflow.config import CatalogSettings

    add_setting_options(parser, CatalogSettings)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number, 1 or more")
    return value


def run(args: argparse.Namespace) -> int:
    from dossierflow.config import CatalogSettings
    from dossierflow.replay_jobs import replay_file
    from dossierflow.rules.catalog import load_catalog

    catalog_file = settings_from(args, CatalogSettings).catalog
    catalog = load_catalog(catalog_file)  # CatalogError: one line, exit 2, from the cli
    check_events_file(args.events)
    jobs = 1 if args.store else args.jobs or _cores()
    outcome = replay_file(args.events, catalog, args.as_of, jobs, keep_evaluations=bool(args.store))
    for number, reason in outcome.bad_lines:
        print(f"{args.events}:{number}: skipped: {reason}", file=sys.stderr)
    if outcome.clock is None:
        print("dossierflow replay: no valid events", file=sys.stderr)
        return _skipped(len(outcome.bad_lines), 0, 0)
    failed = 0
    for dossier_id, event_id, reason in outcome.failures():
        failed += 1
        print(f"{args.events}: event {event_id} of dossier {dossier_id}: skipped: {reason}",
              file=sys.stderr)
    sys.stdout.writelines(outcome.lines())
    _warn_unknown_procedures(outcome.unknown_procedures, catalog_file)
    if outcome.not_received:
        print(
            f"dossierflow replay: {_count(outcome.not_received, 'dossier')} with no event by "
            f"{outcome.clock.isoformat()} (not received yet) left out",
            file=sys.stderr,
        )
    if args.store:
        status = _store(args, outcome.evaluations, catalog)
        if status:
            return status
    return _skipped(len(outcome.bad_lines), failed, outcome.count - failed)


def _skipped(bad_lines: int, failed: int, replayed: int) -> int:
    """The closing count of what was skipped, and the exit code: 3 when anything was (the
    README's table: the command ran, but its input was not all good)."""
    if not bad_lines and not failed:
        return ExitCode.OK
    print(
        f"dossierflow replay: skipped {_count(bad_lines, 'malformed line')} and "
        f"{_count(failed, 'event')} the rules failed on (listed above); "
        f"replayed {_count(replayed, 'event')}",
        file=sys.stderr,
    )
    return ExitCode.CHECK_FAILED


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _warn_unknown_procedures(by_code: Counter[str], catalog: Path | None) -> None:
    if not by_code:
        return
    codes = ", ".join(
        f"{code or '(none)'} ({count})"
        for code, count in sorted(by_code.items(), key=lambda item: (-item[1], item[0]))
    )
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


def _cores() -> int:
    """The cores this process may run on (its affinity and cgroup's cpuset, which
    `os.cpu_count()` ignores: in a container it would fork one process per host core)."""
    return len(os.sched_getaffinity(0)) or 1
