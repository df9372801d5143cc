"""The intake's memory kept on disk (src/dossierflow/intake/memory_file.py): an apology is
told from the slip's appointment across two `intake FILE` runs, as within one; the memory
file's own behaviour. The restart of a real `intake serve` is in tests/test_intake_serve.py."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from dossierflow.cli import main
from dossierflow.intake.memory_file import IntakeMemoryError, MemoryFile
from dossierflow.intake.translate import DossierMemory
from dossierflow.schemas.event import DossierEvent, decode_event
from tests.intake_samples import record, records_body, step_body

RECEIVED = datetime(2026, 3, 2, 8, 0)
SLIP = datetime(2026, 3, 9, 8, 0)
"""Dossier H1's receipt: received Mon 02/03 08:00, appointment Mon 09/03 08:00."""
STEP = datetime(2026, 3, 5, 15, 0)
"""The step reported at the end of the first day's export (Thu 05/03 15:00)."""
APOLOGY = datetime(2026, 3, 12, 8, 0)
"""The new appointment the apology letter gave (Thu 12/03 08:00): no supplement explains it."""


def write(path: Path, *bodies: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(b, ensure_ascii=False) + "\n" for b in bodies))
    return path


def run(tmp: Path, name: str, bodies: Path, *memory: str) -> list[DossierEvent]:
    out = tmp / f"{name}-events.jsonl"
    assert main(["intake", str(bodies), "--out", str(out), *memory]) == 0
    return [decode_event(line) for line in out.read_bytes().splitlines()]


def days(tmp: Path) -> tuple[Path, Path]:
    first = write(tmp / "day1.jsonl", records_body(record("H1", 2, RECEIVED, SLIP)),
                  step_body("H1", STEP))
    second = write(tmp / "day2.jsonl", records_body(record("H1", 2, RECEIVED, APOLOGY)))
    return first, second


def apologies(events: list[DossierEvent]) -> list[tuple[str, str]]:
    return [(e.occurred_at.isoformat(), e.new_due_at.isoformat()) for e in events
            if e.type == "APOLOGY_ISSUED" and e.new_due_at is not None]


def test_an_apology_is_told_across_two_days_files_with_the_memory(tmp_path: Path) -> None:
    """Day 1: the dossier with its slip's appointment and a step; day 2: the record with a
    new appointment. With --memory the second run sees the apology, dated at day 1's step,
    exactly as one run over both files does; without it, it cannot tell the new appointment
    from the slip's."""
    first, second = days(tmp_path)
    memory = ("--memory", str(tmp_path / "memory.sqlite3"))
    run(tmp_path, "day1", first, *memory)
    day2 = run(tmp_path, "day2", second, *memory)
    assert apologies(day2) == [("2026-03-05T15:00:00+07:00", "2026-03-12T08:00:00+07:00")]
    received = [e for e in day2 if e.type == "RECEIVED"]
    assert [e.due_at.isoformat() for e in received if e.due_at] == ["2026-03-09T08:00:00+07:00"]
    both = run(tmp_path, "both", write(tmp_path / "both.jsonl", *(
        json.loads(line) for f in (first, second) for line in f.read_text().splitlines())))
    assert {e.event_id: e for e in day2}.items() <= {e.event_id: e for e in both}.items()
    assert apologies(run(tmp_path, "forgetful", second)) == []


def test_a_day_run_again_and_a_full_resync_give_the_same_event_ids(tmp_path: Path) -> None:
    """Day 2 read again with the same memory, then a full re-sync of the dossier (its
    record sent with isUpdating False): the same events, the apology's id included."""
    first, second = days(tmp_path)
    memory = ("--memory", str(tmp_path / "memory.sqlite3"))
    run(tmp_path, "day1", first, *memory)
    day2 = run(tmp_path, "day2", second, *memory)
    again = run(tmp_path, "again", second, *memory)
    resync = {**records_body(record("H1", 2, RECEIVED, APOLOGY)), "isUpdating": "False"}
    full = run(tmp_path, "resync", write(tmp_path / "resync.jsonl", resync), *memory)
    ids = sorted(e.event_id for e in day2)
    assert sorted(e.event_id for e in again) == ids == sorted(e.event_id for e in full)
    assert len(apologies(full)) == 1


def test_the_memory_file_keeps_what_was_committed_only(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    kept = DossierMemory(datetime.fromisoformat("2026-03-09T08:00:00+07:00"), 2,
                         datetime.fromisoformat("2026-03-05T15:00:00+07:00"))
    memory = MemoryFile(path)
    memory.save({"H1": kept})
    memory.commit()
    memory.save({"H2": DossierMemory(last_code=1)})
    memory.close()  # H2 was staged, never committed
    reopened = MemoryFile(path)
    try:
        assert reopened.memory == {"H1": kept}
    finally:
        reopened.close()


def test_a_second_intake_on_the_same_memory_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    held = MemoryFile(path)
    try:
        with pytest.raises(IntakeMemoryError, match="another intake holds it"):
            MemoryFile(path)
    finally:
        held.close()


def test_a_memory_file_of_another_format_is_refused_with_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 7")
    with pytest.raises(IntakeMemoryError, match="of format 7, this version reads format 1"):
        MemoryFile(path)


def test_a_failed_run_is_reported_in_one_line(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A memory file that is no database stops the command with its path and the cure."""
    path = tmp_path / "memory.sqlite3"
    path.write_bytes(b"not a database at all, " * 100)
    first, _ = days(tmp_path)
    assert main(["intake", str(first), "--out", str(tmp_path / "o.jsonl"),
                 "--memory", str(path)]) != 0
    err = capsys.readouterr().err
    assert str(path) in err and "DOSSIERFLOW_INTAKE_MEMORY_FILE" in err


def test_a_memory_that_cannot_be_written_is_a_503_before_anything_is_published(
    tmp_path: Path, kafka_bootstrap: str, topic_factory: Any
) -> None:
    """`intake serve`'s endpoint on the real broker whose memory file fails at commit (its
    connection gone, as a vanished volume leaves it): the body is answered 503, "send it
    again", and the topic holds nothing."""
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer
    from kafka import KafkaConsumer, TopicPartition

    from dossierflow.http_access import HttpAccess
    from dossierflow.intake.publish import EventPublisher
    from dossierflow.intake.server import IntakeEndpoint, IntakeStatus, build_app
    from dossierflow.intake.session import IntakeSession
    from dossierflow.intake.settings import IntakeSettings

    topic = topic_factory(partitions=1)
    token = "t" * 40
    settings = IntakeSettings.from_env({"DOSSIERFLOW_BOOTSTRAP": kafka_bootstrap,
                                        "DOSSIERFLOW_EVENTS_TOPIC": topic})
    memory = MemoryFile(tmp_path / "memory.sqlite3")
    memory.close()  # every later write fails
    publisher = EventPublisher(kafka_bootstrap, topic)
    endpoint = IntakeEndpoint(settings, IntakeSession(memory_file=memory),
                              tmp_path / "rejections.jsonl",
                              IntakeStatus(publisher=publisher, kafka_reachable=True))
    app = build_app(endpoint, HttpAccess.for_listener("127.0.0.1", (), token))

    async def post() -> tuple[int, Any]:
        async with TestClient(TestServer(app)) as client:
            response = await client.post(
                "/", json=records_body(record("H1", 2, RECEIVED, SLIP)),
                headers={"Authorization": f"Bearer {token}"})
            return response.status, await response.json()

    try:
        status, answer = asyncio.run(post())
    finally:
        publisher.close()
    assert status == 503 and answer["error_code"] == "-1"
    assert "could not keep its memory" in answer["message"]
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    try:
        assert consumer.end_offsets([TopicPartition(topic, 0)]) == {TopicPartition(topic, 0): 0}
    finally:
        consumer.close()
