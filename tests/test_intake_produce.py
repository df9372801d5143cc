"""`dossierflow intake FILE --produce`: the bodies' events on the real broker's events topic."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from dossierflow.cli import main
from tests.intake_samples import MARKER, history, jsonl

DOSSIERS = 300


def expected_counts(dossiers: int) -> tuple[int, int]:
    """(events, rejections) of `history(dossiers)`, worked out from how it is generated:
    a good dossier gives RECEIVED, RESOLVED, RETURNED, plus SUPPLEMENT_REQUESTED and RESUMED
    when n % 5 == 1, plus APOLOGY_ISSUED when n % 5 == 3; a bad one (n % 10 == 9) has both
    of its records rejected."""
    events = rejections = 0
    for n in range(dossiers):
        if n % 10 == 9:
            rejections += 2
            continue
        events += 3 + (2 if n % 5 == 1 else 0) + (1 if n % 5 == 3 else 0)
    return events, rejections


def consume(bootstrap: str, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, consumer_timeout_ms=10_000)
    found: list[tuple[bytes, bytes]] = []
    try:
        for message in consumer:
            found.append((message.key, message.value))
            if len(found) >= expected:
                break
    finally:
        consumer.close()
    return found


def test_produce_publishes_the_bodies_events_keyed_by_dossier(
    tmp_path: Path, kafka_bootstrap: str, topic_factory: object,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = topic_factory(partitions=3)  # type: ignore[operator]
    source = tmp_path / "bodies.jsonl"
    bodies = history(DOSSIERS)
    # At-least-once delivery: the last record bodies of the first dossiers sent again.
    again = [b for b in bodies[:80] if all(r.get("TrangThaiHoSo") == "10" for r in b["data"])]
    bad_again = sum(r["NgayHenTra"] == "20261340080000" for b in again for r in b["data"])
    assert again and bad_again
    source.write_text(jsonl(bodies + again))
    out, dead = tmp_path / "events.jsonl", tmp_path / "dead.jsonl"
    assert main(["intake", str(source), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["intake", str(source), "--produce", "--bootstrap", kafka_bootstrap,
                 "--topic", topic, "--rejections", str(dead)]) == 0
    events, rejections = expected_counts(DOSSIERS)
    summary = capsys.readouterr().err
    assert f"{len(bodies) + len(again)} bodies, {events} events published to {topic}" in summary
    published = consume(kafka_bootstrap, topic, events + 1)
    assert len(published) == events
    written = out.read_bytes().splitlines()
    assert Counter(value for _, value in published) == Counter(written)
    for key, value in published:
        assert key.decode() == json.loads(value)["dossier_id"]
    lines = dead.read_text().splitlines()
    assert len(lines) == rejections + bad_again
    assert all("`NgayHenTra`" in json.loads(line)["reason"] for line in lines)
    assert MARKER.encode() not in b"".join(v for _, v in published) + dead.read_bytes()


def test_produce_to_an_unreachable_broker_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dossierflow.kafka.local_broker import free_port

    source = tmp_path / "bodies.jsonl"
    source.write_text(jsonl(history(2)))
    code = main(["intake", str(source), "--produce", "--bootstrap", f"127.0.0.1:{free_port()}"])
    assert code == 1
    assert "127.0.0.1" in capsys.readouterr().err
