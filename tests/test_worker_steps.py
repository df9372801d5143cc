"""Step alerts through the real broker: the worker's timers fire them with no code of their own.

The hand-worked dossier D1 of tests/test_steps.py up to the start of its step 2 (Mon 2/3/2026
16:00, allotted until Tue 16:00); B's receipt on Thu 5/3 07:00 moves the event-time clock
past step 2's at-risk moment (Tue 10:30), the end of its allotted time (Tue 16:00) and D1's
own AT_RISK (Wed 08:00), and before D1's OVERDUE (Fri 6/3 00:00).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from dossierflow.rules.calendar import VIETNAM
from dossierflow.schemas.event import Channel, DossierEvent, EventType, encode_event
from tests.test_steps import CATALOG_YAML, HISTORY
from tests.worker_process import WorkerTopics, running_worker

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]


def test_event_time_worker_fires_step_alerts_to_the_steps_department(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_bytes(CATALOG_YAML)
    clock_mover = DossierEvent(
        schema_version=1, event_id="B-1", dossier_id="B", type=EventType.RECEIVED,
        occurred_at=datetime(2026, 3, 5, 7, tzinfo=VIETNAM), unit_code="X-01",
        procedure_code="P3", channel=Channel.ONLINE,
    )
    topics = WorkerTopics(kafka_bootstrap)
    topics.create()
    topics.produce([encode_event(e) for e in [*HISTORY[:4], clock_mover]])
    with running_worker(topics, tmp_path, "--event-time", "--catalog", str(catalog)):
        first = [json.loads(m.value) for m in topics.read(topics.alerts, 4, timeout=90)]
        alerts = [json.loads(m.value) for m in topics.read(topics.alerts, 5, timeout=5)]
    assert alerts == first
    assert sorted((a["kind"], a["at"], a["step_id"], a["step_unit_code"]) for a in alerts) == [
        ("AT_RISK", "2026-03-04T08:00:00+07:00", None, None),
        ("STEP_AT_RISK", "2026-03-02T11:00:00+07:00", "1", "PB-A"),
        ("STEP_AT_RISK", "2026-03-03T10:30:00+07:00", "2", "PB-B"),
        ("STEP_OVERDUE", "2026-03-03T16:00:00+07:00", "2", "PB-B"),
    ]
    overdue = next(a for a in alerts if a["kind"] == "STEP_OVERDUE")
    assert overdue["recipients"] == [{"role": "step_unit_head", "unit_code": "PB-B"}]
    assert overdue["deadline"] == "2026-03-03T16:00:00+07:00"
    assert "Công chức địa chính" in overdue["text_vi"]
