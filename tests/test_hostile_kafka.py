"""Hostile events and free text through the real broker (issue 18): the worker sends each
hostile event to the dead letters with its reason and goes on with the events after it;
`produce` reports and skips their lines and publishes the rest; an event's free-text
`reason` stays out of the worker's changelog and outputs, and only a dead letter's original
bytes keep it."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from dossierflow.cli import main
from tests.conftest import TopicFactory
from tests.worker_process import WorkerTopics, running_worker

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

NO_WORKING_TIME_AFTER_2026 = """\
calendar:
  weekend: [mon, tue, wed, thu, fri, sat, sun]
  overrides:
    2026:
      working_days: [2026-03-02, 2026-03-03, 2026-03-04, 2026-03-05, 2026-03-06]
"""
"""A catalogue whose calendar has working days in March 2026 only: a deadline later than
ten years of days off cannot be computed (ValueError from the calendar), as a wrong
calendar in a catalogue would do to a well-formed event."""


def event(event_id: str, kind: str, at: str, *, dossier: str = "G-1", **fields: Any) -> bytes:
    return json.dumps(ensure_ascii=False, obj={
        "schema_version": 1, "event_id": event_id, "dossier_id": dossier, "type": kind,
        "occurred_at": at, **fields,
    }).encode()


RECEIVED: dict[str, Any] = {"unit_code": "X-01", "procedure_code": "1.000894", "channel": "ONLINE",
            "processing_time": {"value": 1, "unit": "working_days"}}
NESTED = b"[" * 1000 + b"]" * 1000
"""1,000 nested arrays: 2 KB that raised RecursionError out of the decoder."""


def test_hostile_events_go_to_dead_letters_and_the_worker_goes_on(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Before: the first of them (RecursionError) stopped the worker, on every restart."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(NO_WORKING_TIME_AFTER_2026)
    hostile = [
        event("H-1", "RESUMED", "2026-03-02T09:00:00+07:00")[:-1]
        + b', "extra": ' + NESTED + b"}",  # 1,001 levels
        event("H-2", "RECEIVED", "9999-12-31T09:00:00+07:00", **RECEIVED),
        event("H-3", "RECEIVED", "0001-01-01T00:30:00+07:00", **RECEIVED),
        event("H-4", "RESUMED", "2026-03-02T09:00:00+07:00", sequence=2**64),
        # Well-formed, but its deadline cannot be computed with this catalogue:
        event("H-5", "RECEIVED", "2045-03-02T09:00:00+07:00", dossier="G-2", **RECEIVED),
    ]
    good = [
        event("G-1-1", "RECEIVED", "2026-03-02T08:00:00+07:00", **RECEIVED),
        event("G-1-2", "RESOLVED", "2026-03-03T10:00:00+07:00"),
    ]
    topics = WorkerTopics(kafka_bootstrap)
    with running_worker(topics, tmp_path, "--catalog", str(catalog)) as worker:
        sent = topics.produce([good[0], *hostile, good[1]], keys=[b"G-1"] * (len(hostile) + 2))
        dead = topics.read(topics.dead_letters, len(hostile))
        facts = topics.read(topics.facts, 2)
        alive = worker.poll() is None
    assert alive, f"the worker stopped; see {tmp_path / 'worker.log'}"
    assert [json.loads(f.value)["event_id"] for f in facts] == ["G-1-1", "G-1-2"]
    assert json.loads(facts[1].value)["status"] == "RESOLVED"
    assert [m.value for m in dead] == hostile  # the original bytes, in order
    headers = [dict(m.headers) for m in dead]
    assert [(int(h["dossierflow-source-partition"]), int(h["dossierflow-source-offset"]))
            for h in headers] == sent[1:-1]
    reasons = [h["dossierflow-reason"].decode() for h in headers]
    assert reasons[0] == "too deeply nested: 1001 levels, the limit is 32"
    assert reasons[1].startswith("invalid: `occurred_at` must be in the years 2000-2099, not 9999")
    assert reasons[2].startswith("invalid: `occurred_at` must be in the years 2000-2099, not 1 ")
    assert reasons[3].endswith("at `$.sequence`")
    assert reasons[4] == (
        "failed: ValueError: calendar: no working time within 3700 days of 2045-03-02"
    )


def test_produce_reports_and_skips_hostile_lines_and_publishes_the_rest(
    kafka_bootstrap: str, topic_factory: TopicFactory, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: the nested line aborted the file (exit 70, nothing after it published)."""
    topic = topic_factory(1)
    good = [event("G-1-1", "RECEIVED", "2026-03-02T08:00:00+07:00", **RECEIVED),
            event("G-1-2", "RESOLVED", "2026-03-03T10:00:00+07:00")]
    lines = [
        good[0],
        event("H-1", "RESUMED", "2026-03-02T09:00:00+07:00")[:-1] + b', "extra": ' + NESTED + b"}",
        NESTED,
        event("H-2", "RECEIVED", "9999-12-31T09:00:00+07:00", **RECEIVED),
        event("H-3", "RECEIVED", "0001-01-01T00:30:00+07:00", **RECEIVED),
        good[1],
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    code = main(["produce", str(path), "--bootstrap", kafka_bootstrap, "--topic", topic,
                 "--no-progress"])
    err = capsys.readouterr().err.splitlines()
    assert code == 3, err  # lines skipped
    assert err[:4] == [
        f"{path}:2: too deeply nested: 1001 levels, the limit is 32",
        f"{path}:3: too deeply nested: 1000 levels, the limit is 32",
        f"{path}:4: invalid: `occurred_at` must be in the years 2000-2099, not 9999"
        " - at `$.occurred_at`",
        f"{path}:5: invalid: `occurred_at` must be in the years 2000-2099, not 1"
        " - at `$.occurred_at`",
    ]
    assert err[4].startswith(f"produce: 2 events to {topic} (4 bad lines, 0 not delivered)")
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=3000)
    try:
        assert [record.value for record in consumer] == good
    finally:
        consumer.close()


def test_free_text_stays_out_of_the_changelog_and_outputs_but_not_of_dead_letters(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Before: the `reason` was in every changelog record of the dossier (and in RocksDB)."""
    free_text = "Ông Nguyễn Văn A, 0912 345 678"
    lines = [
        event("G-1-1", "RECEIVED", "2026-03-02T08:00:00+07:00", reason=free_text, **RECEIVED),
        event("G-1-2", "SUPPLEMENT_REQUESTED", "2026-03-02T09:00:00+07:00", reason=free_text),
        event("H-1", "RESUMED", "9999-03-02T09:00:00+07:00", reason=free_text),
    ]
    topics = WorkerTopics(kafka_bootstrap)
    changelog = f"{topics.app_id}-dossiers-changelog"
    with running_worker(topics, tmp_path):
        topics.produce(lines, keys=[b"G-1"] * len(lines))
        facts = topics.read(topics.facts, 2)
        dead = topics.read(topics.dead_letters, 1)
        records = topics.read(changelog, 2)  # the dossier's, its partition's progress
    assert len(facts) == 2
    assert [m.key for m in records if m.key == b"G-1"], "the dossier's record is not there"
    secret = free_text.encode()
    assert [m.value for m in dead] == [lines[2]] and secret in dead[0].value  # kept as is
    assert not [m for m in [*facts, *records] if m.value and secret in m.value]
    assert not [m for m in topics.read(topics.alerts, 1, timeout=3) if secret in m.value]


def test_a_dossier_the_rules_fail_on_at_a_catalogue_reload_does_not_stop_the_worker(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """U-1 (2045, procedure 9.999 unknown: no deadline) waits for the catalogue; the reloaded
    one knows 9.999 but has no working day after 2026, so its deadline cannot be computed.
    Before: the reload stopped the worker (exit 1), and so would every start after it."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("calendar: {overrides_file: default}\n")
    unknown = {"unit_code": "X-01", "procedure_code": "9.999", "channel": "ONLINE"}
    topics = WorkerTopics(kafka_bootstrap)
    with running_worker(topics, tmp_path, "--catalog", str(catalog)) as worker:
        topics.produce([event("U-1-1", "RECEIVED", "2045-03-02T09:00:00+07:00", dossier="U-1",
                              **unknown)])
        assert len(topics.read(topics.facts, 1)) == 1
        catalog.write_text(NO_WORKING_TIME_AFTER_2026 + (
            'procedures:\n  - {code: "9.999", name: Thủ tục mới, processing_time: '
            "{value: 1, unit: working_days}}\n"
        ))
        worker.send_signal(signal.SIGHUP)
        topics.produce([event("G-1-1", "RECEIVED", "2026-03-02T08:00:00+07:00", **RECEIVED)])
        facts = topics.read(topics.facts, 2)
        alive = worker.poll() is None
    assert alive, f"the worker stopped; see {tmp_path / 'worker.log'}"
    assert [json.loads(f.value)["event_id"] for f in facts] == ["U-1-1", "G-1-1"]
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "dossier U-1 left as it was: the rules failed at its catalog reload" in log
    assert "catalogue reloaded (1 procedures): 0 of 1 dossiers" in log
