"""The memory the worker's two bounded caches hold once full (issue 21).

The events of `devtools/bench_rules.py` (`generate_events(N, seed)`, arrival order) through
`DossierProcessor.on_event` and a `DossierState` over a table in a dict, saved every 2,000
events as the worker saves a batch, so that both caches fill as the worker's do: the kept
folds and the decoded records, `--dossiers-kept` of each (the worker's
`DOSSIERFLOW_DOSSIERS_KEPT`). Then tracemalloc's count of the bytes allocated, before and
after each cache is emptied, and how many events found their dossier's fold no longer kept
(fewer `--days` to receive the dossiers over: a backlog). The two share the events (a
decoded record's events are the objects its kept fold holds), so what emptying one alone
frees is less than its part of both. Last, the processor's notes of closed dossiers due to
leave at their timer (at most as many), which hold those dossiers' histories.

    .venv/bin/python -m devtools.bench_caches [--events 120000] [--dossiers-kept 100000]
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc
import zlib
from collections.abc import Iterable
from datetime import datetime, timedelta

import msgspec

from dossierflow.rules.catalog import load_catalog
from dossierflow.schemas.event import decode_event
from dossierflow.simulate import generate_events
from dossierflow.streams.dossier_state import DossierState
from dossierflow.streams.processor import DossierProcessor
from dossierflow.streams.state import DOSSIERS_KEPT

BATCH = 2_000
PARTITIONS = 4
OUT_OF_ORDERNESS = timedelta(days=1)


class DictTable:
    def __init__(self) -> None:
        self.rows: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.rows.get(key)

    def put_all(self, partition: int, records: Iterable[tuple[bytes, bytes]]) -> None:
        self.rows.update(records)

    def delete(self, key: bytes) -> None:
        self.rows.pop(key, None)

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        return self.rows.items()

    async def changelog_delivered(self) -> None:
        return None


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=120_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dossiers-kept", type=int, default=DOSSIERS_KEPT)
    parser.add_argument("--days", type=int, default=365,
                        help="days the dossiers are received over (fewer: a backlog)")
    args = parser.parse_args()
    encode = msgspec.json.Encoder().encode
    raw = [encode(e) for e in generate_events(args.events, args.seed, days=args.days)]
    tracemalloc.start()
    processor = DossierProcessor(load_catalog(), folds_kept=args.dossiers_kept)
    table = DictTable()
    state = DossierState(table, "bench-caches", args.dossiers_kept)
    latest: datetime | None = None
    refolded = 0
    for count, line in enumerate(raw, 1):
        event = decode_event(line)
        latest = event.occurred_at if latest is None else max(latest, event.occurred_at)
        clock = latest - OUT_OF_ORDERNESS
        partition = zlib.crc32(event.dossier_id.encode()) % PARTITIONS
        record = state.load(event.dossier_id)
        refolded += record is not None and event.dossier_id not in processor._folds
        effects = processor.on_event(record, event, partition, clock, event.occurred_at < clock)
        if not effects.duplicate:
            state.stage(event.dossier_id, effects.record)
        if count % BATCH == 0:
            state.save()
    state.save()
    del raw
    full = traced()
    folds, records = len(processor._folds), len(state._decoded)
    state._decoded.clear()
    records_alone = full - traced()
    processor._folds.clear()
    both = full - traced()
    leaving = len(processor._leaving)
    processor._leaving.clear()  # its notes hold the closed dossiers' histories
    kept = full - traced()
    print(f"{args.events} events, {len(table.rows)} dossiers in the table, "
          f"{refolded} events re-folded their dossier's whole history")
    print(f"both caches ({folds} folds, {records} records): {mib(both)}, "
          f"{both / max(folds, records, 1):,.0f} bytes a dossier")
    print(f"the decoded records alone (the folds kept): {mib(records_alone)}")
    print(f"with the {leaving} closed dossiers noted to leave (their notes): {mib(kept)}, "
          f"{kept / max(folds, records, leaving, 1):,.0f} bytes a dossier")


if __name__ == "__main__":
    main()
