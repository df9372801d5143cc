"""`dossierflow golive` against the real broker and chDB: a worker started on the seeded state
fires exactly the alerts due after the cut-over, and the store ends as `replay --store`'s."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from dossierflow.replay import read_events, replay
from dossierflow.rules.catalog import load_catalog
from dossierflow.schemas.facts import alert_decoder, fact_decoder
from dossierflow.simulate import generate_lines
from dossierflow.sinks.base import SinkBatch, digest_payloads
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.store import connect
from tests.worker_process import WorkerTopics, running_worker

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(400)]


def _occurred(line: bytes) -> datetime:
    return datetime.fromisoformat(json.loads(line)["occurred_at"])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dossierflow.cli", *args],
                          capture_output=True, text=True, timeout=300)


def _replay_alerts(path: Path) -> dict[str, datetime]:
    """`replay`'s alerts of the whole file as of its largest `occurred_at`: id -> instant."""
    events = read_events(path, lambda *_: None)
    assert events.latest is not None
    return {a.alert_id: a.at for e in replay(events, load_catalog(), events.latest)
            for a in e.alerts}


def _settled(topics: WorkerTopics, topic: str, expected: int) -> list[Any]:
    """Every message of `topic` once `expected` arrived and nothing more came for 3 s."""
    topics.read(topic, expected, timeout=120)
    time.sleep(3)
    return topics.read(topic, expected + 1, timeout=3)


def _report(store: str) -> Any:
    done = _cli("report", "--from", "2026-01-01", "--to", "2027-01-01", "--format", "json",
                "--store", store)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _store_outputs(store: str, messages: list[Any], facts_topic: str) -> None:
    """Write what the worker published through the sink's own `write`, as `dossierflow sink`
    does."""
    records = [
        (fact_decoder if m.topic == facts_topic else alert_decoder).decode(m.value)
        for m in messages
    ]
    connection = connect(store)
    ClickHouseSink(connection).write(SinkBatch(
        topic="worker", partition=0, first_offset=0, last_offset=len(records) - 1,
        records=records, payload_digest=digest_payloads([m.value for m in messages]),
    ))
    connection.close()


def test_golive_then_the_worker_alerts_only_after_the_cut_over_and_the_store_is_replays(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    lines = sorted(generate_lines(4000, seed=21), key=_occurred)
    cut_over = _occurred(lines[len(lines) * 2 // 3])
    history = [line for line in lines if _occurred(line) <= cut_over]
    later = [line for line in lines if _occurred(line) > cut_over]
    whole, past = tmp_path / "whole.jsonl", tmp_path / "history.jsonl"
    whole.write_bytes(b"".join(lines))
    past.write_bytes(b"".join(history))
    expected = _replay_alerts(whole)
    after = {alert_id for alert_id, at in expected.items() if at > cut_over}
    assert after and len(after) < len(expected)  # alerts on both sides of the cut-over

    topics = WorkerTopics(kafka_bootstrap)
    topics.create()
    topics.produce(later)  # the live events, published while golive runs: accepted
    store = f"chdb://{tmp_path / 'store'}"
    done = _cli("golive", str(past), "--store", store, "--bootstrap", kafka_bootstrap,
                "--app-id", topics.app_id, "--events-topic", topics.events,
                "--partitions", str(topics.partitions))
    assert done.returncode == 0, done.stderr
    assert "open dossiers seeded" in done.stderr
    with running_worker(topics, tmp_path, "--event-time"):
        alerts = _settled(topics, topics.alerts, len(after))
        facts = topics.read(topics.facts, 1, timeout=10)
        facts = _settled(topics, topics.facts, len(facts))
    published = [json.loads(m.value)["alert_id"] for m in alerts]
    assert len(published) == len(set(published)), "an alert was published twice"
    assert set(published) == after

    _store_outputs(store, [*alerts, *facts], topics.facts)
    replayed = f"chdb://{tmp_path / 'replayed'}"
    done = _cli("replay", str(whole), "--store", replayed)
    assert done.returncode == 0, done.stderr
    assert _report(store) == _report(replayed)


def test_golive_refuses_an_app_id_that_already_has_state(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    history = tmp_path / "history.jsonl"
    lines = sorted(generate_lines(50, seed=3), key=_occurred)
    history.write_bytes(b"".join(lines))
    topics = WorkerTopics(kafka_bootstrap)
    topics.create()
    store = f"chdb://{tmp_path / 'store'}"
    command = ("golive", str(history), "--store", store, "--bootstrap", kafka_bootstrap,
               "--app-id", topics.app_id, "--events-topic", topics.events,
               "--partitions", str(topics.partitions))
    assert _cli(*command).returncode == 0
    again = _cli(*command)
    assert again.returncode == 2
    assert f"{topics.app_id}-dossiers-changelog already holds" in again.stderr
