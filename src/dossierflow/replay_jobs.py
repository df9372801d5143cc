"""`replay --jobs N`: the shares of a replay (`replay.Share`) in N processes, merged.

Each process reads the whole file and decodes only its own dossiers' lines. The parent waits
until every share is read, takes the latest `occurred_at` of them all as the clock (what one
process takes) unless `--as-of` gives one, hands it to every share, and merges their output,
each in `dossier_id` order, with `heapq.merge`: the bytes one process writes. Bad lines come
back with their line numbers and are merged the same way.

The processes are forked: they inherit the catalogue already loaded, and nothing else
runs in the parent while they do. Each reads the bytes the file had when the replay began
(`Share.size`), so a file still being written gives them all the same lines.
"""

from __future__ import annotations

import heapq
import multiprocessing
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from operator import itemgetter
from pathlib import Path
from typing import TypeVar

from dossierflow.replay import Replayed, Share, read_events, replay_share
from dossierflow.rules.catalog import Catalog
from dossierflow.rules.evaluation import Evaluation

_BY_DOSSIER = itemgetter(0)
T = TypeVar("T")


@dataclass(frozen=True)
class _Read:
    """What a share tells the parent once it has read the file."""

    bad_lines: list[tuple[int, str]]
    latest: datetime | None
    count: int


@dataclass(frozen=True)
class _Failed:
    traceback: str


@dataclass
class ReplayOutcome:
    """A whole replay, from one share or several."""

    bad_lines: list[tuple[int, str]]
    """(line number, reason), in line order."""
    count: int
    """Valid events read."""
    clock: datetime | None
    """None when the file holds no valid event (then nothing was replayed)."""
    shares: list[Replayed]

    def lines(self) -> Iterator[str]:
        """The output lines, in dossier_id order."""
        return (line for _, line in heapq.merge(*(s.lines for s in self.shares), key=_BY_DOSSIER))

    def failures(self) -> Iterator[tuple[str, str, str]]:
        """(dossier_id, event_id, reason) of the events the rules failed on, in dossier order."""
        return heapq.merge(*(s.failures for s in self.shares), key=_BY_DOSSIER)

    @property
    def unknown_procedures(self) -> Counter[str]:
        return sum((s.unknown_procedures for s in self.shares), Counter())

    @property
    def not_received(self) -> int:
        return sum(s.not_received for s in self.shares)

    @property
    def evaluations(self) -> list[Evaluation]:
        return [e for s in self.shares for e in s.evaluations]


def replay_file(
    path: Path,
    catalog: Catalog,
    as_of: datetime | None,
    jobs: int,
    keep_evaluations: bool = False,
) -> ReplayOutcome:
    """Replay `path` in `jobs` processes (in this one when `jobs` is 1, or when `path` is not
    a regular file: the processes of a pipe would each read a part of it); the evaluations
    are kept (for `--store`) only in one process: they do not cross a process boundary."""
    if jobs == 1 or not path.is_file():
        events = read_events(path, lambda _number, _reason: None)
        clock = as_of or events.latest
        shares = [replay_share(events, catalog, clock, keep_evaluations)] if clock else []
        return ReplayOutcome(events.bad_lines, events.count, clock, shares)
    if keep_evaluations:
        raise ValueError("the evaluations are kept only by a replay in one process")
    return _in_processes(path, catalog, as_of, jobs)


def _in_processes(path: Path, catalog: Catalog, as_of: datetime | None, jobs: int) -> ReplayOutcome:
    context = multiprocessing.get_context("fork")
    connections: list[Connection] = []
    processes = []
    size = path.stat().st_size
    try:
        for job in range(jobs):
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=_job,
                args=(child_end, path, Share(job, jobs, size), catalog),
                name=f"dossierflow-replay-{job}",
                daemon=True,
            )
            process.start()
            child_end.close()
            connections.append(parent_end)
            processes.append(process)
        reads = [_receive(c, job, jobs, _Read) for job, c in enumerate(connections)]
        latest = max((r.latest for r in reads if r.latest is not None), default=None)
        clock = as_of or latest
        for connection in connections:
            connection.send(clock)
        shares = (
            [_receive(c, job, jobs, Replayed) for job, c in enumerate(connections)]
            if clock else []
        )
    except BaseException:  # a failed or interrupted share: the others wait for a clock
        for process in processes:
            process.kill()
        raise
    finally:
        for process in processes:
            process.join()
    return ReplayOutcome(
        bad_lines=list(heapq.merge(*(r.bad_lines for r in reads))),
        count=sum(r.count for r in reads),
        clock=clock,
        shares=shares,
    )


def _receive(connection: Connection, job: int, jobs: int, kind: type[T]) -> T:
    try:
        message = connection.recv()
    except EOFError:
        raise RuntimeError(f"replay job {job + 1} of {jobs} ended without its result") from None
    if isinstance(message, _Failed):
        error = RuntimeError(f"replay job {job + 1} of {jobs} failed")
        error.add_note(message.traceback)
        raise error
    assert isinstance(message, kind), message
    return message


def _job(connection: Connection, path: Path, share: Share, catalog: Catalog) -> None:
    """One share in its own process: read, tell the parent, wait for the clock, replay."""
    try:
        events = read_events(path, lambda _number, _reason: None, share, progress=share.job == 0)
        connection.send(_Read(events.bad_lines, events.latest, events.count))
        clock = connection.recv()
        if clock is not None:
            connection.send(replay_share(events, catalog, clock))
    except BaseException:  # the parent raises it; the traceback is all that can cross
        connection.send(_Failed(traceback.format_exc()))
    finally:
        connection.close()
