"""The Faust worker against the real Apache Kafka broker of the test session."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from dossierflow.replay import read_events, replay, summary
from dossierflow.rules.catalog import load_catalog
from dossierflow.simulate import generate_lines
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


def _replay_alert_ids(path: Path) -> set[str]:
    """What `dossierflow replay` of the file fires, as of its largest `occurred_at`."""
    events = read_events(path, lambda *_: None)
    assert events.latest is not None
    return {
        alert.alert_id
        for evaluation in replay(events, load_catalog(), events.latest)
        for alert in evaluation.alerts
    }


def _events_offsets(topics: WorkerTopics) -> tuple[dict[int, int], dict[int, int]]:
    """The worker group's committed offsets and the end offsets of the events topic, by
    partition."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=topics.bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=topics.bootstrap)
    try:
        group = admin.list_group_offsets({topics.app_id: None})[topics.app_id]
        committed = {
            tp.partition: meta.offset for tp, meta in group.items() if tp.topic == topics.events
        }
        partitions = sorted(consumer.partitions_for_topic(topics.events) or ())
        ends = consumer.end_offsets([TopicPartition(topics.events, p) for p in partitions])
    finally:
        consumer.close()
        admin.close()
    return committed, {tp.partition: offset for tp, offset in ends.items() if offset > 0}


def _all_alerts(topics: WorkerTopics, expected: int, timeout: float = 60) -> list[dict[str, Any]]:
    """The alerts published once `expected` have arrived and nothing more came for 2 s."""
    _alerts(topics.read(topics.alerts, expected, timeout=timeout))
    time.sleep(2)
    return _alerts(topics.read(topics.alerts, expected + 1, timeout=3))


def test_event_time_replay_through_kafka_gives_the_alerts_of_dossierflow_replay(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics = WorkerTopics(kafka_bootstrap)
    expected = _expected_replay_alerts(EXAMPLES)
    assert len(expected) == 8  # EX-01 1, EX-03 2, EX-05 1, EX-06 4 at the largest occurred_at
    topics.create()
    topics.produce(_in_time_order(EXAMPLES))  # history already in Kafka, as in a backfill
    with running_worker(topics, tmp_path, "--event-time"):
        alerts = _all_alerts(topics, len(expected))
    got = {(a["dossier_id"], a["kind"], a["at"]) for a in alerts}
    assert got == expected
    assert len({a["alert_id"] for a in alerts}) == len(alerts), "an alert was published twice"
    overdue = next(a for a in alerts if a["dossier_id"] == "EX-06" and a["kind"] == "OVERDUE")
    assert overdue["apology_issued"] is True
    assert "quá hạn" in overdue["text_vi"] and "overdue" in overdue["text_en"]
    roles = {r["role"] for r in overdue["recipients"]}
    assert roles == {"handling_unit_head", "receiving_unit_head"}


def test_event_time_worker_publishes_every_alert_of_replay_even_of_dossiers_closed_soon_after(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Issue 9, defect 1: a dossier closed by a batch while the watermark was still before
    one of its alert instants lost that alert. Generated histories in time order (no late
    events, some duplicates) over 3 partitions; the expected ids are `replay`'s."""
    lines = sorted(
        generate_lines(5000, seed=9),
        key=lambda line: datetime.fromisoformat(json.loads(line)["occurred_at"]),
    )
    history = tmp_path / "history.jsonl"
    history.write_bytes(b"".join(lines))
    expected = _replay_alert_ids(history)
    assert len(expected) > 500
    topics = WorkerTopics(kafka_bootstrap)
    topics.create()
    topics.produce([line.rstrip(b"\n") for line in lines])
    with running_worker(topics, tmp_path, "--event-time"):
        alerts = _all_alerts(topics, len(expected), timeout=180)
    published = {a["alert_id"] for a in alerts}
    assert not expected - published, f"{len(expected - published)} alerts never published"
    assert published == expected


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


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_restart_mid_stream_loses_nothing_and_alerts_once(
    kafka_bootstrap: str, tmp_path: Path, store: str
) -> None:
    """Memory: the table comes back from the changelog alone; RocksDB: from its files plus
    the changelog after the offsets the worker recorded there.

    Issue 9, defect 2: now and then EX-05's AT_RISK came at 2026-03-06 08:00, planned before
    its pause, instead of 2026-03-09: after the restart Faust never delivered the first
    message of a partition (offset 5, the pause), and the gap check, which took the first
    message that arrived for the start, let the later events through without it. A worker
    that finds such a gap stops itself (exit 1); the test restarts it, as its supervisor
    would."""
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
    # and hold the watermark back no longer (docs/domain.md's rule), so alerts could come early.
    topics.produce(lines[12:])
    worker = start_worker(topics, tmp_path, "--event-time", "--store", store)
    stopped_itself = 0
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            if len(topics.read(topics.alerts, len(expected), timeout=5)) >= len(expected):
                break
            if worker.poll() == 1:
                stopped_itself += 1
                assert stopped_itself <= 3, f"the worker keeps stopping; see {tmp_path}"
                worker = start_worker(topics, tmp_path, "--event-time", "--store", store)
        alerts = _all_alerts(topics, len(expected))
    finally:
        stop_worker(worker, signal.SIGTERM)
    assert {(a["dossier_id"], a["kind"], a["at"]) for a in alerts} == expected
    assert len(alerts) == len(expected), "an alert was published twice"
    committed, ends = _events_offsets(topics)
    assert committed == ends, "not every event was committed"
    if stopped_itself:
        print(f"the worker stopped itself {stopped_itself} time(s) on a gap of offsets")


def _changelog_tombstone(topics: WorkerTopics, key: bytes, timeout: float = 60) -> bool:
    """Whether the worker deleted `key` from its table (a tombstone in the changelog)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        changelog = topics.read(f"{topics.app_id}-dossiers-changelog", 1_000, timeout=2)
        if any(m.key == key and m.value is None for m in changelog):
            return True
    return False


def _all_committed(topics: WorkerTopics, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        committed, ends = _events_offsets(topics)
        if committed == ends:
            return True
        time.sleep(0.5)
    return False


def _watermark_gauge(port: int, reaching: float, timeout: float = 60) -> float:
    """The worker's event-time watermark gauge once it reaches `reaching`, or as it is
    after `timeout` seconds (0.0: never set)."""
    value = 0.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and value < reaching:
        time.sleep(0.5)
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        except OSError:  # not serving yet
            continue
        for line in text.splitlines():
            if line.startswith("dossierflow_event_time_watermark_seconds "):
                value = float(line.split()[1])
    return value


def test_after_a_restart_the_clock_counts_the_events_of_a_dossier_that_left_the_table(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """One partition: OPEN-1 received at 08:00, then SHORT-1 received at 09:00 and resolved
    at 10:00. With no retention SHORT-1 leaves the table once resolved; every event is
    committed and the worker restarts. The partition has nothing new, so it counts as read
    up to the largest `occurred_at` applied from it: 10:00, not OPEN-1's 08:00 (the latest
    of the records restored), which would leave the clock two hours behind the events read
    before the restart."""
    received = datetime(2026, 3, 2, 8, 0, tzinfo=timezone(timedelta(hours=7)))
    resolved = received + timedelta(hours=2)
    lines = [
        _received("OPEN-1", received, 100),
        _received("SHORT-1", received + timedelta(hours=1), 8),
        json.dumps({"schema_version": 1, "event_id": "SHORT-1-2", "dossier_id": "SHORT-1",
                    "type": "RESOLVED", "occurred_at": resolved.isoformat()}).encode(),
    ]
    topics = WorkerTopics(kafka_bootstrap, partitions=1)
    # Read to its end, the partition holds the clock back by the out-of-orderness bound
    # until it has been idle for a second.
    env = {"DOSSIERFLOW_CLOSED_RETENTION_DAYS": "0", "DOSSIERFLOW_IDLE_PARTITION_SECONDS": "1"}
    with running_worker(topics, tmp_path, "--event-time", env=env):
        topics.produce(lines)
        assert _changelog_tombstone(topics, b"SHORT-1"), "SHORT-1 never left the table"
        assert _all_committed(topics), "not every event was committed"
    port = free_port()
    with running_worker(topics, tmp_path, "--event-time", env=env, metrics_port=port):
        watermark = _watermark_gauge(port, reaching=resolved.timestamp())
    assert datetime.fromtimestamp(watermark, UTC) == resolved


def _late_pause_history() -> list[bytes]:
    """One partition: dossier LATE-1 received Mon 2026-03-02 08:00 (5 working days: due Mon
    03-09 08:00, AT_RISK Fri 03-06 08:00, docs/domain.md's pause example), 1,500 one-day
    dossiers received from Fri 03-06 10:00 on (no alert of theirs is due by the end), and
    among them LATE-1's pause of Tue 03-03 09:00, arriving 3 days late."""
    def event(dossier_id: str, number: int, kind: str, at: datetime, **extra: Any) -> bytes:
        return json.dumps({
            "schema_version": 1, "event_id": f"{dossier_id}-{number}", "dossier_id": dossier_id,
            "type": kind, "occurred_at": at.isoformat(), **extra,
        }).encode()

    vn = timezone(timedelta(hours=7))
    received = {"unit_code": "X-01", "procedure_code": "1.000894", "channel": "ONLINE"}
    one_day = {"value": 1, "unit": "working_days"}  # the sample's is same-day: at risk at 15:00
    late_one = [event(
        "LATE-1", 0, "RECEIVED", datetime(2026, 3, 2, 8, tzinfo=vn), **received,
        processing_time={"value": 5, "unit": "working_days"},
    )]
    others = [
        event(f"ON-TIME-{n}", 0, "RECEIVED", datetime(2026, 3, 6, 10, tzinfo=vn)
              + timedelta(seconds=n), **received, processing_time=one_day)
        for n in range(1500)
    ]
    pause = event("LATE-1", 1, "SUPPLEMENT_REQUESTED", datetime(2026, 3, 3, 9, tzinfo=vn))
    return late_one + others[:500] + [pause] + others[500:]


def _metrics_when(port: int, wanted: str, timeout: float = 60) -> str:
    text = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and wanted not in text:
        time.sleep(0.5)
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    return text


@pytest.mark.parametrize(
    ("bound", "contradicted"), [("P1D", 0), ("0", 1)], ids=["within-the-bound", "no-bound"]
)
def test_a_late_event_within_the_out_of_orderness_bound_contradicts_no_published_alert(
    kafka_bootstrap: str, tmp_path: Path, bound: str, contradicted: int
) -> None:
    """Issue 9, defect 4. LATE-1's pause arrives after 500 ON-TIME dossiers of Fri 10:00 on.
    With a day's bound the clock stays a day behind them while the partition has more to
    read, so LATE-1's AT_RISK (Fri 08:00) is not due before its pause is read, however the
    worker's batches and timer interleave: it publishes what `replay` fires (nothing). With
    no bound the clock passes Fri 08:00 as soon as they are read and the AT_RISK goes out (the
    test sends the rest only once it has); the pause, read then, is a late event, and the
    metrics count it and the alert it contradicts."""
    lines = _late_pause_history()
    history = tmp_path / "history.jsonl"
    history.write_bytes(b"\n".join(lines))
    assert _replay_alert_ids(history) == set()
    # One partition only: an empty one would hold the clock for idle_partition_seconds
    # (its end may be stale), and every event would be read before it lets go.
    topics = WorkerTopics(kafka_bootstrap, partitions=1)
    topics.create()
    pause_at = next(i for i, line in enumerate(lines) if b"SUPPLEMENT_REQUESTED" in line)
    first = lines if not contradicted else lines[:pause_at]
    topics.produce(first)
    port = free_port()
    env = {"DOSSIERFLOW_OUT_OF_ORDERNESS": bound, "DOSSIERFLOW_BATCH_SIZE": "10"}
    with running_worker(topics, tmp_path, "--event-time", env=env, metrics_port=port):
        if contradicted:
            assert _alerts(topics.read(topics.alerts, 1, timeout=120))[0]["kind"] == "AT_RISK"
            topics.produce(lines[pause_at:])
        topics.read(topics.facts, len(lines), timeout=120)
        text = _metrics_when(port, "dossierflow_late_events_total 1.0")
        alerts = _alerts(topics.read(topics.alerts, 1, timeout=3))
    assert "dossierflow_late_events_total 1.0" in text
    counted = [line for line in text.splitlines()
               if line.startswith("dossierflow_alerts_contradicted_total{")]
    assert counted == (['dossierflow_alerts_contradicted_total{kind="AT_RISK"} 1.0']
                       if contradicted else [])
    assert [a["kind"] for a in alerts] == ["AT_RISK"] * contradicted


def test_a_dossier_of_an_unknown_procedure_alerts_once_a_reloaded_catalogue_knows_it(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Issue 8: RECEIVED for procedure 9.999, which the catalogue lacks, gives no deadline
    and no alert, said once in the log and in a metric; the operator adds the procedure
    (5 working days) and sends SIGHUP: the dossier is re-evaluated. From Mon 2026-03-02
    08:00: due Mon 03-09 08:00 (docs/domain.md, Pauses), AT_RISK Fri 03-06 08:00, OVERDUE at
    00:00 on Tue 03-10; the clock is 03-10 09:00, another dossier's RECEIVED."""
    sample = (resources.files("dossierflow") / "data" / "catalog.yaml").read_text()
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(sample)
    vn = timezone(timedelta(hours=7))
    unknown = json.loads(_received("U-1", datetime(2026, 3, 2, 8, tzinfo=vn), 1))
    del unknown["processing_time"]
    unknown["procedure_code"] = "9.999"
    known = json.loads(_received("K-1", datetime(2026, 3, 10, 9, tzinfo=vn), 1))
    del known["processing_time"]
    topics = WorkerTopics(kafka_bootstrap)
    topics.create()
    topics.produce([json.dumps(unknown).encode(), json.dumps(known).encode()])
    port = free_port()
    extra = ("--event-time", "--catalog", str(catalog))
    with running_worker(topics, tmp_path, *extra, metrics_port=port) as worker:
        before = [json.loads(m.value) for m in topics.read(topics.facts, 2)]
        text = _metrics_when(port, "dossierflow_unknown_procedure_dossiers_total 1.0")
        assert topics.read(topics.alerts, 1, timeout=3) == []
        catalog.write_text(sample.replace("procedures:\n", (
            "procedures:\n"
            '  - {code: "9.999", name: Thủ tục mới, processing_time: {value: 5, unit: '
            "working_days}}\n"
        ), 1))
        worker.send_signal(signal.SIGHUP)
        alerts = _all_alerts(topics, 2)
        after = [json.loads(m.value) for m in topics.read(topics.facts, 3)]
    assert "dossierflow_unknown_procedure_dossiers_total 1.0" in text
    assert [f["due_at"] for f in before if f["dossier_id"] == "U-1"] == [None]
    assert [(a["dossier_id"], a["kind"], datetime.fromisoformat(a["at"])) for a in alerts] == [
        ("U-1", "AT_RISK", datetime(2026, 3, 6, 8, tzinfo=vn)),
        ("U-1", "OVERDUE", datetime(2026, 3, 10, tzinfo=vn)),
    ]
    reissued = [f for f in after if f["dossier_id"] == "U-1"][-1]
    assert datetime.fromisoformat(reissued["due_at"]) == datetime(2026, 3, 9, 8, tzinfo=vn)
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert log.count("dossier U-1: procedure '9.999' is not in the catalogue") == 1
    assert "catalogue reloaded" in log


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


def _limit_messages(topics: WorkerTopics, topic: str, max_bytes: int) -> None:
    """Create `topic` (one partition) taking messages of at most `max_bytes`."""
    from dossierflow.kafka.topics import TopicSpec, ensure_topics

    limit = (("max.message.bytes", str(max_bytes)),)
    ensure_topics(topics.bootstrap, [TopicSpec(topic, 1, configs=limit)])


def _raise_message_limit(topics: WorkerTopics, topic: str) -> None:
    """What an operator does about `_limit_messages`: Kafka's default limit (1 MiB)."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=topics.bootstrap)
    try:
        admin.alter_configs([ConfigResource(
            ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": "1048588"},
        )])
    finally:
        admin.close()


def _stops_itself(
    topics: WorkerTopics, tmp: Path, why: str, env: dict[str, str] | None = None
) -> None:
    """A worker started on `topics` stops itself (exit code 1) saying `why`, the broker
    having refused a message as too large."""
    worker = start_worker(topics, tmp, "--event-time", env=env)
    try:
        assert worker.wait(timeout=120) == 1
    finally:
        stop_worker(worker)
    log = (tmp / "worker.log").read_text(errors="replace")
    assert f"stopping the worker: {why}" in log
    assert "MessageSizeTooLargeError" in log


def test_outputs_kafka_refuses_stop_the_worker_and_nothing_past_them_is_committed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """The dead-letter topic takes messages of at most 10,000 bytes, so the 70 kB event the
    worker refuses as oversized cannot be dead-lettered: the worker stops (exit code 1)
    rather than acknowledge it, and its group's committed offset stays before it. Once an
    operator raises the topic's limit, a restarted worker dead-letters it and goes on."""
    topics = WorkerTopics(kafka_bootstrap)
    _limit_messages(topics, topics.dead_letters, 10_000)
    topics.create()
    valid = _in_time_order(EXAMPLES)
    oversized = b'{"pad": "' + b"x" * 70_000 + b'"}'
    lines = [*valid[:5], oversized, *valid[5:]]
    topics.produce(lines, [b"k"] * len(lines))  # one partition, in this order

    _stops_itself(topics, tmp_path, "a batch could not be applied")
    committed, ends = _events_offsets(topics)
    assert list(ends.values()) == [len(lines)]
    (partition,) = ends
    # Nothing committed (the failed batch began at 0) or at most up to the refused event.
    assert committed.get(partition, 0) <= 5, committed
    _raise_message_limit(topics, topics.dead_letters)

    with running_worker(topics, tmp_path, "--event-time"):
        dead = topics.read(topics.dead_letters, 1)
        unique = {json.loads(line)["event_id"] for line in valid}
        facts = topics.read(topics.facts, len(unique), timeout=90)
    # At least once: a rebalance while the old member's session expires may send it twice.
    assert {m.value for m in dead} == {oversized}
    assert {json.loads(f.value)["event_id"] for f in facts} >= unique
    committed, ends = _events_offsets(topics)
    assert committed == ends, "not every event was committed after the restart"


def test_a_timer_scan_kafka_refuses_stops_the_worker_and_nothing_past_it_is_committed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A's AT_RISK and OVERDUE fall due on the timer once B's receipt moves the event-time
    clock past them (the batches cause no alert). The alerts topic takes messages of at most
    200 bytes, so the scan cannot deliver them: the worker stops itself at once (exit code
    1, its own sentence), as for a failed batch, rather than leave the scan's exception to
    Faust's crash path (which ends the process too, in this Faust, but through the agent's
    cancellation and the consumer's last commit). 2,000 receipts after B, in batches of 10,
    are still to be read when it stops: none is committed without its fact. Once an
    operator raises the limit, a restarted worker rebuilds A's timers from its table and
    sends both alerts and every event's fact."""
    topics = WorkerTopics(kafka_bootstrap, partitions=1)
    _limit_messages(topics, topics.alerts, 200)
    topics.create()
    vn = timezone(timedelta(hours=7))
    b_at = datetime(2026, 5, 7, 8, tzinfo=vn)
    later = [_received(f"C{n}", b_at + timedelta(seconds=n + 1), 80) for n in range(2000)]
    lines = [_received("A", datetime(2026, 4, 24, 9, tzinfo=vn), 24), _received("B", b_at, 8),
             *later]
    topics.produce(lines)
    event_ids = [json.loads(line)["event_id"] for line in lines]
    small_batches = {"DOSSIERFLOW_BATCH_SIZE": "10"}

    _stops_itself(topics, tmp_path, "a timer scan could not be delivered", small_batches)
    committed = _events_offsets(topics)[0].get(0, 0)
    assert committed < len(lines), "every event committed: the scan did not fail before"
    facts = topics.read(topics.facts, committed)
    # At least once: each event up to the committed offset has caused its fact.
    assert set(event_ids[:committed]) <= {json.loads(f.value)["event_id"] for f in facts}
    _raise_message_limit(topics, topics.alerts)

    with running_worker(topics, tmp_path, "--event-time", env=small_batches):
        alerts = _all_alerts(topics, 2)
        facts = topics.read(topics.facts, len(lines), timeout=120)
    assert sorted((a["dossier_id"], a["kind"]) for a in alerts) == [
        ("A", "AT_RISK"), ("A", "OVERDUE"),
    ]
    assert {json.loads(f.value)["event_id"] for f in facts} >= set(event_ids)


def test_event_time_worker_fires_apology_due_on_its_timer(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """With `compliance.apology_due_alert` on, APOLOGY_DUE is one more timer of the dossier:
    A (3 working days from Fri 24/4/2026 09:00, across the 27/4, 30/4 and 1/5 days off) is due
    Mon 4/5 09:00, so APOLOGY_DUE at the opening of Wed 29/4, AT_RISK Wed 29/4 09:00 and
    OVERDUE Tue 5/5 00:00, all fired by the clock that B's receipt on Thu 7/5 moves, with no
    event of A's. B itself was received on its own last day to apologise: none for it."""
    sample = resources.files("dossierflow").joinpath("data/catalog.yaml").read_text("utf-8")
    assert "  apology_due_alert: false\n" in sample
    catalog = tmp_path / "catalog.yaml"
    on = sample.replace("  apology_due_alert: false\n", "  apology_due_alert: true\n")
    catalog.write_text(on)
    vn = timezone(timedelta(hours=7))
    a = json.loads(_received("A", datetime(2026, 4, 24, 9, tzinfo=vn), 24))
    a["processing_time"] = {"value": 3, "unit": "working_days"}
    b = _received("B", datetime(2026, 5, 7, 8, tzinfo=vn), 8)
    topics = WorkerTopics(kafka_bootstrap)
    topics.create()
    topics.produce([json.dumps(a).encode(), b])
    with running_worker(topics, tmp_path, "--event-time", "--catalog", str(catalog)):
        alerts = _all_alerts(topics, 3)
    assert sorted((x["dossier_id"], x["kind"], x["at"]) for x in alerts) == [
        ("A", "APOLOGY_DUE", "2026-04-29T07:30:00+07:00"),
        ("A", "AT_RISK", "2026-04-29T09:00:00+07:00"),
        ("A", "OVERDUE", "2026-05-05T00:00:00+07:00"),
    ]
    (due,) = [x for x in alerts if x["kind"] == "APOLOGY_DUE"]
    assert due["recipients"] == [{"role": "handling_unit_head", "unit_code": "X-01"}]
    assert "29/04/2026" in due["text_vi"] and due["deadline"] == "2026-05-04T09:00:00+07:00"
