"""Going live on a province-year of history, and a worker restarted on a million open dossiers.

    .venv/bin/python -m devtools.bench_golive [--dossiers 1000000] [--skip-recovery]
        [--python OTHER_CHECKOUT/.venv/bin/python]

History: `dossierflow simulate` of the province-2024 profile at 4,000 dossiers a working day
(about 1,000,000 dossiers, 3.5 M events, from 8/12/2025, ending before 7/12/2026), cached
under ~/.cache/dossierflow/bench-golive/.

(a) Going live, end to end: `dossierflow golive` of the history (evaluation, facts and due
    alerts into a fresh chDB store, open dossiers into the changelog), then a worker
    (RocksDB, empty data directory) started until it has restored the table and rebuilt its
    timers. Goal: minutes. golive's peak RSS too (the kernel's count for the process);
    `--python` runs golive of another checkout's interpreter first, on the same history and
    broker, for a before/after in one run.
(b) Recovery: every dossier of the history open (its events up to RECEIVED), seeded the same
    way; a first worker (event time: nothing due) restores them into RocksDB and stops; a
    second one, on the same data directory with the wall clock (the alerts due since the
    cut-over are due), is timed from its start to its first published alert. Goal: 30 s.
    Memory per open dossier: its RSS less an empty worker's, over the dossiers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime
from importlib import resources
from pathlib import Path

from kafka import KafkaConsumer
from rich.console import Console

from devtools.bench_broker import bench_bootstrap, bench_parser
from devtools.local_worker import WorkerTopics
from dossierflow.kafka.local_broker import free_port
from dossierflow.simulate import PROFILE_DIR

CACHE = Path.home() / ".cache" / "dossierflow" / "bench-golive"
DOSSIERS_PER_WORKING_DAY = 4_000
"""About 1,000,000 dossiers over the profile's 250 working days."""
GOAL_GOLIVE_SECONDS = 600.0
GOAL_FIRST_ALERT_SECONDS = 30.0
console = Console(stderr=True)


def history(dossiers: int) -> Path:
    """The simulated history of about `dossiers` dossiers, built on first use."""
    path = CACHE / f"history-{dossiers}.jsonl"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    profile = CACHE / f"profile-{dossiers}.yaml"
    per_day = DOSSIERS_PER_WORKING_DAY * dossiers // 1_000_000
    profile.write_text(re.sub(
        r"(?m)^dossiers_per_working_day: .*$", f"dossiers_per_working_day: {per_day}",
        resources.files("dossierflow").joinpath(f"{PROFILE_DIR}/province-2024.yaml").read_text(),
    ))
    part = path.with_suffix(".part")
    _cli("simulate", "--profile", str(profile), "--start", "2025-12-08", "--days", "365",
         "--today", "2026-12-07", "--seed", "1", "--out", str(part))
    part.rename(path)
    return path


def up_to_receipt(path: Path) -> Path:
    """`path` with each dossier's events up to its RECEIVED one: every dossier open."""
    out = path.with_name(path.stem + "-received.jsonl")
    if not out.exists():
        received: set[str] = set()
        with path.open("rb") as source, out.with_suffix(".part").open("wb") as sink:
            for line in source:
                event = json.loads(line)
                if event["dossier_id"] not in received:
                    sink.write(line)
                    if event["type"] == "RECEIVED":
                        received.add(event["dossier_id"])
        out.with_suffix(".part").rename(out)
    return out


def _cli(*args: str, python: str = sys.executable) -> tuple[float, int]:
    """Seconds the command took, and its peak RSS in bytes."""
    started = time.monotonic()
    process = subprocess.Popen([python, "-m", "dossierflow.cli", *args])
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, process.args)
    return time.monotonic() - started, usage.ru_maxrss * 1024


def golive(
    path: Path, topics: WorkerTopics, store: Path, python: str = sys.executable
) -> tuple[float, int]:
    return _cli("golive", str(path), "--store", f"chdb://{store}", "--bootstrap",
                topics.bootstrap, "--app-id", topics.app_id, "--events-topic", topics.events,
                "--partitions", str(topics.partitions), python=python)


def start_worker(
    topics: WorkerTopics, data: Path, log: Path, *extra: str
) -> subprocess.Popen[bytes]:
    command = topics.worker_command(data, free_port(), "--loglevel", "info", "--store",
                                    "rocksdb://", *extra)
    return subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def wait_for_log(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> float:
    """Seconds until `text` is in the log (the process started at the call)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if log.exists() and text in log.read_text(errors="replace"):
            return time.monotonic() - started
        if process.poll() is not None:
            raise RuntimeError(f"worker ended ({process.returncode}); see {log}")
        time.sleep(0.2)
    raise RuntimeError(f"no {text!r} in {log} after {timeout} s")


def _rebuild_logged(log: Path) -> tuple[float, float]:
    """When the log says the timer index was rebuilt (Unix time) and how long it took."""
    line = next(line for line in log.read_text(errors="replace").splitlines()
                if "timer index rebuilt" in line)
    logged = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    took = re.search(r" in ([0-9.]+) s;", line)
    assert took is not None, line
    return logged, float(took.group(1))


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=120)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def first_alert_after(topics: WorkerTopics, since: float, timeout: float) -> float:
    """Seconds from `since` (Unix time) to the timestamp of the first alert published."""
    consumer = KafkaConsumer(topics.alerts, bootstrap_servers=topics.bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=500)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for message in consumer:
                return float(message.timestamp) / 1000 - since
    finally:
        consumer.close()
    raise RuntimeError(f"no alert within {timeout} s")


def _open_dossiers_seeded(topics: WorkerTopics) -> int:
    """The dossier records in the app's changelog (its progress records left out)."""
    from kafka import TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=topics.bootstrap)
    try:
        topic = f"{topics.app_id}-dossiers-changelog"
        partitions = [TopicPartition(topic, p) for p in range(topics.partitions)]
        return int(sum(consumer.end_offsets(partitions).values())) - topics.partitions
    finally:
        consumer.close()


def bench_golive(path: Path, bootstrap: str, tmp: Path, python: str = sys.executable) -> None:
    topics = WorkerTopics(bootstrap, partitions=4)
    topics.create()
    seconds, peak = golive(path, topics, tmp / f"store-{topics.app_id}", python)
    log = tmp / f"golive-worker-{topics.app_id}.log"
    worker = start_worker(topics, tmp / f"golive-worker-{topics.app_id}", log)
    try:
        ready = wait_for_log(log, "timer index rebuilt", worker, timeout=1800)
    finally:
        stop(worker)
    total = seconds + ready
    console.print(f"[bold](a) going live on {path.name}[/] ({python}): golive {seconds:.1f} s "
                  f"(peak RSS {peak / 2**30:.2f} GiB) + worker restored and timers rebuilt "
                  f"{ready:.1f} s = {total:.1f} s ({total / 60:.1f} min); goal: minutes "
                  f"(≤ {GOAL_GOLIVE_SECONDS / 60:.0f} min)")


def bench_recovery(path: Path, bootstrap: str, tmp: Path) -> None:
    everyone_open = up_to_receipt(path)
    topics = WorkerTopics(bootstrap, partitions=4)
    topics.create()
    golive(everyone_open, topics, tmp / "recovery-store")
    dossiers = _open_dossiers_seeded(topics)
    data, log = tmp / "recovery-worker", tmp / "recovery-worker.log"
    first = start_worker(topics, data, log, "--event-time")
    try:
        restore = wait_for_log(log, "timer index rebuilt", first, timeout=3600)
    finally:
        stop(first)
    console.print(f"first start (restore of {dossiers:,} open dossiers from the changelog "
                  f"into RocksDB, timers rebuilt): {restore:.1f} s")
    log.write_text("")
    since = time.time()
    second = start_worker(topics, data, log)
    try:
        alert = first_alert_after(topics, since, timeout=600)
        wait_for_log(log, "timer index rebuilt", second, timeout=600)
        rss = rss_bytes(second.pid)
        rebuilt_at, rebuild = _rebuild_logged(log)
    finally:
        stop(second)
    empty = WorkerTopics(bootstrap, partitions=4)
    empty.create()
    idle_log = tmp / "empty-worker.log"
    idle = start_worker(empty, tmp / "empty-worker", idle_log)
    try:
        wait_for_log(idle_log, "timer index rebuilt", idle, timeout=300)
        baseline = rss_bytes(idle.pid)
    finally:
        stop(idle)
    console.print(f"[bold](b) restart on {dossiers:,} open dossiers in RocksDB[/]: first "
                  f"alert {alert:.1f} s after the start; goal ≤ {GOAL_FIRST_ALERT_SECONDS:.0f} "
                  f"s. Of which: start-up, recovery and assignment until the rebuild "
                  f"{rebuilt_at - since - rebuild:.1f} s, timer-index rebuild {rebuild:.1f} s, "
                  f"first timer scan and delivery {alert - (rebuilt_at - since):.1f} s")
    console.print(f"[bold]memory[/]: RSS {rss / 2**20:,.0f} MiB, empty worker "
                  f"{baseline / 2**20:,.0f} MiB: {(rss - baseline) / dossiers:,.0f} bytes per "
                  "open dossier")


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--skip-golive", action="store_true")
    parser.add_argument("--skip-recovery", action="store_true")
    parser.add_argument("--python", help="also measure (a) with another checkout's "
                        "interpreter, before this one's")
    args = parser.parse_args(argv)
    path = history(args.dossiers)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dfgolive-")))
        bootstrap = bench_bootstrap(stack, tmp, args.bootstrap)
        if args.python:
            bench_golive(path, bootstrap, tmp, args.python)
        if not args.skip_golive:
            bench_golive(path, bootstrap, tmp)
        if not args.skip_recovery:
            bench_recovery(path, bootstrap, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
