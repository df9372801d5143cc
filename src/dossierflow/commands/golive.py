"""`dossierflow golive HISTORY.jsonl --store URL [--as-of RFC3339] [--bootstrap …]`."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dossierflow.commands.options import check_events_file, fail
from dossierflow.commands.replay import as_of_time
from dossierflow.commands.setting_options import add_setting_options, settings_from

if TYPE_CHECKING:
    from rich.progress import Progress

    from dossierflow.streams.settings import WorkerSettings

WORKER_OPTIONS = ("bootstrap", "app_id", "events_topic", "partitions", "catalog")
"""The worker's settings that decide its state: given to `golive` as to the worker."""


def _mebibytes(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: at least 1 MiB")
    return value


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "golive",
        help="go live on a history file: facts into ClickHouse, open dossiers to the worker",
        description=(
            "Evaluate a history of events (every event up to the cut-over, one JSON object a "
            "line) once: write every dossier's facts and the alerts already due into the "
            "store, as `replay --store` does, and give the dossiers still open to the "
            "worker as its table's state, with the alerts already due marked as sent. The "
            "events topic must exist with --partitions partitions and hold only events after "
            "the cut-over, and the app id must have no state or offsets: else golive refuses "
            "(exit 2) before writing anything. The history is sorted by dossier on disk "
            "(--sort-dir), so memory does not grow with it. Then "
            "start the worker with the same --app-id and --partitions on an empty "
            "--data-dir (docs/operations.md, Going live on history). The worker's "
            "DOSSIERFLOW_* variables (DOSSIERFLOW_KEEP_REASON, "
            "DOSSIERFLOW_CLOSED_RETENTION_DAYS, ...) are read as the worker reads them."
        ),
        options=_add_options,
    )
    parser.set_defaults(func=run)


def _add_options(parser: argparse.ArgumentParser) -> None:
    from dossierflow.config import StoreSettings
    from dossierflow.sorted_history import RUN_BYTES
    from dossierflow.streams.settings import WorkerSettings

    parser.add_argument("events", type=Path, help="JSONL file of the history (schema v1)")
    parser.add_argument(
        "--as-of", type=as_of_time,
        help="the cut-over: the clock of the history (default: its largest occurred_at)",
    )
    parser.add_argument(
        "--sort-dir", type=Path,
        help="where the history is sorted by dossier: needs free space about the file's size "
             "(default: the system's temporary folder, $TMPDIR)",
    )
    parser.add_argument(
        "--sort-buffer", type=_mebibytes, default=RUN_BYTES // 2**20, metavar="MiB",
        help="history sorted in memory at once, in MiB; the process holds about twice it "
             "(default: %(default)s)",
    )
    add_setting_options(parser, StoreSettings, only=["clickhouse_url"])
    add_setting_options(parser, WorkerSettings, only=WORKER_OPTIONS)


def run(args: argparse.Namespace) -> int:
    from dossierflow.backfill import backfill
    from dossierflow.config import StoreSettings
    from dossierflow.cutover import refusal_after, refusal_before
    from dossierflow.golive import Seeding, changelog_topic, write_changelog
    from dossierflow.kafka.security import KafkaSecurity
    from dossierflow.replay import replay_histories
    from dossierflow.rules.catalog import load_catalog
    from dossierflow.sinks.clickhouse import ClickHouseSink
    from dossierflow.sorted_history import spill
    from dossierflow.store import connect, migrate, pause_rollup_refreshes
    from dossierflow.streams.processor import DossierProcessor
    from dossierflow.streams.settings import WorkerSettings

    # Its own --store is the ClickHouse store, not the worker's table store.
    worker_args = argparse.Namespace(**{name: getattr(args, name) for name in WORKER_OPTIONS})
    settings = settings_from(worker_args, WorkerSettings)
    catalog = load_catalog(settings.catalog)
    check_events_file(args.events)
    if args.sort_dir is not None and not args.sort_dir.is_dir():
        return fail("golive", f"--sort-dir {args.sort_dir}: not a folder")
    security = KafkaSecurity.from_env()
    topic = changelog_topic(settings.app_id)
    refusal = refusal_before(settings.bootstrap, security, settings.app_id,
                             settings.events_topic, settings.partitions, topic)
    if refusal:
        return fail("golive", refusal)
    timings: dict[str, float] = {}
    with _progress() as progress, tempfile.TemporaryDirectory(
        prefix="dossierflow-golive-", dir=args.sort_dir
    ) as folder:
        reading = progress.add_task("reading, sorting by dossier",
                                    total=args.events.stat().st_size)
        with _stage(timings, "read and sort"):
            history = spill(args.events, Path(folder), lambda number, reason: print(
                f"{args.events}:{number}: skipped: {reason}", file=sys.stderr),
                args.sort_buffer * 2**20, lambda size: progress.advance(reading, size))
        clock = args.as_of or history.latest
        if clock is None:
            return fail("golive", "no valid events in the history", 1)
        refusal = refusal_after(settings.bootstrap, security, settings.events_topic, clock)
        if refusal:
            return fail("golive", refusal)
        store = connect(settings_from(args, StoreSettings).url())  # StoreError: one line
        migrate(store)
        pause_rollup_refreshes(store)  # the sink rebuilds them when it opens the store
        seeding = Seeding(
            DossierProcessor(catalog, settings.closed_retention, keep_reason=settings.keep_reason),
            clock, settings.partitions,
        )
        evaluating = progress.add_task("evaluating, storing", total=history.count)
        histories = _advancing(history.histories(), lambda n: progress.advance(evaluating, n))
        with _stage(timings, "evaluate and store"):
            stored = backfill(
                seeding.passing(replay_histories(histories, history.latest, catalog, clock,
                                                 _skipped(args))),
                catalog, ClickHouseSink(store), str(args.events),
            )
        store.close()
        records = [*seeding.records, *seeding.progress()]
        seeded = progress.add_task("seeding the worker", total=len(records))
        with _stage(timings, "seed"):
            write_changelog(settings.bootstrap, security.as_kafka_python_kwargs(), topic,
                            records, lambda n: progress.advance(seeded, n))
    _summary(args, settings, history.count, history.dossiers, stored.facts, stored.alerts,
             seeding, topic, clock.isoformat(), timings)
    return 0


def _skipped(args: argparse.Namespace) -> Callable[[Any, str], None]:
    def say(event: Any, reason: str) -> None:
        print(f"{args.events}: event {event.event_id} of dossier {event.dossier_id}: "
              f"skipped: {reason}", file=sys.stderr)

    return say


def _advancing(
    histories: Iterator[tuple[str, list[Any]]], advance: Callable[[int], None]
) -> Iterator[tuple[str, list[Any]]]:
    """`histories` unchanged, `advance` told each one's events."""
    for dossier_id, events in histories:
        advance(len(events))
        yield dossier_id, events


@contextmanager
def _stage(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - started


@contextmanager
def _progress() -> Iterator[Progress]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), console=Console(file=sys.stderr),
    ) as progress:
        yield progress


def _summary(
    args: argparse.Namespace, settings: WorkerSettings, events: int, dossiers: int,
    facts: int, alerts: int, seeding: Any, topic: str, cut_over: str,
    timings: dict[str, float],
) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dossierflow golive: {args.events}, cut-over {cut_over}")
    table.add_column("")
    table.add_column("", justify="right")
    rows = [
        ("events read", f"{events:,}"),
        ("dossiers", f"{dossiers:,}"),
        ("facts stored", f"{facts:,}"),
        ("alerts due by the cut-over, stored (not sent)", f"{alerts:,}"),
        (f"open dossiers seeded into {topic}", f"{seeding.dossiers:,}"),
        ("their alerts marked as sent", f"{seeding.alerts_marked:,}"),
        *((f"{name} (s)", f"{seconds:.1f}") for name, seconds in timings.items()),
        ("total (s)", f"{sum(timings.values()):.1f}"),
    ]
    for row in rows:
        table.add_row(*row)
    console = Console(file=sys.stderr)
    console.print(table)
    console.print(
        f"next: dossierflow worker --app-id {settings.app_id} --partitions "
        f"{settings.partitions} on an empty --data-dir; events occurring after {cut_over} "
        f"go to {settings.events_topic}"
    )
