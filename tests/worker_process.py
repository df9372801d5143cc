"""Run `dossierflow worker` as a real subprocess and read its output topics (test helper)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from dossierflow.kafka_admin import TopicSpec, ensure_topics


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _key(line: bytes) -> bytes:
    try:
        return str(json.loads(line)["dossier_id"]).encode()
    except (ValueError, KeyError, TypeError):
        return b"unparsable"


@dataclass
class WorkerTopics:
    bootstrap: str
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}")
    partitions: int = 3

    @property
    def events(self) -> str:
        return f"{self.prefix}-events"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}-alerts"

    @property
    def facts(self) -> str:
        return f"{self.prefix}-facts"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}-dead-letters"

    def create(self) -> None:
        """Create the worker's topics up front, so producing never races the worker."""
        ensure_topics(
            self.bootstrap,
            [TopicSpec(name, self.partitions) for name in (self.events, self.alerts, self.facts)]
            + [TopicSpec(self.dead_letters, 1)],
        )

    def produce(self, lines: list[bytes], keys: list[bytes] | None = None) -> None:
        producer = KafkaProducer(bootstrap_servers=self.bootstrap)
        for index, line in enumerate(lines):
            producer.send(self.events, key=keys[index] if keys else _key(line), value=line)
        producer.flush()
        producer.close()

    def read(self, topic: str, expected: int, timeout: float = 60) -> list[Any]:
        """Messages of `topic` from the start, waiting until `expected` have arrived."""
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=500,
        )
        messages: list[Any] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and len(messages) < expected:
                messages.extend(consumer)
        finally:
            consumer.close()
        return messages


@contextmanager
def running_worker(
    topics: WorkerTopics, tmp: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process on `topics`; stopped with SIGTERM (a graceful stop) at the end."""
    topics.create()
    process = start_worker(topics, tmp, *extra, env=env)
    try:
        yield process
    finally:
        stop_worker(process)


def start_worker(
    topics: WorkerTopics, tmp: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "dossierflow.cli", "worker",
        "--bootstrap", topics.bootstrap,
        "--app-id", f"{topics.prefix}-app",
        "--events-topic", topics.events,
        "--alerts-topic", topics.alerts,
        "--facts-topic", topics.facts,
        "--dead-letter-topic", topics.dead_letters,
        "--partitions", str(topics.partitions),
        "--store", "memory://",
        "--data-dir", str(tmp / "worker"),
        *(() if "--metrics-port" in extra else ("--metrics-port", str(free_port()))),
        *extra,
    ]
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
