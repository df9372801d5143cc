"""A `dossierflow worker` process on topics of its own: for the tests and the benchmarks.

Both start real worker processes against a real broker; this is the one place that knows
the topic names such a worker gets and the command line that starts it.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from dossierflow.kafka.topics import TopicSpec, ensure_topics


def dossier_key(line: bytes) -> bytes:
    """The message key of an event line: its `dossier_id` (`unparsable` for junk)."""
    try:
        return str(json.loads(line)["dossier_id"]).encode()
    except (ValueError, KeyError, TypeError):
        return b"unparsable"


@dataclass
class WorkerTopics:
    """The four topics of one worker, named `<prefix>-events` and so on."""

    bootstrap: str
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}")
    partitions: int = 3

    @property
    def app_id(self) -> str:
        return f"{self.prefix}-app"

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

    def produce(self, lines: list[bytes], keys: list[bytes] | None = None) -> list[tuple[int, int]]:
        """Publish event lines, keyed by `dossier_id` unless `keys` are given; the (partition,
        offset) each landed at."""
        producer = KafkaProducer(bootstrap_servers=self.bootstrap)
        try:
            sent = [
                producer.send(self.events, key=keys[i] if keys else dossier_key(line), value=line)
                for i, line in enumerate(lines)
            ]
            producer.flush()
            return [(meta.partition, meta.offset) for meta in (future.get(60) for future in sent)]
        finally:
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

    def worker_command(self, data_dir: Path, metrics_port: int, *extra: str) -> list[str]:
        """`python -m dossierflow.cli worker` on these topics, memory store, in `data_dir`."""
        return [
            sys.executable, "-m", "dossierflow.cli", "worker",
            "--bootstrap", self.bootstrap,
            "--app-id", self.app_id,
            "--events-topic", self.events,
            "--alerts-topic", self.alerts,
            "--facts-topic", self.facts,
            "--dead-letter-topic", self.dead_letters,
            "--partitions", str(self.partitions),
            "--store", "memory://",
            "--data-dir", str(data_dir),
            "--metrics-port", str(metrics_port),
            *extra,
        ]
