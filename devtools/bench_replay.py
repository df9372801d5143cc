"""Benchmark of `dossierflow replay` on one core: parsing, evaluation, total, peak RSS.

    .venv/bin/python -m devtools.bench_replay [--count 1000000] [--seed 1] [--profile]

The events (realistic histories from `dossierflow.simulate`) are generated once, in a child
process so that generation does not count in the peak RSS, and cached in the temp directory.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dossierflow.rules.catalog import load_catalog

from dossierflow.replay import read_events, replay, summary


def events_file(count: int, seed: int) -> Path:
    """The cached events file, generated on first use."""
    path = Path(tempfile.gettempdir()) / f"dossierflow-bench-{count}-{seed}.jsonl"
    if not path.exists():
        partial = path.with_suffix(".partial")
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "dossierflow.simulate",
                "--count",
                str(count),
                "--seed",
                str(seed),
                "--out",
                str(partial),
            ],
            check=True,
        )
        partial.rename(path)
        print(f"generated {count:,} events in {time.perf_counter() - started:.1f} s -> {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="cProfile the evaluation")
    args = parser.parse_args(argv)
    path = events_file(args.count, args.seed)
    catalog = load_catalog()
    bad: list[int] = []

    started = time.perf_counter()
    events = read_events(path, lambda number, _reason: bad.append(number))
    parsed = time.perf_counter()
    assert events.latest is not None
    clock = events.latest
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    dossiers = alerts = 0
    for evaluation in replay(events, catalog, clock):
        row = summary(evaluation, clock)
        dossiers += 1
        alerts += len(row["alerts"])
    if profiler:
        profiler.disable()
    finished = time.perf_counter()

    n = events.count
    parse_s, eval_s, total_s = parsed - started, finished - parsed, finished - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"events        {n:,} valid, {len(bad)} bad lines, {dossiers:,} dossiers, {alerts:,} alerts"
    )
    print(f"parsing       {parse_s:7.2f} s  {n / parse_s:>10,.0f} events/s")
    print(f"evaluation    {eval_s:7.2f} s  {n / eval_s:>10,.0f} events/s")
    print(f"total         {total_s:7.2f} s  {n / total_s:>10,.0f} events/s")
    print(f"peak RSS      {peak_mib:,.0f} MiB")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
