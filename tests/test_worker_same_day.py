"""A worker whose catalogue has same-day procedures, against the real Kafka broker."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import FIXTURES
from tests.worker_process import WorkerTopics, running_worker

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]
VN = timezone(timedelta(hours=7))


def _received(dossier_id: str, at: datetime, procedure: str) -> bytes:
    return json.dumps({
        "schema_version": 1, "event_id": f"{dossier_id}-1", "dossier_id": dossier_id,
        "type": "RECEIVED", "occurred_at": at.isoformat(), "unit_code": "X-01",
        "procedure_code": procedure, "channel": "IN_PERSON",
    }).encode()


def _alerts(topics: WorkerTopics, expected: int) -> list[dict[str, Any]]:
    """The alerts published once `expected` have arrived and nothing more came for 2 s."""
    topics.read(topics.alerts, expected, timeout=60)
    time.sleep(2)
    return [json.loads(m.value) for m in topics.read(topics.alerts, expected + 1, timeout=3)]


def test_event_time_worker_raises_same_day_overdue_at_midnight_after_the_next_working_day(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A (certification, Fri 6/3/2026 15:30, after the 15:00 cut-off) is due Mon 9/3 17:00:
    OVERDUE at 00:00 on Tue 10/3, no AT_RISK (the 8-hour lead is the whole day). C (birth
    registration with a 2-hour lead, Mon 9/3 08:00) is due Mon 9/3 17:00: AT_RISK at 15:00,
    OVERDUE at 00:00 on Tue 10/3. B's receipt on Wed 11/3 09:00 moves the clock past both
    (less the day of out-of-orderness); B, due Wed 17:00, has nothing yet."""
    topics = WorkerTopics(kafka_bootstrap)
    topics.create()
    topics.produce([
        _received("A", datetime(2026, 3, 6, 15, 30, tzinfo=VN), "SD-CT"),
        _received("C", datetime(2026, 3, 9, 8, tzinfo=VN), "SD-KS"),
        _received("B", datetime(2026, 3, 11, 9, tzinfo=VN), "SD-CT"),
    ])
    catalog = FIXTURES / "catalog-same-day.yaml"
    with running_worker(topics, tmp_path, "--event-time", "--catalog", str(catalog)):
        alerts = _alerts(topics, 3)
        facts = [json.loads(m.value) for m in topics.read(topics.facts, 3)]
    assert sorted((a["dossier_id"], a["kind"], a["at"], a["deadline"]) for a in alerts) == [
        ("A", "OVERDUE", "2026-03-10T00:00:00+07:00", "2026-03-09T17:00:00+07:00"),
        ("C", "AT_RISK", "2026-03-09T15:00:00+07:00", "2026-03-09T17:00:00+07:00"),
        ("C", "OVERDUE", "2026-03-10T00:00:00+07:00", "2026-03-09T17:00:00+07:00"),
    ]
    due = {f["dossier_id"]: datetime.fromisoformat(f["due_at"]) for f in facts}
    assert due["B"] == datetime(2026, 3, 11, 17, tzinfo=VN)
