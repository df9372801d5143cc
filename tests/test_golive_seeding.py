"""The records `dossierflow golive` seeds the worker with (src/dossierflow/golive.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dossierflow.golive import Seeding
from dossierflow.rules.catalog import load_catalog
from dossierflow.rules.evaluation import evaluate
from dossierflow.schemas.event import decode_event
from dossierflow.streams.processor import DossierProcessor
from dossierflow.streams.state import decode_progress, decode_record, progress_partition

VN = timezone(timedelta(hours=7))


def _received(dossier_id: str, at: datetime) -> bytes:
    return (
        f'{{"schema_version": 1, "event_id": "{dossier_id}-1", "dossier_id": "{dossier_id}", '
        f'"type": "RECEIVED", "occurred_at": "{at.isoformat()}", "unit_code": "X-01", '
        '"procedure_code": "1.000894", "channel": "ONLINE", '
        '"processing_time": {"value": 5, "unit": "working_days"}}'
    ).encode()


def test_a_seeded_record_marks_the_alerts_due_by_the_cut_over_and_times_the_next() -> None:
    """Received Mon 2026-03-02 08:00, 5 working days: AT_RISK Fri 03-06 08:00, due Mon 03-09
    08:00. Cut over on Sat 03-07: AT_RISK is due (marked as sent), OVERDUE is the timer."""
    catalog = load_catalog()
    cut_over = datetime(2026, 3, 7, 12, tzinfo=VN)
    event = decode_event(_received("A", datetime(2026, 3, 2, 8, tzinfo=VN)))
    evaluation = evaluate("A", [event], catalog, cut_over)
    seeding = Seeding(DossierProcessor(catalog), cut_over, partitions=3)
    assert list(seeding.passing([evaluation])) == [evaluation]
    [(key, value, partition)] = seeding.records
    record = decode_record(value)
    assert key == b"A" and record.partition == partition
    assert record.open and record.history == [event]
    assert record.emitted == [a.alert_id for a in evaluation.alerts]
    assert [a.kind.value for a in evaluation.alerts] == ["AT_RISK"]
    assert record.next_timer_at == evaluation.next_alert_at is not None
    assert seeding.alerts_marked == 1
    progress = seeding.progress()
    assert [progress_partition(k) for k, _, _ in progress] == [0, 1, 2]
    assert {decode_progress(v).latest_occurred_at for _, v, _ in progress} == {cut_over}


def test_a_closed_dossier_owing_nothing_is_not_seeded() -> None:
    catalog = load_catalog()
    received = decode_event(_received("B", datetime(2026, 3, 2, 8, tzinfo=VN)))
    resolved = decode_event(
        b'{"schema_version": 1, "event_id": "B-2", "dossier_id": "B", "type": "RESOLVED", '
        b'"occurred_at": "2026-03-03T08:00:00+07:00"}'
    )
    cut_over = datetime(2026, 3, 20, tzinfo=VN)
    seeding = Seeding(DossierProcessor(catalog), cut_over, partitions=1)
    list(seeding.passing([evaluate("B", [received, resolved], catalog, cut_over)]))
    assert seeding.records == [] and seeding.dossiers == 0


def test_a_kafka_that_cannot_be_reached_is_said_with_what_to_do() -> None:
    """The store is already written when the changelog is seeded: the sentence says so and
    how to go on, instead of "unexpected … (a bug)"."""
    from dossierflow.errors import DossierflowError
    from dossierflow.golive import ChangelogRefused, write_changelog
    from dossierflow.kafka.local_broker import free_port

    bootstrap = f"127.0.0.1:{free_port()}"
    with pytest.raises(ChangelogRefused) as refused:
        write_changelog(bootstrap, {}, "t-changelog",
                        [(b"k", b"v", 0)], lambda n: None)
    assert isinstance(refused.value, DossierflowError)
    assert f"Kafka at {bootstrap} failed after 0 records" in str(refused.value)
    assert "go live again under a new --app-id" in str(refused.value)
