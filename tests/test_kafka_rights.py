"""Each process holds only its rights on Kafka, and a refusal is said as such.

Against the session's secured broker (tests/secured_kafka.py: SASL_SSL, SCRAM-SHA-512, a
private CA, StandardAuthorizer), whose principals and ACLs `dossierflow kafka users|acls`
set up: each process does its job with its own principal, a process reaching beyond its
rights is refused by the broker, and the worker, the sink and the notifier end with one line
that says what was refused (credentials, certificate, rights) instead of "no Kafka broker
answered".
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from dossierflow import config
from dossierflow.kafka.local_broker import free_port
from dossierflow.kafka.rights import Grant, KafkaPrincipals, PipelineNames, plan
from tests.secured_kafka import PRINCIPALS, SecuredKafka, dossierflow, write_ca
from tests.test_operations import process

WORKER, SINK, NOTIFY, INTAKE = PRINCIPALS.users()
SINK_GROUP, NOTIFY_GROUP = "dossierflow-clickhouse-sink", "dossierflow-notify"


def test_the_plan_gives_each_process_only_its_topics_and_group() -> None:
    names = PipelineNames("ev", "al", "fa", "dl", "app", "sink-g", "notify-g")
    principals = KafkaPrincipals("w", "s", "n", "i")
    assert set(plan(names, principals)) == {
        Grant("w", "topic", "ev", "READ"),
        Grant("w", "topic", "al", "WRITE"),
        Grant("w", "topic", "fa", "WRITE"),
        Grant("w", "topic", "dl", "WRITE"),
        Grant("w", "topic", "app-", "CREATE", prefixed=True),
        Grant("w", "topic", "app-", "READ", prefixed=True),
        Grant("w", "topic", "app-", "WRITE", prefixed=True),
        Grant("w", "group", "app", "READ"),
        Grant("s", "topic", "fa", "READ"),
        Grant("s", "topic", "al", "READ"),
        Grant("s", "group", "sink-g", "READ"),
        Grant("n", "topic", "al", "READ"),
        Grant("n", "topic", "fa", "READ"),
        Grant("n", "group", "notify-g", "READ"),
        Grant("i", "topic", "ev", "WRITE"),
    }


def test_acls_dry_run_lists_the_grants_and_connects_to_nothing() -> None:
    done = dossierflow("kafka", "acls", "--dry-run", env={
        "DOSSIERFLOW_BOOTSTRAP": f"127.0.0.1:{free_port()}"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "User:dossierflow-sink may READ topic dossier-facts" in lines
    assert "User:dossierflow-worker may CREATE topic names starting with dossierflow-" in lines
    assert "topic dossier-events: created if missing, partitions: 4" in lines
    assert len(lines) == 4 + 15


def test_applying_the_acls_again_creates_nothing(secured_kafka: SecuredKafka) -> None:
    done = dossierflow("kafka", "acls", env=secured_kafka.env(secured_kafka.admin))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        "15 grants: 0 created, 15 already present; 0 topics created")


def test_only_a_super_user_may_apply_the_acls(secured_kafka: SecuredKafka) -> None:
    done = dossierflow("kafka", "acls", env=secured_kafka.env(WORKER))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "dossierflow kafka: Kafka does not allow User:dossierflow-worker to describe the "
        "cluster's ACLs (the rights are applied by a super user); the admin grants the rights "
        "of each process with `dossierflow kafka acls` (docs/operations.md, \"Kafka and "
        "ClickHouse rights\")"
    ]


# --- each process does its job with its own principal ----------------------------------


def _event(dossier_id: str) -> dict[str, object]:
    """A dossier received long ago with one working hour to process it: overdue at once."""
    received = datetime.now(UTC) - timedelta(days=30)
    return {
        "schema_version": 1, "event_id": f"{dossier_id}-1", "dossier_id": dossier_id,
        "type": "RECEIVED", "occurred_at": received.isoformat(), "unit_code": "X-01",
        "procedure_code": "1.000894", "channel": "ONLINE",
        "processing_time": {"value": 1, "unit": "working_hours"},
    }


def _worker(kafka: SecuredKafka, tmp_path: Path
            ) -> AbstractContextManager[subprocess.Popen[bytes]]:
    args = ["worker", "--store", "memory://", "--data-dir", str(tmp_path / "worker"),
            "--metrics-port", str(free_port()), "--loglevel", "info"]
    return process(args, tmp_path / "worker.log", kafka.env(WORKER))


async def _read_as(kafka: SecuredKafka, user: str, group: str, topic: str, dossier_id: str,
                   timeout: float = 120) -> list[dict[str, object]]:
    """The records of `dossier_id` on `topic`, read as `user` in `group`."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka.bootstrap, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                **kafka.security(user).as_aiokafka_kwargs())
    await consumer.start()
    try:
        async with asyncio.timeout(timeout):
            while True:
                fetched = await consumer.getmany(timeout_ms=1000)
                found = [json.loads(m.value or b"") for ms in fetched.values() for m in ms]
                mine = [record for record in found if record.get("dossier_id") == dossier_id]
                if mine:
                    return mine
    finally:
        await consumer.stop()


def test_each_process_does_its_job_with_its_own_principal(
    secured_kafka: SecuredKafka, tmp_path: Path
) -> None:
    """intake publishes an event (`dossierflow produce`), the worker turns it into facts
    and an alert, the sink reads the facts and the notifier the alerts, in their groups."""
    events = tmp_path / "events.jsonl"
    dossier_id = f"RIGHTS-{free_port()}"
    events.write_text(json.dumps(_event(dossier_id)) + "\n")
    with _worker(secured_kafka, tmp_path) as worker:
        produced = dossierflow("produce", str(events), "--no-progress",
                               env=secured_kafka.env(INTAKE))
        assert produced.returncode == 0, produced.stderr
        alerts = asyncio.run(_read_as(secured_kafka, NOTIFY, NOTIFY_GROUP,
                                      config.ALERTS_TOPIC, dossier_id))
        facts = asyncio.run(_read_as(secured_kafka, SINK, SINK_GROUP,
                                     config.FACTS_TOPIC, dossier_id))
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
    assert "OVERDUE" in {alert["kind"] for alert in alerts}
    assert facts and "Traceback" not in (tmp_path / "worker.log").read_text()


# --- a process reaching beyond its rights is refused -----------------------------------


async def _produce_as(kafka: SecuredKafka, user: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap,
                                **kafka.security(user).as_aiokafka_kwargs())
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}")
    finally:
        await producer.stop()


@pytest.mark.parametrize(("user", "topic"), [
    (SINK, config.EVENTS_TOPIC), (NOTIFY, config.ALERTS_TOPIC), (WORKER, config.EVENTS_TOPIC),
    (INTAKE, config.ALERTS_TOPIC),
])
def test_a_principal_may_not_write_a_topic_it_was_not_given(
    secured_kafka: SecuredKafka, user: str, topic: str
) -> None:
    with pytest.raises(TopicAuthorizationFailedError) as refused:
        asyncio.run(_produce_as(secured_kafka, user, topic))
    assert topic in str(refused.value)


@pytest.mark.parametrize(("user", "group", "topic", "refusal"), [
    (SINK, SINK_GROUP, config.EVENTS_TOPIC, TopicAuthorizationFailedError),
    (INTAKE, "dossierflow-intake", config.EVENTS_TOPIC, GroupAuthorizationFailedError),
    (NOTIFY, SINK_GROUP, config.FACTS_TOPIC, GroupAuthorizationFailedError),
])
def test_a_principal_may_not_read_a_topic_or_join_a_group_it_was_not_given(
    secured_kafka: SecuredKafka, user: str, group: str, topic: str, refusal: type[Exception]
) -> None:
    with pytest.raises(refusal):
        asyncio.run(_read_as(secured_kafka, user, group, topic, "none", timeout=60))


# --- refusals said as such --------------------------------------------------------------


def _sink(tmp_path: Path, *options: str) -> list[str]:
    return ["sink", "--http-port", str(free_port()), "--store",
            f"chdb://{tmp_path / 'ch'}", *options]


def _worker_args(tmp_path: Path, *options: str) -> list[str]:
    return ["worker", "--store", "memory://", "--data-dir", str(tmp_path / "worker"),
            "--metrics-port", str(free_port()), *options]


def _notify(tmp_path: Path) -> list[str]:
    recipients = tmp_path / "recipients.yaml"
    recipients.write_text("units:\n  X-01:\n    heads:\n"
                          "      - {id: h, name: Lê Văn Cường, email: h@x01.example.gov.vn}\n",
                          encoding="utf-8")
    return ["notify", "--recipients", str(recipients), "--state", str(tmp_path / "n.sqlite")]


ARGS = {"worker": _worker_args, "sink": _sink, "notify": _notify}
NOTIFY_ENV = {"DOSSIERFLOW_SMTP_HOST": "127.0.0.1", "DOSSIERFLOW_SMTP_SENDER": "a@example.gov.vn",
              "DOSSIERFLOW_NOTIFY_METRICS_PORT": "0"}


@pytest.mark.parametrize(("command", "user"), [
    ("worker", WORKER), ("sink", SINK), ("notify", NOTIFY)])
def test_a_wrong_password_is_said_as_refused_credentials(
    secured_kafka: SecuredKafka, tmp_path: Path, command: str, user: str
) -> None:
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    args = ARGS[command](tmp_path)
    done = dossierflow(*args, env={**secured_kafka.env(user, password_file=wrong),
                                   "DOSSIERFLOW_STARTUP_WAIT": "60", **NOTIFY_ENV})
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"dossierflow {command}: Kafka refused the credentials of {user} (SASL SCRAM-SHA-512) "
        f"at {secured_kafka.bootstrap}; check DOSSIERFLOW_KAFKA_SASL_USERNAME and the "
        "password (DOSSIERFLOW_KAFKA_SASL_PASSWORD_FILE)"
    )
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["produce", "simulate"])
def test_a_wrong_password_of_a_publisher_is_said_as_refused_credentials(
    secured_kafka: SecuredKafka, tmp_path: Path, command: str
) -> None:
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(_event("WRONG-1")) + "\n")
    args = {"produce": ["produce", str(events), "--no-progress"],
            "simulate": ["simulate", "--produce", "--count", "1"]}[command]
    done = dossierflow(*args, env=secured_kafka.env(INTAKE, password_file=wrong))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1].startswith(
        f"dossierflow {command}: Kafka refused the credentials of {INTAKE} (SASL SCRAM-SHA-512)")


@pytest.mark.parametrize(("command", "user"), [("worker", WORKER), ("sink", SINK)])
def test_a_certificate_of_another_ca_is_said_as_untrusted(
    secured_kafka: SecuredKafka, tmp_path: Path, command: str, user: str
) -> None:
    other_ca = write_ca(trustme.CA(), tmp_path / "other-ca.pem")
    args = _worker_args(tmp_path) if command == "worker" else _sink(tmp_path)
    done = dossierflow(*args, env={**secured_kafka.env(user, ca_file=other_ca),
                                   "DOSSIERFLOW_STARTUP_WAIT": "60"})
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"dossierflow {command}: the broker's certificate at {secured_kafka.bootstrap} is not "
        f"trusted by {other_ca} (unable to get local issuer certificate); give the CA that "
        "signed it in DOSSIERFLOW_KAFKA_SSL_CAFILE"
    )


@pytest.mark.parametrize(("options", "refused"), [
    (("--facts-topic", config.EVENTS_TOPIC), f"read the topic {config.EVENTS_TOPIC}"),
    (("--group", NOTIFY_GROUP), f"use the consumer group {NOTIFY_GROUP}"),
])
def test_the_sink_beyond_its_rights_names_the_topic_or_group_and_its_principal(
    secured_kafka: SecuredKafka, tmp_path: Path, options: tuple[str, ...], refused: str
) -> None:
    done = dossierflow(*_sink(tmp_path, *options), env=secured_kafka.env(SINK))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1].startswith(
        f"dossierflow sink: Kafka does not allow User:{SINK} to {refused}; the admin grants "
        "the rights of each process with `dossierflow kafka acls`"
    )


def test_the_worker_may_not_create_a_topic_beyond_its_prefix(
    secured_kafka: SecuredKafka, tmp_path: Path
) -> None:
    done = dossierflow(*_worker_args(tmp_path, "--alerts-topic", "unplanned-alerts"),
                       env=secured_kafka.env(WORKER))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"dossierflow worker: Kafka does not allow User:{WORKER} to create topic "
        "unplanned-alerts (it does not exist, or this principal may not see it); the admin "
        "grants the rights of each process with `dossierflow kafka acls` (docs/operations.md, "
        "\"Kafka and ClickHouse rights\")"
    ]


def test_the_notifier_in_another_group_names_the_group_and_its_principal(
    secured_kafka: SecuredKafka, tmp_path: Path
) -> None:
    done = dossierflow(*_notify(tmp_path), env={
        **secured_kafka.env(NOTIFY), **NOTIFY_ENV, "DOSSIERFLOW_NOTIFY_GROUP_ID": SINK_GROUP})
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1].startswith(
        f"dossierflow notify: Kafka does not allow User:{NOTIFY} to use the consumer group "
        f"{SINK_GROUP}; the admin grants the rights"
    )


def test_acls_beyond_the_plan_are_reported_and_left(secured_kafka: SecuredKafka) -> None:
    from dossierflow.kafka.acl_admin import _acl
    from dossierflow.kafka.admin import admin_client

    extra = Grant(SINK, "topic", config.EVENTS_TOPIC, "WRITE")
    admin_security = secured_kafka.security(secured_kafka.admin)
    with admin_client(secured_kafka.bootstrap, admin_security) as admin:
        assert not admin.create_acls([_acl(extra)])["failed"]
    try:
        done = dossierflow("kafka", "acls", env=secured_kafka.env(secured_kafka.admin))
    finally:
        with admin_client(secured_kafka.bootstrap, admin_security) as admin:
            admin.delete_acls([_acl(extra)])
    assert done.returncode == 0, done.stderr
    assert (f"User:{SINK} may WRITE topic {config.EVENTS_TOPIC}: held beyond the plan (not "
            "removed; review it)") in done.stdout.splitlines()


@pytest.mark.parametrize(("app_id", "refused"), [
    ("other", "create topic other-"),
    ("dossierflow-x", "use the consumer group dossierflow-x"),
])
def test_the_worker_under_another_app_id_names_faust_s_topic_or_its_group(
    secured_kafka: SecuredKafka, tmp_path: Path, app_id: str, refused: str
) -> None:
    """Faust creates `<app id>-…` topics and joins the group `<app id>`: with an app id the
    rights do not cover, the worker says so before Faust starts, in one line."""
    done = dossierflow(*_worker_args(tmp_path, "--app-id", app_id),
                       env=secured_kafka.env(WORKER))
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(
        f"dossierflow worker: Kafka does not allow User:{WORKER} to {refused}"), line
