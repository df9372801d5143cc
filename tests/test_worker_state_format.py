"""A real worker refuses a table restored in a state format it does not read."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaProducer

from dossierflow.kafka.topics import TopicSpec, ensure_topics
from dossierflow.streams.state import PartitionProgress, encode_progress, progress_key
from tests.worker_process import WorkerTopics, start_worker, stop_worker

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]


def test_a_worker_given_a_newer_state_format_stops_with_a_sentence_and_applies_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics = WorkerTopics(kafka_bootstrap, partitions=1)
    topics.create()
    changelog = f"{topics.app_id}-dossiers-changelog"  # as a newer worker left it
    ensure_topics(kafka_bootstrap, [TopicSpec(changelog, 1)])
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        progress = PartitionProgress(latest_occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
                                     state_format=2)
        producer.send(changelog, key=progress_key(0), value=encode_progress(progress),
                      partition=0).get(60)
    finally:
        producer.close()
    topics.produce([json.dumps({
        "schema_version": 1, "event_id": "A-1", "dossier_id": "A", "type": "RECEIVED",
        "occurred_at": "2026-03-02T08:00:00+07:00", "unit_code": "X-01",
        "procedure_code": "1.000894", "channel": "ONLINE",
    }).encode()])
    worker = start_worker(topics, tmp_path)
    try:
        code = worker.wait(timeout=180)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        stop_worker(worker)
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert code == 1, log[-3000:]
    assert (
        f"stopping the worker: the state of events partition 0 (table 'dossiers' of app "
        f"'{topics.app_id}') is in format 2, written by a newer dossierflow; this worker "
        "reads format 1 only."
    ) in log, log[-3000:]
    assert topics.read(topics.facts, 1, timeout=3) == []
