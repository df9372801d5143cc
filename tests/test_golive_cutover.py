"""`dossierflow golive` refuses, before writing anything, Kafka in a state where the worker
would skip or repeat the history (src/dossierflow/cutover.py), on the real broker."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from dossierflow.kafka.topics import TopicSpec, ensure_topics
from dossierflow.simulate import generate_lines
from tests.worker_process import WorkerTopics

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]


def _occurred(line: bytes) -> datetime:
    return datetime.fromisoformat(json.loads(line)["occurred_at"])


def _history(tmp_path: Path) -> tuple[Path, list[bytes]]:
    """A short history file, its lines in time order."""
    lines = sorted(generate_lines(60, seed=5), key=_occurred)
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"".join(lines))
    return path, lines


def _golive(topics: WorkerTopics, history: Path, store: Path, *extra: str
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", "golive", str(history),
         "--store", f"chdb://{store}", "--bootstrap", topics.bootstrap, "--app-id",
         topics.app_id, "--events-topic", topics.events, "--partitions",
         str(topics.partitions), *extra],
        capture_output=True, text=True, timeout=240,
    )


def _refused(done: subprocess.CompletedProcess[str], store: Path) -> str:
    """The refusal's sentence, once checked that it is one and nothing was stored."""
    assert done.returncode == 2, done.stderr
    assert not store.exists(), "the store was written before the refusal"
    [line] = [line for line in done.stderr.splitlines() if line.startswith("dossierflow golive:")]
    return line


def test_golive_refuses_an_events_topic_that_does_not_exist(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    history, _ = _history(tmp_path)
    topics = WorkerTopics(kafka_bootstrap)
    sentence = _refused(_golive(topics, history, tmp_path / "store"), tmp_path / "store")
    assert f"events topic {topics.events} does not exist" in sentence
    assert "--events-topic" in sentence


def test_golive_refuses_an_events_topic_of_another_partition_count(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    history, _ = _history(tmp_path)
    topics = WorkerTopics(kafka_bootstrap)
    ensure_topics(kafka_bootstrap, [TopicSpec(topics.events, 2)])
    sentence = _refused(_golive(topics, history, tmp_path / "store"), tmp_path / "store")
    assert f"topic {topics.events} has 2 partitions, not 3" in sentence


def test_golive_refuses_a_group_with_committed_offsets_on_the_events_topic(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    history, _ = _history(tmp_path)
    topics = WorkerTopics(kafka_bootstrap)
    topics.create()
    [(partition, offset)] = topics.produce([b"{}"], keys=[b"x"])
    group = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=topics.app_id,
                          enable_auto_commit=False)
    try:
        group.commit({TopicPartition(topics.events, partition):
                      OffsetAndMetadata(offset + 1, "", -1)})
    finally:
        group.close()
    sentence = _refused(_golive(topics, history, tmp_path / "store"), tmp_path / "store")
    assert (f"consumer group {topics.app_id} has committed offsets on {topics.events} "
            f"(partition {partition} at offset {offset + 1})") in sentence


def test_golive_refuses_an_events_topic_holding_events_of_the_history(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Two events of the history published to the topic, with one after the cut-over and a
    malformed message (neither history nor live): refused, the first of the two named."""
    history, lines = _history(tmp_path)
    topics = WorkerTopics(kafka_bootstrap)
    topics.create()
    cut_over = _occurred(lines[-1])
    later = lines[-1].replace(json.loads(lines[-1])["occurred_at"].encode(),
                              (cut_over + timedelta(days=1)).isoformat().encode())
    earliest = lines[5]
    topics.produce([b"not json", lines[7], earliest, later])
    sentence = _refused(_golive(topics, history, tmp_path / "store"), tmp_path / "store")
    assert (f"{topics.events} already holds 2 events that occurred at or before the cut-over "
            f"{cut_over.isoformat()}") in sentence
    assert f"earlier than {_occurred(earliest).isoformat()}" in sentence
    # Cut over before every event there: going live is allowed.
    done = _golive(topics, history, tmp_path / "store", "--as-of",
                   (_occurred(earliest) - timedelta(seconds=1)).isoformat())
    assert done.returncode == 0, done.stderr
