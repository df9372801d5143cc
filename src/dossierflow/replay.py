"""Replay a file of events through the rules with event time as the clock.

Histories are independent per dossier, so a replay can be cut into shares by dossier
(`Share`): each share reads the whole file but decodes only its own dossiers' lines, and
evaluates them on its own (`replay_jobs` runs the shares in processes and merges them).
"""

from __future__ import annotations

import io
import json
import sys
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import msgspec
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from dossierflow.rules.catalog import Catalog
from dossierflow.rules.evaluation import Evaluation, evaluate
from dossierflow.schemas.event import (
    MAX_EVENT_BYTES,
    DossierEvent,
    decode_event,
    file_lines,
    rejection_reason,
)

PROGRESS_MIN_BYTES = 5_000_000
"""Files smaller than this replay too fast for a progress bar to help."""


class _Route(msgspec.Struct):
    """The one field of an event that says which share it belongs to."""

    dossier_id: str


_route_decoder = msgspec.json.Decoder(_Route)


@dataclass(frozen=True)
class Share:
    """Share `job` of `jobs`: the dossiers whose crc32(dossier_id) % jobs == job.

    A line is routed by its `dossier_id` alone (a decoder of that one field, several times
    cheaper than the whole event). A line whose route cannot be read is decoded by every
    share, kept by the one its event belongs to and, when it is bad, reported by share 0
    only: every bad line is reported once, whatever the routing decoder thinks of it."""

    job: int = 0
    jobs: int = 1
    size: int | None = None
    """Bytes of the file to read (all when None): the size it had when a replay in several
    processes began, so that a file still being written gives each of them the same lines."""

    def owns(self, dossier_id: str) -> bool:
        return zlib.crc32(dossier_id.encode("utf-8", "surrogatepass")) % self.jobs == self.job

    def owner_known(self, line: bytes) -> bool | None:
        """Whether this share owns the line, or None when its route cannot be read."""
        if self.jobs == 1:
            return True
        if len(line) > MAX_EVENT_BYTES:
            return None  # refused by `decode_event` before any parsing
        try:
            return self.owns(_route_decoder.decode(line).dossier_id)
        except Exception:  # not JSON, no dossier_id, nested too deep...: decode_event says why
            return None


WHOLE = Share()


@dataclass
class EventFile:
    """The valid events of a JSONL file grouped by dossier, and its bad lines."""

    by_dossier: dict[str, list[DossierEvent]] = field(default_factory=lambda: defaultdict(list))
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    latest: datetime | None = None
    count: int = 0


def read_events(
    path: Path,
    on_bad_line: Callable[[int, str], None],
    share: Share = WHOLE,
    progress: bool = True,
) -> EventFile:
    """Read one event per line; a bad line is reported and skipped, never fatal. Only the
    lines of `share` are decoded and kept (the whole file by default)."""
    result = EventFile()

    def bad(number: int, reason: str) -> None:
        result.bad_lines.append((number, reason))
        on_bad_line(number, reason)

    size = path.stat().st_size if progress else 0
    with _opened(path, share.size) as stream, _progress(size) as advance:
        for _line, event in decoded_lines(stream, bad, share, advance):
            result.by_dossier[event.dossier_id].append(event)
            result.count += 1
            if result.latest is None or event.occurred_at > result.latest:
                result.latest = event.occurred_at
    return result


def decoded_lines(
    stream: IO[bytes],
    on_bad_line: Callable[[int, str], None],
    share: Share = WHOLE,
    advance: Callable[[int], None] = lambda _n: None,
) -> Iterator[tuple[bytes, DossierEvent]]:
    """Each valid line of `share` in a JSONL stream of events, with its event; a bad line is
    given to `on_bad_line` (its number, why) and skipped. `advance` is told each line's bytes."""
    for number, line in enumerate(file_lines(stream), start=1):
        advance(len(line))
        if not line.strip():
            continue
        owned = share.owner_known(line)
        if owned is False:
            continue
        try:
            event = decode_event(line)
        except Exception as exc:  # InvalidEvent; any other is a bug, and no reason to stop
            if owned or share.job == 0:
                on_bad_line(number, rejection_reason(exc))
            continue
        if owned is None and not share.owns(event.dossier_id):
            continue
        yield line, event


def _opened(path: Path, size: int | None) -> IO[bytes]:
    if size is None:
        return path.open("rb")
    return io.BufferedReader(_Prefix(path.open("rb", buffering=0), size))


class _Prefix(io.RawIOBase):
    """The first `size` bytes of an unbuffered binary file."""

    def __init__(self, raw: io.FileIO, size: int) -> None:
        self._raw = raw
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        count = self._raw.readinto(memoryview(buffer)[: self._left])
        self._left -= count
        return count

    def close(self) -> None:
        self._raw.close()
        super().close()


class _progress:
    """A rich progress bar on stderr for large files; a no-op for small ones."""

    def __init__(self, total: int) -> None:
        self._bar = (
            Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                transient=True,
                console=None,
            )
            if total >= PROGRESS_MIN_BYTES and sys.stderr.isatty()
            else None
        )
        self._total = total
        self._pending = 0

    def __enter__(self) -> Callable[[int], None]:
        if self._bar is None:
            return lambda _n: None
        self._bar.start()
        task = self._bar.add_task("reading events", total=self._total)

        def advance(amount: int) -> None:
            self._pending += amount
            if self._pending >= 1 << 20:
                assert self._bar is not None
                self._bar.advance(task, self._pending)
                self._pending = 0

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def replay(
    events: EventFile,
    catalog: Catalog,
    clock: datetime,
    on_failed: Callable[[DossierEvent, str], None] = lambda _event, _reason: None,
) -> Iterator[Evaluation]:
    """Evaluate every dossier as of `clock`, in `dossier_id` order; events that occur after
    the clock are not history yet, and a dossier with none before it is not yielded (not
    received yet). An event the rules fail on is left out, its reason given to `on_failed`,
    as the worker dead-letters it (a dossier left without events is not yielded)."""
    histories = ((dossier_id, events.by_dossier[dossier_id])
                 for dossier_id in sorted(events.by_dossier))
    return replay_histories(histories, events.latest, catalog, clock, on_failed)


def replay_histories(
    histories: Iterable[tuple[str, list[DossierEvent]]],
    latest: datetime | None,
    catalog: Catalog,
    clock: datetime,
    on_failed: Callable[[DossierEvent, str], None],
) -> Iterator[Evaluation]:
    """`replay` of (dossier_id, events in file order) pairs, in the order given; `latest` is
    the largest `occurred_at` among them (when it is not after the clock, none is filtered)."""
    every_event = latest is not None and latest <= clock
    for dossier_id, events in histories:
        history = events if every_event else [e for e in events if e.occurred_at <= clock]
        if history:
            evaluation = replay_dossier(dossier_id, history, catalog, clock, on_failed)
            if evaluation is not None:
                yield evaluation


def replay_dossier(
    dossier_id: str,
    history: list[DossierEvent],
    catalog: Catalog,
    clock: datetime,
    on_failed: Callable[[DossierEvent, str], None],
) -> Evaluation | None:
    """One dossier of `replay`; None when the rules fail on every event of its history.

    After a failure, the dossier without the events the rules fail on: tried in file
    (arrival) order as the worker applies them, each one with which the rules fail on the
    ones kept before it is left out. Only after a failure, since it evaluates the dossier
    once per event. (The worker may fail on an event that a later one makes harmless, e.g. a
    RESUMED that comes before its pause in time: replay, which sees the whole history, keeps
    that one.)"""
    try:
        return evaluate(dossier_id, history, catalog, clock)
    except Exception:
        pass
    kept: list[DossierEvent] = []
    evaluation = None
    for event in history:
        try:
            evaluation = evaluate(dossier_id, [*kept, event], catalog, clock)
        except Exception as exc:
            on_failed(event, rejection_reason(exc))
            continue
        kept.append(event)
    return evaluation


def summary(evaluation: Evaluation, clock: datetime) -> dict[str, Any]:
    """The replay output of one dossier, with exactly the keys the contract fixes, and
    `procedure_unknown: true` after them for a dossier whose procedure has no deadline."""
    row: dict[str, Any] = json.loads(summary_line(evaluation, clock))
    return row


def summary_line(evaluation: Evaluation, clock: datetime) -> str:
    """`summary` as one JSON line with its newline, byte for byte as `json.dumps(row,
    ensure_ascii=False)` writes the row (spaces after `:` and `,`): the output format
    (tests/fixtures/worked-examples.expected.jsonl). Written from a template rather than
    through a dict and `json.dumps`, for 60 % of the cost; the enums' values are plain
    ASCII names, every other string is escaped as `json` escapes it."""
    state = evaluation.state
    alerts = ", ".join(
        f'{{"kind": "{alert.kind.value}", "at": "{alert.at.isoformat()}"}}'
        for alert in evaluation.alerts
    )
    outcome = f'"{state.outcome.value}"' if state.outcome else "null"
    unknown = ', "procedure_unknown": true' if state.procedure_unknown else ""
    return (
        f'{{"dossier_id": {_text(state.dossier_id)}, "status": "{state.status.value}", '
        f'"unit_code": {_text(state.unit_code)}, '
        f'"handling_unit_code": {_text(state.handling_unit_code)}, '
        f'"procedure_code": {_text(state.procedure_code)}, "channel": {_text(state.channel)}, '
        f'"received_at": {_time(state.received_at)}, "due_at": {_time(state.due_at)}, '
        f'"rescheduled_due_at": {_time(state.rescheduled_due_at)}, "outcome": {outcome}, '
        f'"overdue": {"true" if evaluation.overdue else "false"}, "alerts": [{alerts}]{unknown}}}\n'
    )


_escaped = json.encoder.encode_basestring  # what json.dumps(..., ensure_ascii=False) uses


def _text(value: str | None) -> str:
    return "null" if value is None else _escaped(value)


def _time(value: datetime | None) -> str:
    return "null" if value is None else f'"{value.isoformat()}"'


@dataclass
class Replayed:
    """A share replayed: its output, and what the command says about it on stderr."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    """(dossier_id, `summary_line`), in dossier_id order."""
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    """(dossier_id, event_id, reason) of each event the rules failed on, in dossier_id order."""
    unknown_procedures: Counter[str] = field(default_factory=Counter)
    """Dossiers without a deadline because their procedure is not in the catalogue, by code."""
    not_received: int = 0
    """Dossiers left out because none of their events had occurred at the clock."""
    evaluations: list[Evaluation] = field(default_factory=list)
    """Kept only when asked for (`--store` writes them)."""


def replay_share(
    events: EventFile, catalog: Catalog, clock: datetime, keep_evaluations: bool = False
) -> Replayed:
    """`replay` of one share's events, as output lines and counts."""
    result = Replayed(not_received=_not_received(events, clock))

    def failed(event: DossierEvent, reason: str) -> None:
        result.failures.append((event.dossier_id, event.event_id, reason))

    for evaluation in replay(events, catalog, clock, failed):
        state = evaluation.state
        result.lines.append((state.dossier_id, summary_line(evaluation, clock)))
        if state.procedure_unknown:
            result.unknown_procedures[state.procedure_code or ""] += 1
        if keep_evaluations:
            result.evaluations.append(evaluation)
    return result


def _not_received(events: EventFile, clock: datetime) -> int:
    if events.latest is None or clock >= events.latest:
        return 0
    return sum(
        all(event.occurred_at > clock for event in history)
        for history in events.by_dossier.values()
    )
