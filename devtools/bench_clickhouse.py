"""Benchmark the ClickHouse side: inserts, the period report, the dashboard, start-up.

    .venv/bin/python -m devtools.bench_clickhouse [--facts 1000000] [--store URL]

Generates synthetic facts (a year of dossiers: RECEIVED, sometimes a pause and RESUMED or an
apology, then RESOLVED/WITHDRAWN/STOPPED or still open), measures rows/s for one 100k-fact
batch and for the sink's default 10k batches, then in the same run:
- the period report for 2025 (province and one unit): cold (first) and median of 5;
- the rebuild of the dashboards' rollup (migration 008), then every panel of the Grafana
  dashboard (devtools/grafana_panels.py) and the built-in dashboard's data for 2025: cold and
  median of 5;
- the physical-limit anchor: the report's aggregation as a plain GROUP BY over a plain
  MergeTree holding one row per dossier (no FINAL, no look-ups), and the ratio to it;
- start-up: `dossierflow --help`, `dossierflow migrate` on the ready store, and the bare
  engine open (import clickhouse_connect + open chDB on that directory) it cannot go below.
Without `--store` it uses a fresh chDB directory in a temp dir; figures go to docs/bi.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from devtools import grafana_panels as panels
from dossierflow.reporting.queries import fetch_figures, weekly_trend
from dossierflow.reporting.report import build_report
from dossierflow.rules.catalog import Unit
from dossierflow.schemas.facts import DossierFact
from dossierflow.sinks.base import SinkBatch
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.store import connect, migrate, refresh_rollups

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
        if rng.random() < 0.03:
            t += timedelta(hours=rng.randrange(1, 48))
            steps.append(("APOLOGY_ISSUED", t, "OPEN", {"apologies": 1}))
        if rng.random() < 0.2:
            t += timedelta(hours=rng.randrange(1, 48))
            steps.append(("SUPPLEMENT_REQUESTED", t, "PAUSED", {}))
            t += timedelta(hours=rng.randrange(1, 72))
            steps.append(("RESUMED", t, "OPEN", {}))
            due = t + timedelta(days=rng.choice((1, 3, 5)))
            base["due_at"] = due
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


def timed(run: Callable[[], Any], times: int = 5) -> tuple[list[float], Any]:
    """Seconds of each of `times` runs (the first is the cold one) and the last result."""
    timings, result = [], None
    for _ in range(times):
        began = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - began)
    return timings, result


def whole_report(store: Any, period: tuple[date, date], unit: str | None) -> Any:
    """The report as `dossierflow report` makes it: the store's figures, then the rows."""
    return build_report(fetch_figures(store, *period), UNITS, *period, unit=unit)


def bench_dashboard(store: Any, year: tuple[date, date]) -> None:
    """Each Grafana panel's SQL for the year, macros expanded as the plugin does."""
    start = datetime.combine(year[0], datetime.min.time(), HCM)
    end = datetime.combine(year[1], datetime.min.time(), HCM) - timedelta(milliseconds=1)
    for panel in panels.PANELS:
        sql = panels.expand_macros(panel.sql, start, end)
        timings, _ = timed(partial(store.client.query, sql))
        print(f"dashboard panel {panel.title.split(' / ')[-1]!r}: cold {timings[0]:.3f} s, "
              f"median of 5 {statistics.median(timings):.3f} s")


def bench_builtin_dashboard(store: Any, year: tuple[date, date]) -> None:
    """The built-in dashboard's figures for the year: the pre-aggregated report and the
    weekly trend, as its page and its refresh read them."""
    def page() -> None:
        build_report(fetch_figures(store, *year, pre_aggregated=True), UNITS, *year)
        weekly_trend(store, *year, None)

    timings, _ = timed(page)
    print(f"built-in dashboard data (report + weekly trend, rollup): cold {timings[0]:.3f} s, "
          f"median of 5 {statistics.median(timings):.3f} s")


ANCHOR_SQL = """
WITH toDateTime64({f:String}, 3, 'Asia/Ho_Chi_Minh') AS p_from,
     toDateTime64({t:String}, 3, 'Asia/Ho_Chi_Minh') AS p_to
SELECT ifNull(unit_code, '') AS unit,
    countIf(received_at < p_from AND (closed_at IS NULL OR closed_at >= p_from)),
    countIf(received_at >= p_from), countIf(received_at >= p_from AND channel = 'ONLINE'),
    countIf(received_at >= p_from AND channel = 'IN_PERSON'),
    countIf(received_at >= p_from AND channel = 'POSTAL'),
    countIf(closed_at >= p_from AND status IN ('RESOLVED', 'RETURNED') AND outcome = 'EARLY'),
    countIf(closed_at >= p_from AND status IN ('RESOLVED', 'RETURNED') AND outcome = 'ON_TIME'),
    countIf(closed_at >= p_from AND status IN ('RESOLVED', 'RETURNED') AND outcome = 'OVERDUE'),
    countIf(closed_at >= p_from AND closed_at < p_to AND status = 'WITHDRAWN'),
    countIf(closed_at >= p_from AND closed_at < p_to AND status = 'STOPPED'),
    countIf(closed_at IS NULL OR closed_at >= p_to),
    countIf((closed_at IS NULL OR closed_at >= p_to) AND toDate(due_at) < toDate(p_to)),
    sum(apologies),
    countIf((closed_at IS NULL OR closed_at >= p_to) AND procedure_unknown)
FROM bench_anchor
WHERE received_at < p_to
GROUP BY unit
"""


def report_against_anchor(store: Any, year: tuple[date, date], facts: int) -> None:
    """The report's query and the anchor, run alternately (5 rounds) so that both see the
    same load on a shared machine: the anchor is the report's aggregation as a plain GROUP BY
    over a plain MergeTree copy holding one row per dossier (no FINAL, no look-ups)."""
    client = store.client
    client.command("DROP TABLE IF EXISTS bench_anchor")
    client.command(
        "CREATE TABLE bench_anchor ENGINE = MergeTree ORDER BY dossier_id "
        "AS SELECT * FROM dossier_state FINAL"
    )
    client.command("OPTIMIZE TABLE bench_anchor FINAL")
    parameters = {"f": f"{year[0]} 00:00:00", "t": f"{year[1]} 00:00:00"}
    reports, anchors = [], []
    for _ in range(5):
        reports += timed(lambda: fetch_figures(store, *year), times=1)[0]
        anchors += timed(lambda: client.query(ANCHOR_SQL, parameters=parameters), times=1)[0]
    client.command("DROP TABLE bench_anchor")
    report, anchor = statistics.median(reports), statistics.median(anchors)
    print(f"report query 2025 over {facts:,} facts, alternating with the anchor: cold "
          f"{reports[0]:.3f} s, median {report:.3f} s; anchor median {anchor:.3f} s; "
          f"report / anchor = {report / anchor:.1f}x")


def bench_startup(path: Path) -> None:
    """`dossierflow --help`, `dossierflow migrate` on a ready store, and the engine alone.

    On a store of its own at `path`: this process keeps the engine of the benchmark's store
    open (chDB's engine lives as long as the process), so no other process may open that one.
    """
    exe = Path(sys.executable).with_name("dossierflow")
    url = f"chdb://{path}"
    subprocess.run([str(exe), "migrate", "--store", url], check=True, capture_output=True)
    runs = {
        "dossierflow --help": [str(exe), "--help"],
        "dossierflow migrate (ready store)": [str(exe), "migrate", "--store", url],
        "engine alone (import clickhouse_connect + open chDB)": [
            sys.executable, "-c",
            f"import clickhouse_connect; clickhouse_connect.get_client(dsn={url!r}).close()",
        ],
        "python -c pass": [sys.executable, "-c", "pass"],
    }
    env = {**os.environ, "DOSSIERFLOW_CLICKHOUSE_URL": url}
    for label, command in runs.items():
        timings = []
        for _ in range(3):
            began = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=env)
            timings.append(time.perf_counter() - began)
        print(f"start-up, {label}: median of 3 {statistics.median(timings):.2f} s")


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
        year = (date(2025, 1, 1), date(2026, 1, 1))
        report_against_anchor(store, year, len(facts))
        scopes: tuple[tuple[str, str | None], ...] = (("province", None), ("one unit", "X-001"))
        for label, unit in scopes:
            timings, report = timed(partial(whole_report, store, year, unit))
            print(
                f"report 2025 ({label}, whole command path): median of 5 "
                f"{statistics.median(timings):.3f} s; "
                f"reconciles: {not report.violations}, received {report.total.received:,}"
            )
        began = time.perf_counter()
        refresh_rollups(store)
        print(f"rollup refresh (the dashboards' unit_day_changes, rebuilt every minute): "
              f"{time.perf_counter() - began:.2f} s")
        bench_dashboard(store, year)
        bench_builtin_dashboard(store, year)
        store.close()
        bench_startup(Path(tmp) / "startup")
    return 0


if __name__ == "__main__":
    sys.exit(main())
