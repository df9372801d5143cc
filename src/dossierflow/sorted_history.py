"""A history file grouped by dossier on disk, so that a pass over it holds one dossier at a time.

`replay` holds every event of its file, grouped by dossier (`replay.EventFile`): about
650 bytes of memory an event, 13 GiB for a province-year of 20 M events. `spill` instead
reads the file once, as `read_events` does (every bad line reported, in file order), and
writes its valid lines to sorted runs in a folder: chunks of about `run_bytes` of lines,
each sorted by `dossier_id` with a stable sort, so that a dossier's events keep the order
they have in the file. `SpilledHistory.histories` merges the runs and yields each dossier's
events in `dossier_id` order, as `replay` visits them: the same evaluations in the same
order, hence the same facts in the same batches.

Memory: one chunk while spilling; while merging, one line per run and one dossier's events.
Disk: about the size of the file's valid lines, in the folder, until it is removed.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from operator import attrgetter, itemgetter
from pathlib import Path

from dossierflow.replay import decoded_lines
from dossierflow.schemas.event import MAX_EVENT_BYTES, DossierEvent, decode_event

RUN_BYTES = 64 * 2**20
"""Lines sorted in memory at once: in Python objects about twice as much memory."""

_by_dossier = attrgetter("dossier_id")


def _decode_spilled(line: bytes) -> DossierEvent:
    # A valid line; a last line of the file at the size limit was given its newline here.
    return decode_event(line, max_bytes=MAX_EVENT_BYTES + 1)


@dataclass
class SpilledHistory:
    """The valid events of a history file, in sorted runs on disk."""

    runs: list[Path] = field(default_factory=list)
    count: int = 0
    latest: datetime | None = None
    dossiers: int = 0
    """Dossiers yielded by `histories` so far."""

    def histories(self) -> Iterator[tuple[str, list[DossierEvent]]]:
        """(dossier_id, its events in file order) for every dossier, in dossier_id order."""
        with ExitStack() as stack:
            runs = [map(_decode_spilled, stack.enter_context(run.open("rb"))) for run in self.runs]
            # Equal keys come out in the order of the runs, which is the file's.
            merged = heapq.merge(*runs, key=_by_dossier)
            for dossier_id, events in groupby(merged, key=_by_dossier):
                self.dossiers += 1
                yield dossier_id, list(events)


def spill(
    path: Path,
    folder: Path,
    on_bad_line: Callable[[int, str], None],
    run_bytes: int = RUN_BYTES,
    advance: Callable[[int], None] = lambda _n: None,
) -> SpilledHistory:
    """Read `path` into sorted runs under `folder`; `advance` is told each line's bytes."""
    result = SpilledHistory()
    chunk: list[tuple[str, bytes]] = []
    size = 0
    with path.open("rb") as stream:
        for line, event in decoded_lines(stream, on_bad_line, advance=advance):
            chunk.append((event.dossier_id, line if line.endswith(b"\n") else line + b"\n"))
            size += len(line)
            result.count += 1
            if result.latest is None or event.occurred_at > result.latest:
                result.latest = event.occurred_at
            if size >= run_bytes:
                result.runs.append(_write_run(chunk, folder / f"run-{len(result.runs):05d}"))
                chunk, size = [], 0
    if chunk:
        result.runs.append(_write_run(chunk, folder / f"run-{len(result.runs):05d}"))
    return result


def _write_run(chunk: list[tuple[str, bytes]], run: Path) -> Path:
    chunk.sort(key=itemgetter(0))  # stable: a dossier's lines stay in file order
    with run.open("wb") as out:
        out.writelines(line for _dossier, line in chunk)
    return run
