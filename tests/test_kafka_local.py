"""The local Apache Kafka broker, topic administration, `produce` and Kafka security.

Integration tests run against the real broker of the session (`kafka_bootstrap`);
settings parsing and secret hiding are plain unit tests.
"""

from __future__ import annotations

import io
import json
import logging
import os
import ssl
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import ConfigResource, ConfigResourceType

from dossierflow.cli import build_parser, main
from dossierflow.kafka.local_broker import (
    KafkaAlreadyRunning,
    KafkaLocalError,
    LocalKafka,
    default_port,
    ensure_jars,
    free_port,
    jars_ready,
    kafka_classpath,
    kafka_version,
    new_cluster_id,
)
from dossierflow.kafka.producer import produce_file
from dossierflow.kafka.security import KafkaConfigError, KafkaSecurity
from dossierflow.kafka.topics import TopicSpec, ensure_topics

TopicFactory = Callable[..., str]

# --------------------------------------------------------------------------- helpers


def _event(dossier: str, n: int, kind: str = "RECEIVED") -> dict[str, object]:
    event: dict[str, object] = {
        "schema_version": 1,
        "event_id": f"{dossier}-e{n}",
        "dossier_id": dossier,
        "type": kind,
        "occurred_at": f"2026-03-02T08:{n % 60:02d}:00+07:00",
        "sequence": n,
    }
    if kind == "RECEIVED":
        event.update(unit_code="SO-TP", procedure_code="1.001", channel="ONLINE")
    return event


def _consume_all(bootstrap: str, topic: str, expected: int) -> list[tuple[int, int, bytes, bytes]]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=10_000,
    )
    records: list[tuple[int, int, bytes, bytes]] = []
    try:
        for message in consumer:
            records.append((message.partition, message.offset, message.key, message.value))
            if len(records) >= expected:
                break
    finally:
        consumer.close()
    return records


def _partition_count(bootstrap: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return len(admin.describe_topics([topic])[0]["partitions"])
    finally:
        admin.close()


# --------------------------------------------------------------------------- broker


def test_session_broker_is_visible_from_another_process(
    kafka_broker: LocalKafka | None, kafka_bootstrap: str
) -> None:
    if kafka_broker is None:
        pytest.skip("reusing an external broker")
    status = kafka_broker.status()
    assert status is not None and status.bootstrap == kafka_bootstrap
    # Another handle on the same data dir finds the broker through the pid file ...
    other = LocalKafka(kafka_broker.data_dir)
    assert other.port == kafka_broker.port and other.is_running()
    with pytest.raises(KafkaAlreadyRunning):
        other.start()
    # ... and so does the CLI in a separate process.
    out = subprocess.run(
        [sys.executable, "-c", _CLI, "kafka", "status", "--data-dir", str(kafka_broker.data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert f"running on {kafka_bootstrap} (pid {status.pid}" in out.stdout


_CLI = "import sys; from dossierflow.cli import main; sys.exit(main())"


@pytest.mark.kafka
def test_start_stop_restart_keeps_topics(kafka_broker: LocalKafka | None, tmp_path: Path) -> None:
    """A second, short-lived broker: clean stop, restart on the same data dir, data kept."""
    if kafka_broker is None:
        pytest.skip("reusing an external broker")
    broker = LocalKafka(tmp_path / "kafka", free_port())
    assert broker.status() is None
    assert broker.stop() is False  # nothing to stop is not an error
    broker.start()
    try:
        ensure_topics(broker.bootstrap, [TopicSpec("kept", 2)], security=KafkaSecurity())
    finally:
        assert broker.stop() is True
    assert broker.status() is None and not broker.pid_file.exists()

    broker.port = free_port()  # a new port on restart is fine: the ports live in the template
    with broker:
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            assert "kept" in admin.list_topics()
        finally:
            admin.close()
    assert not broker.is_running()


def test_start_reports_a_busy_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        broker = LocalKafka(tmp_path, sock.getsockname()[1])
        with pytest.raises(KafkaLocalError, match="already in use"):
            broker.start()


def test_stale_pid_file_is_ignored(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path, 1234)
    broker.pid_file.write_text(
        json.dumps(
            {
                "pid": os.getpid(),  # alive, but not a Kafka broker: a recycled pid
                "host": "127.0.0.1",
                "port": 1234,
                "controller_port": 1235,
                "data_dir": str(tmp_path),
                "log_file": str(broker.log_file),
                "started_at": 0.0,
            }
        )
    )
    assert broker.status() is None
    assert not broker.pid_file.exists()
    assert broker.stop() is False


def test_jars_match_the_pinned_version() -> None:
    import zipfile

    version = kafka_version()
    libs = ensure_jars()  # a no-op once collected: the marker matches pom.xml
    assert libs.name == version and (libs / f"kafka_2.13-{version}.jar").is_file()
    assert kafka_classpath() == f"{libs}/*"
    with zipfile.ZipFile(libs / f"kafka-tools-{version}.jar") as jar:  # for the benchmark
        assert "org/apache/kafka/tools/ConsumerPerformance.class" in jar.namelist()


def test_collected_jars_are_ready_so_the_demo_needs_no_maven(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ensure_jars()
    assert jars_ready()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # a cache nothing was fetched into
    assert not jars_ready()


def test_cluster_id_and_port_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster_id = new_cluster_id()
    assert len(cluster_id) == 22 and "=" not in cluster_id
    monkeypatch.delenv("DOSSIERFLOW_KAFKA_PORT", raising=False)
    assert default_port() == 9092
    monkeypatch.setenv("DOSSIERFLOW_KAFKA_PORT", "19092")
    assert default_port() == 19092
    monkeypatch.setenv("DOSSIERFLOW_KAFKA_PORT", "ninety")
    with pytest.raises(KafkaLocalError, match="DOSSIERFLOW_KAFKA_PORT"):
        default_port()


# --------------------------------------------------------------------------- topics


def test_ensure_topics_is_idempotent(kafka_bootstrap: str) -> None:
    name = f"ensure-{new_cluster_id()[:8].lower().replace('_', 'x')}"
    specs = [
        TopicSpec(name, 3, retention_ms=3_600_000),
        TopicSpec(name + "-state", 2, compacted=True),
    ]
    first = ensure_topics(kafka_bootstrap, specs, security=KafkaSecurity())
    assert sorted(first.created) == sorted([name, name + "-state"]) and first.existing == ()
    second = ensure_topics(kafka_bootstrap, specs, security=KafkaSecurity())
    assert second.created == () and sorted(second.existing) == sorted(first.created)
    assert second.partition_mismatch == ()
    assert _partition_count(kafka_bootstrap, name) == 3
    assert _partition_count(kafka_bootstrap, name + "-state") == 2

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        configs = admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, name),
                ConfigResource(ConfigResourceType.TOPIC, name + "-state"),
            ]
        )["topic"]
    finally:
        admin.close()
    assert configs[name]["retention.ms"]["value"] == "3600000"
    assert configs[name + "-state"]["cleanup.policy"]["value"] == "compact"

    # Asking for more partitions later never re-partitions silently; it is reported.
    third = ensure_topics(kafka_bootstrap, [TopicSpec(name, 6)], security=KafkaSecurity())
    assert third.partition_mismatch == ((name, 6, 3),)
    assert _partition_count(kafka_bootstrap, name) == 3


def test_topic_factory_makes_unique_topics(topic_factory: TopicFactory) -> None:
    a = topic_factory(4)
    b = topic_factory(1, prefix="other")
    assert a != b and b.startswith("other-")


def test_auto_create_is_off(kafka_bootstrap: str) -> None:
    """A typo in a topic name must fail, not create a topic silently."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaTimeoutError

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_block_ms=1500)
    try:
        with pytest.raises(KafkaTimeoutError):
            producer.send("no-such-topic-" + new_cluster_id()[:6], b"x").get(timeout=5)
    finally:
        producer.close()


# --------------------------------------------------------------------------- produce


def test_produce_file_keys_by_dossier_and_reports_bad_lines(
    kafka_bootstrap: str, topic_factory: TopicFactory, tmp_path: Path
) -> None:
    topic = topic_factory(4)
    lines: list[bytes] = []
    for n in range(120):
        dossier = f"HS-{n % 17:03d}"
        lines.append(json.dumps(_event(dossier, n), ensure_ascii=False).encode())
    bad_lines = {
        31: b"not json at all",
        57: b'{"schema_version": 1, "dossier_id": "HS-001"}',
        88: json.dumps({**_event("HS-002", 999), "type": "TELEPORTED"}).encode(),
    }
    for lineno in sorted(bad_lines):
        lines.insert(lineno - 1, bad_lines[lineno])
    # A CRLF line and a blank line are accepted / skipped, not reported.
    lines.append(json.dumps(_event("HS-crlf", 1), ensure_ascii=False).encode() + b"\r")
    lines.append(b"")
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    stderr = io.StringIO()
    result = produce_file(
        kafka_bootstrap, topic, path, progress=False, stderr=stderr, security=KafkaSecurity()
    )
    assert (result.published, result.bad, result.failed) == (121, 3, 0)
    assert result.bytes_read == path.stat().st_size
    reported = stderr.getvalue().splitlines()
    assert [line.split(":")[1] for line in reported] == ["31", "57", "88"]
    assert reported[0].startswith(f"{path}:31: not JSON")
    assert "event_id" in reported[1] and "TELEPORTED" in reported[2]

    records = _consume_all(kafka_bootstrap, topic, result.published)
    assert len(records) == result.published
    good = [line.rstrip(b"\r") for line in lines if line.strip() and line not in bad_lines.values()]
    assert sorted(value for _, _, _, value in records) == sorted(good)  # original bytes
    partitions_of: dict[bytes, set[int]] = defaultdict(set)
    sequences: dict[bytes, list[tuple[int, int]]] = defaultdict(list)
    for partition, offset, key, value in records:
        event = json.loads(value)
        assert key == event["dossier_id"].encode()
        partitions_of[key].add(partition)
        sequences[key].append((offset, event["sequence"]))
    assert all(len(parts) == 1 for parts in partitions_of.values())  # one dossier, one partition
    assert len({p for parts in partitions_of.values() for p in parts}) > 1  # spread over partitions
    for pairs in sequences.values():  # file order is kept within a dossier
        assert [seq for _, seq in sorted(pairs)] == sorted(seq for _, seq in pairs)


def test_produce_command_creates_the_topic(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = f"cli-{new_cluster_id()[:8].lower().replace('_', 'x')}"
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(_event(f"D{n}", n)) for n in range(10)) + "\nbad\n")
    args = build_parser().parse_args(
        [
            "produce",
            str(path),
            "--bootstrap",
            kafka_bootstrap,
            "--topic",
            topic,
            "--partitions",
            "3",
            "--no-progress",
        ]
    )
    assert args.func(args) == 3  # a line skipped: the README's exit code 3
    err = capsys.readouterr().err
    assert f"{path}:11: not JSON" in err
    assert "10 events" in err and "1 bad lines" in err
    assert _partition_count(kafka_bootstrap, topic) == 3
    assert len(_consume_all(kafka_bootstrap, topic, 10)) == 10


def test_produce_skips_a_byte_order_mark_at_the_start_of_the_file(
    kafka_bootstrap: str, topic_factory: TopicFactory, tmp_path: Path
) -> None:
    topic = topic_factory(1)
    path = tmp_path / "events.jsonl"
    events = [json.dumps(_event(f"D{n}", n), ensure_ascii=False) for n in range(3)]
    path.write_text("\n".join(events) + "\n", encoding="utf-8-sig")
    stderr = io.StringIO()
    result = produce_file(
        kafka_bootstrap, topic, path, progress=False, stderr=stderr, security=KafkaSecurity()
    )
    assert (result.published, result.bad) == (3, 0), stderr.getvalue()
    assert result.bytes_read == path.stat().st_size
    records = _consume_all(kafka_bootstrap, topic, 3)
    assert [value for _, _, _, value in records] == [e.encode() for e in events]


def test_produce_command_without_broker_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps(_event("D1", 1)) + "\n")
    port = free_port()
    args = build_parser().parse_args(
        ["produce", str(path), "--bootstrap", f"127.0.0.1:{port}", "--timeout", "2"]
    )
    assert args.func(args) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"dossierflow produce: 127.0.0.1:{port}: ")


def test_produce_warns_in_the_house_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps(_event("D1", 1)) + "\n")
    monkeypatch.delenv("DOSSIERFLOW_BOOTSTRAP", raising=False)
    monkeypatch.setenv("DOSSIERFLOW_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")
    assert main(["produce", str(path), "--timeout", "2"]) == 1  # no broker there
    assert capsys.readouterr().err.splitlines()[0] == (
        "dossierflow produce: warning: DOSSIERFLOW_KAFKA_BOOTSTRAP is deprecated; "
        "use DOSSIERFLOW_BOOTSTRAP"
    )


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: None, "No such file or directory"),
        (lambda path: path.mkdir(), "Is a directory"),
        pytest.param(
            lambda path: (path.write_text("{}\n"), path.chmod(0)), "Permission denied",
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file"),
        ),
    ],
    ids=["missing", "directory", "unreadable"],
)
def test_produce_of_a_file_it_cannot_read_says_why_before_trying_kafka(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
    make: Callable[[Path], object], reason: str,
) -> None:
    path = tmp_path / "events.jsonl"
    make(path)
    assert main(["produce", str(path), "--bootstrap", f"127.0.0.1:{free_port()}"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"dossierflow produce: {path}: cannot read it: {reason}; give a file of "
        "events, one JSON object a line"
    ]


# --------------------------------------------------------------------------- security


def test_security_defaults_to_plaintext() -> None:
    security = KafkaSecurity.from_env({})
    assert security.as_kafka_python_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert security.as_aiokafka_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert security.as_faust_credentials() is None


def _ca_file() -> str:
    cafile = ssl.get_default_verify_paths().cafile
    if not cafile or not Path(cafile).is_file():
        pytest.skip("no system CA bundle to load")
    return cafile


def test_security_from_env_sasl_ssl_with_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text("s3cr3t-Pa55\n")
    cafile = _ca_file()
    env = {
        "DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "DOSSIERFLOW_KAFKA_SASL_MECHANISM": "scram-sha-512",
        "DOSSIERFLOW_KAFKA_SASL_USERNAME": "dossierflow",
        "DOSSIERFLOW_KAFKA_SASL_PASSWORD_FILE": str(secret),
        "DOSSIERFLOW_KAFKA_SSL_CAFILE": cafile,
    }
    security = KafkaSecurity.from_env(env)
    assert security.as_kafka_python_kwargs() == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "dossierflow",
        "sasl_plain_password": "s3cr3t-Pa55",
        "ssl_cafile": cafile,
    }
    aio = security.as_aiokafka_kwargs()
    assert aio["sasl_plain_password"] == "s3cr3t-Pa55"
    assert isinstance(aio["ssl_context"], ssl.SSLContext)
    credentials = security.as_faust_credentials()
    assert type(credentials).__name__ == "SASLCredentials"
    assert "s3cr3t" not in repr(security) and "s3cr3t" not in str(security)
    assert "dossierflow" in repr(security)


def test_password_never_reaches_kafka_logs(caplog: pytest.LogCaptureFixture) -> None:
    KafkaSecurity.from_env(
        {
            "DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "DOSSIERFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
            "DOSSIERFLOW_KAFKA_SASL_USERNAME": "u",
            "DOSSIERFLOW_KAFKA_SASL_PASSWORD": "hunter2-pw",
        }
    )
    with caplog.at_level(logging.DEBUG, logger="kafka.admin.client"):
        logging.getLogger("kafka.admin.client").debug(
            "Starting KafkaAdminClient with configuration: %s",
            {"sasl_plain_password": "hunter2-pw"},
        )
    assert "hunter2-pw" not in caplog.text and "***" in caplog.text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECURITY_PROTOCOL": "TLS"}, "expected one of"),
        ({"SECURITY_PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "GSSAPI"}, "SASL_MECHANISM"),
        ({"SECURITY_PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "PLAIN"}, "SASL_USERNAME"),
        ({"SASL_USERNAME": "u", "SASL_PASSWORD": "p"}, "use SASL_SSL"),
        (
            {
                "SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "SASL_MECHANISM": "PLAIN",
                "SASL_USERNAME": "u",
                "SASL_PASSWORD": "p",
                "SASL_PASSWORD_FILE": "/x",
            },
            "only one of",
        ),
        ({"SASL_PASSWORD_FILE": "/nonexistent/pw"}, "cannot read"),
        ({"SECURITY_PROTOCOL": "SSL", "SSL_CAFILE": "/nonexistent/ca.pem"}, "is not a file"),
    ],
)
def test_security_rejects_bad_settings(env: dict[str, str], message: str) -> None:
    full = {f"DOSSIERFLOW_KAFKA_{key}": value for key, value in env.items()}
    with pytest.raises(KafkaConfigError, match=message):
        KafkaSecurity.from_env(full)


def test_topic_spec_configs() -> None:
    assert TopicSpec("a").topic_configs() == {}
    spec = TopicSpec("a", 4, retention_ms=-1, compacted=True, configs=(("segment.ms", "60000"),))
    assert spec.topic_configs() == {
        "retention.ms": "-1",
        "cleanup.policy": "compact",
        "segment.ms": "60000",
    }
    with pytest.raises(ValueError, match="partitions"):
        TopicSpec("a", 0)
