"""Benchmark the ClickHouse side: insert rate through `ClickHouseSink` and report latency.

    .venv/bin/python -m devtools.bench_clickhouse [--facts 1000000] [--store URL]

Generates synthetic facts (a year of dossiers: RECEIVED, sometimes a pause and RESUMED,
then RESOLVED/WITHDRAWN/STOPPED or still open), measures rows/s for one 100k-fact batch and
for the sink's default 10k batches, then the period report over everything. Without
`--store` it uses a fresh chDB directory in a temp dir. The figures go to the README.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dossierflow.rules.catalog import Unit
from dossierflow.schemas.facts import DossierFact
from dossierflow.sinks.base import SinkBatch
from dossierflow.sinks.clickhouse import ClickHouseSink

from dossierflow.reporting.report import run_report
from dossierflow.store import connect, migrate

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
CHANNELS = ("ONLINE", "IN_PERSON", "POSTAL")
UNITS = {f"X-{i:03d}": Unit(f"X-{i:03d}", f"UBND xã {i}", "commune", "P") for i in range(60)}
UNITS.update(
    {f"S-{i:02d}": Unit(f"S-{i:02d}", f"Sở {i}", "department", "P") for i in range(15)}
)
UNITS["P"] = Unit("P", "UBND tỉnh", "province")


def synthetic_facts(count: int, seed: int = 7) -> Iterator[DossierFact]:
    """About `count` facts of dossiers received over 2025, with their derived states."""
    rng = random.Random(seed)
    codes = [c for c in UNITS if c != "P"]
    start = datetime(2025, 1, 1, 7, 30, tzinfo=HCM)
    made, n = 0, 0
    while made < count:
        n += 1
        dossier = f"D{n:08d}"
        unit = rng.choice(codes)
        received = start + timedelta(minutes=rng.randrange(365 * 24 * 60))
        due = received + timedelta(days=rng.choice((1, 3, 5, 10, 15)))
        base: dict[str, Any] = {
            "unit_code": unit, "handling_unit_code": unit, "procedure_code": "1.000894",
            "sector_code": "civil", "channel": rng.choice(CHANNELS), "online_level": None,
            "received_at": received, "due_at": due, "rescheduled_due_at": None,
            "resolved_at": None, "closed_at": None, "outcome": None, "apologies": 0,
        }
        steps: list[tuple[str, datetime, str, dict[str, Any]]] = [
            ("RECEIVED", received, "OPEN", {})
        ]
        t = received
        if rng.random() < 0.2:
            t += timedelta(hours=rng.randrange(1, 48))
            steps.append(("SUPPLEMENT_REQUESTED", t, "PAUSED", {}))
            t += timedelta(hours=rng.randrange(1, 72))
            steps.append(("RESUMED", t, "OPEN", {}))
        end = rng.random()
        t += timedelta(hours=rng.randrange(1, 24 * 20))
        if end < 0.85:
            outcome = "EARLY" if t.date() < due.date() else (
                "ON_TIME" if t.date() == due.date() else "OVERDUE"
            )
            steps.append(
                ("RESOLVED", t, "RESOLVED", {"resolved_at": t, "closed_at": t, "outcome": outcome})
            )
        elif end < 0.9:
            steps.append(("WITHDRAWN", t, "WITHDRAWN", {"closed_at": t}))
        elif end < 0.93:
            steps.append(("STOPPED", t, "STOPPED", {"closed_at": t}))
        state = dict(base)
        for position, (kind, at, status, changes) in enumerate(steps):
            state.update(changes)
            yield DossierFact(
                event_id=f"{dossier}-{position}", dossier_id=dossier, type=kind, occurred_at=at,
                sequence=None, position=position, version=len(steps), status=status,
                **state,
            )
            made += 1


def insert(sink: ClickHouseSink, facts: list[DossierFact], batch: int, offset: int) -> float:
    """Insert `facts` in batches of `batch`; returns rows/s."""
    began = time.perf_counter()
    for first in range(0, len(facts), batch):
        chunk = facts[first : first + batch]
        sink.write(
            SinkBatch("bench", 0, offset + first, offset + first + len(chunk) - 1, chunk, "b")
        )
    return len(facts) / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=1_000_000, help="facts in the store")
    parser.add_argument("--store", help="store URL (default: chDB in a temp dir)")
    args = parser.parse_args()
    if args.facts < 200_000:
        parser.error("--facts: at least 200000 (the two insert measurements use 200k)")
    with tempfile.TemporaryDirectory(prefix="dossierflow-bench-") as tmp:
        store = connect(args.store or f"chdb://{Path(tmp) / 'ch'}")
        migrate(store)
        sink = ClickHouseSink(store)
        began = time.perf_counter()
        facts = list(synthetic_facts(args.facts))
        print(f"generated {len(facts):,} facts in {time.perf_counter() - began:.1f} s")
        one = insert(sink, facts[:100_000], 100_000, 0)
        print(f"insert, one batch of 100k facts: {one:,.0f} rows/s")
        tens = insert(sink, facts[100_000:200_000], 10_000, 100_000)
        print(f"insert, 10 batches of 10k facts: {tens:,.0f} rows/s")
        rest = insert(sink, facts[200_000:], 100_000, 200_000)
        print(f"insert, the remaining {len(facts) - 200_000:,} facts: {rest:,.0f} rows/s")
        for label, kwargs in (("province", {}), ("one unit", {"unit": "X-001"})):
            timings = []
            for _ in range(5):
                began = time.perf_counter()
                report = run_report(store, UNITS, date(2025, 1, 1), date(2026, 1, 1), **kwargs)
                timings.append(time.perf_counter() - began)
            print(
                f"report 2025 ({label}) over {len(facts):,} facts: first {timings[0]:.3f} s, "
                f"median {statistics.median(timings):.3f} s; "
                f"reconciles: {not report.violations}, received {report.total.received:,}"
            )
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
