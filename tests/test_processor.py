"""The worker's per-dossier step (streams/processor.py) without Kafka: what it publishes and
when it wants to be woken up."""

from __future__ import annotations

from datetime import datetime, timedelta

from dossierflow.rules.calendar import VIETNAM
from dossierflow.rules.catalog import load_catalog
from dossierflow.schemas.event import Channel, DossierEvent, EventType
from dossierflow.streams.processor import DossierProcessor

CATALOG = load_catalog()


def vn(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=VIETNAM)


def test_an_overdue_alert_of_a_closed_history_fires_when_event_time_reaches_it() -> None:
    # From examples/sample-events.jsonl (HS08-000005): received Thursday 19/3 16:04 after the
    # 15:00 cut-off of procedure 1.001193 (1 working day), so the clock starts Friday 07:30
    # and the deadline is Friday 20/3 17:00, overdue from Saturday 21/3 00:00; resolved on
    # Monday 23/3. Both events reach the worker while event time is still Friday 20/3.
    received = DossierEvent(
        schema_version=1, event_id="E0", dossier_id="HS08-000005", type=EventType.RECEIVED,
        occurred_at=vn(19, 16, 4), unit_code="S-XD", procedure_code="1.001193",
        channel=Channel.POSTAL,
    )
    resolved = DossierEvent(
        schema_version=1, event_id="E1", dossier_id="HS08-000005", type=EventType.RESOLVED,
        occurred_at=vn(23, 8, 51),
    )
    processor = DossierProcessor(CATALOG)
    watermark = vn(20, 12)
    first = processor.on_event(None, received, 0, watermark)
    assert first.record is not None
    second = processor.on_event(first.record, resolved, 0, watermark)
    assert second.alerts == []  # not yet: event time is before the overdue instant
    record = second.record
    assert record is not None
    assert record.next_timer_at == vn(21)  # not the closed dossier's expiry, 30 days on
    woken = processor.on_timer(record, vn(23, 9))
    assert [(a.kind, a.at) for a in woken.alerts] == [("OVERDUE", vn(21))]
    assert woken.record is not None
    assert woken.record.next_timer_at == vn(23, 8, 51) + timedelta(days=30)
