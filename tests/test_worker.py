"""The Faust worker against the real Apache Kafka broker of the test session."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dossierflow.rules.catalog import load_catalog

from dossierflow.replay import read_events, replay, summary
from tests.fixtures import WORKED_EXAMPLES
from tests.worker_process import WorkerTopics, free_port, running_worker, start_worker, stop_worker

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

EXAMPLES = WORKED_EXAMPLES


def _in_time_order(path: Path) -> list[bytes]:
    lines = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
    return sorted(lines, key=lambda line: datetime.fromisoformat(json.loads(line)["occurred_at"]))


def _alerts(messages: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(message.value) for message in messages]


def _expected_replay_alerts(path: Path) -> set[tuple[str, str, str]]:
    events = read_events(path, lambda *_: None)
    clock = events.latest
    assert clock is not None
    rows = [summary(e, clock) for e in replay(events, load_catalog(), clock)]
    return {(row["dossier_id"], a["kind"], a["at"]) for row in rows for a in row["alerts"]}


def test_event_time_replay_through_kafka_gives_the_alerts_of_dossierflow_replay(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics = WorkerTopics(kafka_bootstrap)
    expected = _expected_replay_alerts(EXAMPLES)
    assert len(expected) == 8  # EX-01 1, EX-03 2, EX-05 1, EX-06 4 at the largest occurred_at
    topics.create()
    topics.produce(_in_time_order(EXAMPLES))  # history already in Kafka, as in a backfill
    with running_worker(topics, tmp_path, "--event-time"):
        alerts = _alerts(topics.read(topics.alerts, len(expected)))
        time.sleep(2)  # nothing more may come
        alerts = _alerts(topics.read(topics.alerts, len(expected) + 1, timeout=3))
    got = {(a["dossier_id"], a["kind"], a["at"]) for a in alerts}
    assert got == expected
    assert len({a["alert_id"] for a in alerts}) == len(alerts), "an alert was published twice"
    overdue = next(a for a in alerts if a["dossier_id"] == "EX-06" and a["kind"] == "OVERDUE")
    assert overdue["apology_issued"] is True
    assert "quá hạn" in overdue["text_vi"] and "overdue" in overdue["text_en"]
    roles = {r["role"] for r in overdue["recipients"]}
    assert roles == {"handling_unit_head", "receiving_unit_head"}


def _always_working_catalog(tmp: Path) -> Path:
    """Office open all day, every day around today, so a live deadline is seconds away."""
    today = date.today()
    days = [today + timedelta(days=d) for d in range(-2, 3)]
    catalog = tmp / "catalog.yaml"
    catalog.write_text(
        "calendar:\n"
        "  office_hours: [['00:00', '23:59']]\n"
        "  weekend: []\n"
        "  at_risk_lead_hours: 0.001\n"  # 3.6 s
        "  overrides:\n"
        f"    {today.year}:\n"
        f"      working_days: [{', '.join(d.isoformat() for d in days)}]\n"
    )
    return catalog


def _received(dossier_id: str, at: datetime, hours: float) -> bytes:
    return json.dumps({
        "schema_version": 1, "event_id": f"{dossier_id}-1", "dossier_id": dossier_id,
        "type": "RECEIVED", "occurred_at": at.isoformat(), "unit_code": "X-01",
        "procedure_code": "1.000894", "channel": "ONLINE",
        "processing_time": {"value": hours, "unit": "working_hours"},
    }).encode()


def test_a_deadline_that_passes_with_no_new_event_still_alerts(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    if datetime.now().time() > datetime.strptime("23:58", "%H:%M").time():
        pytest.skip("the always-open test office closes at 23:59")
    topics = WorkerTopics(kafka_bootstrap)
    catalog = _always_working_catalog(tmp_path)
    with running_worker(topics, tmp_path, "--catalog", str(catalog)):
        received = datetime.now(UTC)
        topics.produce([_received("LIVE-1", received, 0.002)])  # due 7.2 s later
        alerts = _alerts(topics.read(topics.alerts, 1, timeout=60))
        seen_at = datetime.now(UTC)
    assert [a["kind"] for a in alerts] == ["AT_RISK"]
    at_risk = datetime.fromisoformat(alerts[0]["at"])
    assert at_risk == received + timedelta(seconds=3.6)
    assert seen_at >= at_risk


def test_malformed_events_go_to_dead_letters_and_valid_ones_are_unaffected(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics = WorkerTopics(kafka_bootstrap)
    valid = _in_time_order(EXAMPLES)
    bad = [
        b"not json at all",
        b'{"schema_version": 1, "event_id": "x", "dossier_id": "D", "type": "RECEIVED"}',
        b'{"schema_version": 1, "event_id": "x", "dossier_id": "D", "type": "EXPLODED",'
        b' "occurred_at": "2026-03-02T08:00:00+07:00"}',
        b'{"schema_version": "1", "event_id": "x", "dossier_id": "D", "type": "RESOLVED",'
        b' "occurred_at": "2026-03-02T08:00:00+07:00"}',
        b'{"schema_version": 1, "event_id": "x", "dossier_id": "\xff\xfe", "type": "RESOLVED",'
        b' "occurred_at": "2026-03-02T08:00:00+07:00"}',
        b'{"pad": "' + b"x" * 70_000 + b'"}',
    ]
    lines = valid[:10] + bad + valid[10:]
    keys = [b"k"] * len(lines)
    with running_worker(topics, tmp_path, "--event-time"):
        topics.produce(lines, keys)
        dead = topics.read(topics.dead_letters, len(bad))
        facts = topics.read(topics.facts, 23)
    reasons = [dict(m.headers)["dossierflow-reason"].decode() for m in dead]
    assert [m.value for m in dead] == bad
    assert reasons[0].startswith("not JSON")
    assert "occurred_at" in reasons[1]
    assert "$.type" in reasons[2]
    assert "$.schema_version" in reasons[3]
    assert reasons[4].startswith("not UTF-8")
    assert reasons[5].startswith("oversized")
    offsets = [int(dict(m.headers)["dossierflow-source-offset"]) for m in dead]
    assert offsets == list(range(10, 16))
    assert {json.loads(f.value)["event_id"] for f in facts} == {
        json.loads(line)["event_id"] for line in valid
    }


@pytest.mark.xfail(
    strict=False,
    reason="known defect: now and then (about 1 run in 6) one alert of the restarted history "
    "comes early: EX-05's AT_RISK at 2026-03-06 08:00, planned before its pause, instead of "
    "2026-03-09 08:00; the event-time clock got past the pause before the pause was applied. "
    "Cause not found (see README, Known defects)",
)
@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_restart_mid_stream_loses_nothing_and_alerts_once(
    kafka_bootstrap: str, tmp_path: Path, store: str
) -> None:
    """Memory: the table comes back from the changelog alone; RocksDB: from its files plus
    the changelog after the offsets the worker recorded there."""
    topics = WorkerTopics(kafka_bootstrap)
    lines = _in_time_order(EXAMPLES)
    expected = _expected_replay_alerts(EXAMPLES)
    topics.create()
    first = start_worker(topics, tmp_path, "--event-time", "--store", store)
    try:
        topics.produce(lines[:12])
        unique = {json.loads(line)["event_id"] for line in lines[:12]}
        assert len(topics.read(topics.facts, len(unique))) == len(unique)
    finally:
        stop_worker(first, signal.SIGTERM)
    # The rest of the history is in Kafka before the restart, as event-time mode expects:
    # produced while the worker runs, a partition not yet fetched would look read to the end
    # and hold the watermark back no longer (DOMAIN.md's rule), so alerts could come early.
    topics.produce(lines[12:])
    with running_worker(topics, tmp_path, "--event-time", "--store", store):
        alerts = _alerts(topics.read(topics.alerts, len(expected), timeout=150))
        time.sleep(2)
        alerts = _alerts(topics.read(topics.alerts, len(expected) + 1, timeout=3))
    assert {(a["dossier_id"], a["kind"], a["at"]) for a in alerts} == expected
    assert len(alerts) == len(expected), "an alert was published twice"


def test_metrics_are_served_over_http(kafka_bootstrap: str, tmp_path: Path) -> None:
    topics = WorkerTopics(kafka_bootstrap)
    port = free_port()
    with running_worker(topics, tmp_path, "--event-time", metrics_port=port):
        topics.produce([*_in_time_order(EXAMPLES), b"oops"])
        topics.read(topics.dead_letters, 1)
        text = ""
        deadline = time.monotonic() + 30
        wanted = 'dossierflow_events_total{result="applied",type="WITHDRAWN"}'
        while time.monotonic() < deadline and wanted not in text:
            time.sleep(0.5)
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    assert 'dossierflow_events_total{result="applied",type="RECEIVED"} 7.0' in text
    assert 'dossierflow_events_total{result="duplicate",type="RECEIVED"} 1.0' in text
    assert 'dossierflow_dead_letters_total{problem="not JSON"} 1.0' in text
    assert "dossierflow_event_processing_seconds_bucket" in text
    assert "dossierflow_timer_scan_seconds_count" in text
    assert 'dossierflow_consumer_lag{partition="0"}' in text


def test_outputs_kafka_refuses_stop_the_worker_and_nothing_past_them_is_committed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """The dead-letter topic takes messages of at most 10,000 bytes, so the 70 kB event the
    worker refuses as oversized cannot be dead-lettered: the worker stops (exit code 1)
    rather than acknowledge it, and its group's committed offset stays before it. Once an
    operator raises the topic's limit, a restarted worker dead-letters it and goes on."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    from dossierflow.kafka.topics import TopicSpec, ensure_topics

    topics = WorkerTopics(kafka_bootstrap)
    limit = (("max.message.bytes", "10000"),)
    ensure_topics(kafka_bootstrap, [TopicSpec(topics.dead_letters, 1, configs=limit)])
    topics.create()
    valid = _in_time_order(EXAMPLES)
    oversized = b'{"pad": "' + b"x" * 70_000 + b'"}'
    lines = [*valid[:5], oversized, *valid[5:]]
    topics.produce(lines, [b"k"] * len(lines))  # one partition, in this order

    worker = start_worker(topics, tmp_path, "--event-time")
    try:
        assert worker.wait(timeout=120) == 1
    finally:
        stop_worker(worker)
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "stopping the worker: a batch could not be applied" in log
    assert "MessageSizeTooLargeError" in log
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        offsets = admin.list_group_offsets({topics.app_id: None})
        committed = [
            meta.offset for tp, meta in offsets[topics.app_id].items()
            if tp.topic == topics.events
        ]
        assert all(offset <= 5 for offset in committed), committed
        admin.alter_configs([ConfigResource(
            ConfigResourceType.TOPIC, topics.dead_letters,
            configs={"max.message.bytes": "1048588"},
        )])
    finally:
        admin.close()

    with running_worker(topics, tmp_path, "--event-time"):
        dead = topics.read(topics.dead_letters, 1)
        unique = {json.loads(line)["event_id"] for line in valid}
        facts = topics.read(topics.facts, len(unique), timeout=90)
    # At least once: a rebalance while the old member's session expires may send it twice.
    assert {m.value for m in dead} == {oversized}
    assert {json.loads(f.value)["event_id"] for f in facts} >= unique
