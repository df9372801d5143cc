"""`dossierflow intake serve` as a real process over real HTTP, on the real broker."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from dossierflow.cli import main
from dossierflow.kafka.local_broker import free_port
from tests.intake_samples import MARKER, history, jsonl
from tests.test_intake_produce import consume, expected_counts

TOKEN = "s" * 16 + "0123456789abcdef0123"
MAX_BODY = 64 * 1024
DOSSIERS = 1000


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    topic: str
    rejections: Path
    log: Path

    def post(self, body: Any, token: str | None = TOKEN, host: str = "127.0.0.1",
             raw: bytes | None = None,
             connection: http.client.HTTPConnection | None = None) -> tuple[int, Any, Any]:
        """(status, the JSON answer or text, headers)."""
        own = connection is None
        connection = connection or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Host": host, "Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
        try:
            connection.request("POST", "/", body=data, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            if own:
                connection.close()
        try:
            return response.status, json.loads(text), response.headers
        except ValueError:
            return response.status, text, response.headers

    def get(self, path: str, token: str | None = None) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()


def start(tmp: Path, bootstrap: str, topic: str, kafka_env: dict[str, str] | None = None
          ) -> Served:
    port = free_port()
    rejections, log = tmp / "rejections.jsonl", tmp / "intake.log"
    token_file = tmp / "token"
    token_file.write_text(TOKEN + "\n")
    env = {**os.environ, "DOSSIERFLOW_BOOTSTRAP": bootstrap, "DOSSIERFLOW_EVENTS_TOPIC": topic,
           "DOSSIERFLOW_INTAKE_HTTP_PORT": str(port),
           "DOSSIERFLOW_INTAKE_TOKEN_FILE": str(token_file),
           "DOSSIERFLOW_INTAKE_MAX_BODY_BYTES": str(MAX_BODY),
           "DOSSIERFLOW_INTAKE_ACK_TIMEOUT": "5",
           "DOSSIERFLOW_INTAKE_REJECTIONS_FILE": str(rejections),
           "DOSSIERFLOW_INTAKE_MEMORY_FILE": str(tmp / "memory.sqlite3"), **(kafka_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "dossierflow.cli", "intake", "serve", "--loglevel", "info"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env,
    )
    served = Served(process, port, topic, rejections, log)
    return served


def wait_until_answers(served: Served, path: str, status: int) -> None:
    """Wait (at most a minute: a start on a busy machine) for `path` to answer `status`."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert served.process.poll() is None, served.log.read_text()
        try:
            if served.get(path)[0] == status:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{path} never answered {status}: {served.log.read_text()}")


def stop(served: Served, sig: int = signal.SIGTERM) -> int:
    if served.process.poll() is None:
        served.process.send_signal(sig)
    return served.process.wait(timeout=60)


@pytest.fixture
def served(tmp_path: Path, kafka_bootstrap: str, topic_factory: Any) -> Iterator[Served]:
    server = start(tmp_path, kafka_bootstrap, topic_factory(partitions=3))
    try:
        wait_until_answers(server, "/readyz", 200)
        yield server
    finally:
        stop(server)


def test_events_on_the_topic_are_the_translation_of_the_posted_bodies(
    served: Served, tmp_path: Path, kafka_bootstrap: str
) -> None:
    """Thousands of bodies, one by one over a kept-alive connection, with batches of two
    every 50th: the topic holds exactly what `intake FILE --out` makes of the same bodies,
    each answer came after Kafka's acknowledgement, the bad records are answered 422 naming
    the field and kept in the rejections file; no personal marker anywhere."""
    bodies = history(DOSSIERS)
    requests: list[Any] = []
    for n, body in enumerate(bodies):
        if n % 50 == 49 and requests and isinstance(requests[-1], dict):
            requests[-1] = [requests[-1], body]
        else:
            requests.append(body)
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
    statuses: Counter[int] = Counter()
    answers: list[Any] = []
    try:
        for request in requests:
            status, answer, _ = served.post(request, connection=connection)
            statuses[status] += 1
            answers.append(answer)
    finally:
        connection.close()
    events, rejections = expected_counts(DOSSIERS)
    assert statuses[503] == 0 and statuses[200] + statuses[422] == len(requests)
    assert statuses[422] > 0
    refused = [r for a in answers if a["error_code"] != "0" for r in a["rejected"]]
    assert len(refused) == rejections
    assert all(r["field"] == "NgayHenTra" and "not a real date" in r["reason"] for r in refused)
    assert sum(a["events"] for a in answers) == events

    published = consume(kafka_bootstrap, served.topic, events + 1)
    source, out = tmp_path / "bodies.jsonl", tmp_path / "events.jsonl"
    source.write_text(jsonl(bodies))
    assert main(["intake", str(source), "--out", str(out)]) == 0
    assert Counter(value for _, value in published) == Counter(out.read_bytes().splitlines())
    assert all(key.decode() == json.loads(value)["dossier_id"] for key, value in published)

    kept = served.rejections.read_text(encoding="utf-8").splitlines()
    assert len(kept) == rejections
    assert {json.loads(line)["field"] for line in kept} == {"NgayHenTra"}
    everything = (b"".join(v for _, v in published) + served.rejections.read_bytes()
                  + json.dumps(answers, ensure_ascii=False).encode() + served.log.read_bytes())
    assert MARKER.encode() not in everything


def test_refusals_name_what_is_wrong(served: Served) -> None:
    good = history(1)[0]
    status, text, headers = served.post(good, token=None)
    assert status == 401 and "Bearer" in text
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert served.post(good, token="x" * 40)[0] == 401
    assert served.post(good, host="evil.example")[0] == 421
    status, answer, headers = served.post(None, raw=b"[" + b" " * MAX_BODY + b"]")
    assert status == 413 and answer["error_code"] == "-1"
    assert str(MAX_BODY) in answer["message"]
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Server"] == "dossierflow"
    status, answer, _ = served.post(None, raw=b"{not json")
    assert status == 400 and "not JSON" in answer["message"]
    status, answer, _ = served.post({"service": "Other", "data": []})
    assert status == 400 and answer["rejected"][0]["field"] == "service"
    broken = json.loads(json.dumps(good))
    broken["data"][0]["KenhThucHien"] = "9"
    status, answer, _ = served.post(broken)
    assert status == 422
    assert answer["rejected"][0]["field"] == "KenhThucHien"
    assert answer["rejected"][0]["dossier_id"] == "H00000"
    assert served.get("/healthz") == (200, '{"status": "alive"}')
    assert served.get("/metrics")[0] == 401  # the scrape wants the token too
    status, scrape = served.get("/metrics", TOKEN)
    assert status == 200
    assert 'dossierflow_intake_bodies_total{outcome="too_large"} 1.0' in scrape
    assert 'dossierflow_intake_bodies_total{outcome="rejected"} 3.0' in scrape
    assert served.get("/nowhere", TOKEN) == (404, "not found: try /, /healthz, /readyz or "
                                                  "/metrics\n")
    kept = [json.loads(line) for line in served.rejections.read_text().splitlines()]
    assert [k["field"] for k in kept] == [None, "service", "KenhThucHien"]
    assert MARKER not in served.rejections.read_text()


def test_kafka_down_is_503_and_not_ready(tmp_path: Path) -> None:
    server = start(tmp_path, f"127.0.0.1:{free_port()}", "dossier-events")
    try:
        wait_until_answers(server, "/healthz", 200)
        assert server.get("/readyz")[0] == 503
        status, answer, _ = server.post(history(1)[0])
        assert status == 503 and answer["error_code"] == "-1"
        assert "send the body again" in answer["message"]
    finally:
        assert stop(server, signal.SIGINT) == 130


def test_sigterm_stops_it_cleanly(served: Served) -> None:
    assert stop(served, signal.SIGTERM) == 0


def test_serve_without_a_token_refuses_to_start(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DOSSIERFLOW_INTAKE_TOKEN", raising=False)
    monkeypatch.delenv("DOSSIERFLOW_INTAKE_TOKEN_FILE", raising=False)
    assert main(["intake", "serve"]) == 2
    assert "DOSSIERFLOW_INTAKE_TOKEN_FILE" in capsys.readouterr().err


def test_an_answer_comes_only_after_kafka_holds_the_events(
    served: Served, kafka_bootstrap: str
) -> None:
    """Right after each 200, the topic's end offsets already count the body's events."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    partitions = [TopicPartition(served.topic, p) for p in range(3)]
    published = 0
    try:
        for body in history(8):
            status, answer, _ = served.post(body)
            assert status in (200, 422)
            published += answer["events"]
            assert sum(consumer.end_offsets(partitions).values()) == published
    finally:
        consumer.close()
    assert published > 0


def test_a_broker_that_goes_away_gives_503_then_200_when_it_is_back(tmp_path: Path) -> None:
    """Connected, then the broker stops: the body is answered 503 once the producer gives up
    (DOSSIERFLOW_INTAKE_ACK_TIMEOUT), /readyz says not ready; the broker back, the same body
    is taken."""
    from dossierflow.kafka.local_broker import LocalKafka, ensure_jars

    ensure_jars()
    broker = LocalKafka(tmp_path / "kafka", free_port(), die_with_parent=True)
    broker.start()
    server = start(tmp_path, broker.bootstrap, "dossier-events")
    try:
        wait_until_answers(server, "/readyz", 200)
        first, second = history(2)[0], history(2)[2]
        assert server.post(first)[0] == 200
        broker.stop()
        status, answer, _ = server.post(second)
        assert status == 503 and "did not acknowledge" in answer["message"]
        wait_until_answers(server, "/readyz", 503)
        broker.start()
        wait_until_answers(server, "/readyz", 200)
        deadline = time.monotonic() + 60  # the producer reconnects on its own schedule
        while (status := server.post(second)[0]) == 503 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert status == 200
    finally:
        stop(server)
        broker.stop()


def test_the_sample_week_over_http_gives_the_file_paths_events(
    served: Served, tmp_path: Path, kafka_bootstrap: str
) -> None:
    """examples/province-week-portal.jsonl (every event type the format carries) posted body
    by body: the topic holds what `intake FILE --out` makes of the file."""
    sample = Path(__file__).resolve().parents[1] / "examples" / "province-week-portal.jsonl"
    out = tmp_path / "events.jsonl"
    assert main(["intake", str(sample), "--out", str(out)]) == 0
    expected = out.read_bytes().splitlines()
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
    try:
        for line in sample.read_bytes().splitlines():
            assert served.post(None, raw=line, connection=connection)[0] == 200
    finally:
        connection.close()
    published = consume(kafka_bootstrap, served.topic, len(expected) + 1)
    assert Counter(value for _, value in published) == Counter(expected)


def test_an_apology_after_a_restart_is_told_from_the_slip(
    tmp_path: Path, kafka_bootstrap: str, topic_factory: Any
) -> None:
    """A real `intake serve` takes dossier H1's record (slip: Mon 09/03 08:00) and a step
    (Thu 05/03 15:00), is stopped by SIGTERM and started again on the same memory file; then
    the record comes with a new appointment no supplement explains (Thu 12/03 08:00), and
    the first record again. The topic (read until nothing more comes) holds one apology, for
    the new appointment at the step's instant, and the RECEIVED with the slip's appointment:
    the restarted process says what one process would have said, and the re-sent record adds
    no new event id."""
    from tests.intake_samples import record, records_body, step_body

    topic = topic_factory(partitions=1)
    received, slip = datetime(2026, 3, 2, 8, 0), datetime(2026, 3, 9, 8, 0)
    first = records_body(record("H1", 2, received, slip))
    server = start(tmp_path, kafka_bootstrap, topic)
    try:
        wait_until_answers(server, "/readyz", 200)
        assert server.post(first)[0] == 200
        assert server.post(step_body("H1", datetime(2026, 3, 5, 15, 0)))[0] == 200
    finally:
        assert stop(server) == 0
    server = start(tmp_path, kafka_bootstrap, topic)
    try:
        wait_until_answers(server, "/readyz", 200)
        assert server.post(records_body(record("H1", 2, received,
                                               datetime(2026, 3, 12, 8, 0))))[0] == 200
        assert server.post(first)[0] == 200
    finally:
        assert stop(server) == 0
    events = [json.loads(value) for _, value in consume(kafka_bootstrap, topic, 4)]
    assert [(e["type"], e.get("due_at"), e.get("new_due_at"), e["occurred_at"])
            for e in events if e["type"] in ("RECEIVED", "APOLOGY_ISSUED")] == [
        ("RECEIVED", "2026-03-09T08:00:00+07:00", None, "2026-03-02T08:00:00+07:00"),
        ("RECEIVED", "2026-03-09T08:00:00+07:00", None, "2026-03-02T08:00:00+07:00"),
        ("APOLOGY_ISSUED", None, "2026-03-12T08:00:00+07:00", "2026-03-05T15:00:00+07:00"),
    ]  # the first record re-sent: its RECEIVED went out already from this process
    assert len({e["event_id"] for e in events}) == 2  # RECEIVED and the apology


def test_it_publishes_as_its_own_principal_which_may_write_the_events_only(
    secured_kafka: Any, tmp_path: Path
) -> None:
    """On a broker with an authorizer and the ACLs of `dossierflow kafka acls`, `intake
    serve` logged in as dossierflow-intake (the deploy files' principal, which may WRITE the
    events topic and nothing else) becomes ready, and a posted body's event is on the topic
    (read back as the worker, in its group)."""
    import asyncio

    from dossierflow import config
    from dossierflow.streams.settings import WorkerSettings
    from tests.intake_samples import record, records_body
    from tests.test_kafka_rights import INTAKE, WORKER, _read_as

    dossier = f"ACL-{free_port()}"
    server = start(tmp_path, secured_kafka.bootstrap, config.EVENTS_TOPIC,
                   secured_kafka.env(INTAKE))
    try:
        wait_until_answers(server, "/readyz", 200)
        body = records_body(record(dossier, 2, datetime(2026, 3, 2, 8), datetime(2026, 3, 9, 8)))
        status, answer, _ = server.post(body)
        assert (status, answer["events"]) == (200, 1), answer
    finally:
        assert stop(server) == 0
    found = asyncio.run(_read_as(secured_kafka, WORKER, WorkerSettings().app_id,
                                 config.EVENTS_TOPIC, dossier))
    assert [event["type"] for event in found] == ["RECEIVED"]


def _refused_at(secured_kafka: Any) -> str:
    from tests.test_kafka_rights import INTAKE

    return (f"Kafka refused the credentials of {INTAKE} (SASL SCRAM-SHA-512) at "
            f"{secured_kafka.bootstrap}")


def _ended_saying(server: Served, said: str) -> None:
    """`server` ends (at most 3 minutes: a wait, not an assertion on time) with exit code 2,
    its last line the refusal's sentence, logged before too."""
    try:
        code = server.process.wait(timeout=180)
    except subprocess.TimeoutExpired:
        raise AssertionError("it went on: " + server.log.read_text()[-3000:]) from None
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
    log = server.log.read_text()
    assert code == 2, log[-3000:]
    assert log.splitlines()[-1].startswith(f"dossierflow intake: {said}"), log[-3000:]
    assert log.count(said) >= 2, log[-3000:]  # the log's error, then the last line
    assert "Traceback" not in log


@pytest.mark.parametrize("published_before", [True, False])
def test_a_password_changed_while_it_serves_is_answered_and_ended_as_refused_credentials(
    secured_kafka: Any, tmp_path: Path, published_before: bool
) -> None:
    """The admin changes the intake's password while it serves and the broker restarts:
    kafka-python retries the refused login in silence, so without the producer's refusal
    check each body was answered "not acknowledged" for ever. The body waiting is answered
    503 naming the refusal, and the intake ends with exit code 2, as the other processes.
    Without a body published before, the producer has no metadata of the topic yet and its
    `send` itself waits (`max_block_ms`) and fails."""
    from dossierflow import config
    from tests.intake_samples import record, records_body
    from tests.test_kafka_refused_at_run import _passwords_changed
    from tests.test_kafka_rights import INTAKE

    dossier = f"PWD-{free_port()}"
    server = start(tmp_path, secured_kafka.bootstrap, config.EVENTS_TOPIC,
                   secured_kafka.env(INTAKE))
    try:
        wait_until_answers(server, "/readyz", 200)
        if published_before:
            first = record(f"{dossier}-1", 2, datetime(2026, 3, 2, 8), datetime(2026, 3, 9, 8))
            assert server.post(records_body(first))[0] == 200
        with _passwords_changed(secured_kafka, [INTAKE]):
            secured_kafka.restart()
            body = records_body(
                record(f"{dossier}-2", 2, datetime(2026, 3, 2, 8), datetime(2026, 3, 9, 8)))
            # A body that waited out its acknowledgement while the broker was still starting
            # (a loaded machine) is rightly answered "send the body again": send it again, as
            # a one-stop system does. Without the refusal check every answer is that one.
            for _ in range(6):
                status, answer, _ = server.post(body)
                assert (status, answer["error_code"]) == (503, "-1"), answer
                if "did not acknowledge" not in answer["message"]:
                    break
            assert answer["message"].startswith(_refused_at(secured_kafka)), answer
            _ended_saying(server, _refused_at(secured_kafka))
    finally:
        stop(server)


def test_a_wrong_password_at_start_ends_it_as_refused_credentials(
    secured_kafka: Any, tmp_path: Path
) -> None:
    """Waiting does not help a refused login: the intake ends, as the other processes do,
    instead of answering 503 "not reachable" for ever."""
    from dossierflow import config
    from tests.test_kafka_rights import INTAKE

    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    server = start(tmp_path, secured_kafka.bootstrap, config.EVENTS_TOPIC,
                   secured_kafka.env(INTAKE, password_file=wrong))
    _ended_saying(server, _refused_at(secured_kafka))
