"""Start and stop `dossierflow worker` as a real subprocess (test helper)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devtools.local_worker import WorkerTopics
from dossierflow.kafka.local_broker import free_port

__all__ = ["WorkerTopics", "free_port", "running_worker", "start_worker", "stop_worker"]


@contextmanager
def running_worker(
    topics: WorkerTopics,
    tmp: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    metrics_port: int | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process on `topics`; stopped with SIGTERM (a graceful stop) at the end."""
    topics.create()
    process = start_worker(topics, tmp, *extra, env=env, metrics_port=metrics_port)
    try:
        yield process
    finally:
        stop_worker(process)


def start_worker(
    topics: WorkerTopics,
    tmp: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    metrics_port: int | None = None,
) -> subprocess.Popen[bytes]:
    """The worker logs to `tmp/worker.log` (at INFO: rebalances and recovery, for a
    failed test's post-mortem); its table data goes to `tmp/worker`."""
    command = topics.worker_command(
        tmp / "worker", metrics_port or free_port(), "--loglevel", "info", *extra
    )
    log = (tmp / "worker.log").open("ab")
    return subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
    )


def stop_worker(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
