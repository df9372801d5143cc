"""A Kafka refusal after start-up (an ACL removed while a process runs) ends the process
with the same one-line sentence as the start-up check, not a generic error.

Against the session's secured broker (tests/secured_kafka.py): the process runs as its own
principal in a consumer group of its own, granted here; once it is consuming, the admin
removes that grant, and the process must stop, exit 2, naming what was refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kafka import TopicPartition

from dossierflow import config
from dossierflow.kafka.acl_admin import _acl, set_passwords
from dossierflow.kafka.admin import admin_client
from dossierflow.kafka.local_broker import free_port
from dossierflow.kafka.rights import GROUP, TOPIC, Grant
from dossierflow.kafka.topics import TopicSpec, ensure_topics
from tests.secured_kafka import PRINCIPALS, SecuredKafka
from tests.test_kafka_rights import NOTIFY_ENV, _notify

SINK = PRINCIPALS.sink_principal
NOTIFY = PRINCIPALS.notify_principal


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _consumer_args(tmp_path: Path, command: str, port: int, names: dict[str, str]
                   ) -> tuple[list[str], dict[str, str]]:
    """The sink's or the notifier's arguments and settings: its group and topics `names`."""
    if command == "sink":
        return (["sink", "--http-port", str(port), "--store", f"chdb://{tmp_path / 'ch'}",
                 "--group", names["group"], "--facts-topic", names["facts"],
                 "--alerts-topic", names["alerts"]], {})
    return _notify(tmp_path), {
        **NOTIFY_ENV, "DOSSIERFLOW_NOTIFY_METRICS_PORT": str(port),
        "DOSSIERFLOW_NOTIFY_GROUP_ID": names["group"],
        "DOSSIERFLOW_ALERTS_TOPIC": names["alerts"], "DOSSIERFLOW_FACTS_TOPIC": names["facts"]}


@contextmanager
def _granted(kafka: SecuredKafka, grants: list[Grant]) -> Iterator[None]:
    admin_security = kafka.security(kafka.admin)
    with admin_client(kafka.bootstrap, admin_security) as admin:
        assert not admin.create_acls([_acl(g) for g in grants])["failed"]
    try:
        yield
    finally:
        with admin_client(kafka.bootstrap, admin_security) as admin:
            admin.delete_acls([_acl(g) for g in grants])


@contextmanager
def _running(kafka: SecuredKafka, user: str, args: list[str], env: dict[str, str],
             port: int, log: Path) -> Iterator[subprocess.Popen[str]]:
    """The process `args` as `user`, once its /readyz on `port` says ready; its stderr in
    `log` (a file, not a pipe: a process that logs while another is awaited never blocks).
    Killed at the end if it still runs."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DOSSIERFLOW_KAFKA_")}
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "dossierflow.cli", *args],
                                   env={**inherited, **kafka.env(user), **env},
                                   stdout=subprocess.DEVNULL, stderr=stderr, text=True)
    try:
        deadline = time.monotonic() + 180  # readiness waits, not assertions on time
        while not _ready(port):
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"{args[0]} never became ready"
            time.sleep(0.5)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _ended(process: subprocess.Popen[str], log: Path, cause: str) -> tuple[int, str]:
    """The exit code and stderr of `process`, which `cause` must end."""
    try:
        process.wait(timeout=180)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.wait(timeout=30)
        raise AssertionError(f"{log.stem} went on after {cause}:\n"
                             + log.read_text()[-3000:]) from None
    return process.returncode, log.read_text()


def _said(code: int, stderr: str, start: str) -> None:
    """The process ended with exit code 2, its last line starting with `start`."""
    assert code == 2, stderr[-3000:]
    assert stderr.splitlines()[-1].startswith(start), stderr[-3000:]


def _refused_while_running(kafka: SecuredKafka, user: str, args: list[str],
                           env: dict[str, str], port: int, grants: list[Grant],
                           removed: Grant, log: Path) -> tuple[int, str]:
    """Grant `grants`, run the process as `user` until /readyz says ready, remove
    `removed`: its exit code and stderr."""
    with _granted(kafka, grants), _running(kafka, user, args, env, port, log) as process:
        with admin_client(kafka.bootstrap, kafka.security(kafka.admin)) as admin:
            admin.delete_acls([_acl(removed)])
        return _ended(process, log, f"{removed.line()} was removed")


WORKER = PRINCIPALS.worker_principal


def _worker_rights(app: str) -> tuple[Grant, list[Grant]]:
    """The worker's grant on its group `app`, and those on its own topics (prefix `app-`)."""
    return (Grant(WORKER, GROUP, app, "READ"),
            [Grant(WORKER, TOPIC, f"{app}-", op, prefixed=True)
             for op in ("CREATE", "READ", "WRITE")])


def _worker_command(tmp_path: Path, port: int) -> list[str]:
    return ["worker", "--store", "memory://", "--data-dir", str(tmp_path / "w"),
            "--metrics-port", str(port)]


@contextmanager
def _passwords_changed(kafka: SecuredKafka, users: list[str]) -> Iterator[None]:
    """The admin gives `users` new passwords; their own come back at the end."""
    admin_security = kafka.security(kafka.admin)
    with admin_client(kafka.bootstrap, admin_security) as admin:
        set_passwords(admin, {user: f"changed-{user}" for user in users})
    try:
        yield
    finally:
        with admin_client(kafka.bootstrap, admin_security) as admin:
            set_passwords(admin, {user: kafka.password_file(user).read_text().strip()
                                  for user in users})


PRINCIPALS_OF = {"sink": SINK, "notify": NOTIFY}


@pytest.mark.kafka
@pytest.mark.parametrize("command", ["sink", "notify"])
@pytest.mark.parametrize(("removed", "said"), [
    ("group", "use the consumer group {group}"), ("facts", "read the topic {facts}")])
def test_a_grant_removed_while_the_process_runs_is_said_as_refused(
    secured_kafka: SecuredKafka, tmp_path: Path, command: str, removed: str, said: str
) -> None:
    port = free_port()
    names = {"group": f"runtime-{port}", "facts": f"runtime-{port}-facts",
             "alerts": f"runtime-{port}-alerts"}
    user = PRINCIPALS_OF[command]
    grants = {"group": Grant(user, GROUP, names["group"], "READ"),
              **{t: Grant(user, TOPIC, names[t], "READ") for t in ("facts", "alerts")}}
    ensure_topics(secured_kafka.bootstrap, [TopicSpec(names[t], 1) for t in ("facts", "alerts")],
                  security=secured_kafka.security(secured_kafka.admin))
    args, env = _consumer_args(tmp_path, command, port, names)
    code, stderr = _refused_while_running(secured_kafka, user, args, env, port,
                                          list(grants.values()), grants[removed],
                                          tmp_path / f"{command}.log")
    _said(code, stderr,
          f"dossierflow {command}: Kafka does not allow User:{user} to {said.format(**names)}")


@pytest.mark.kafka
def test_the_worker_whose_group_grant_is_removed_while_it_runs_says_so(
    secured_kafka: SecuredKafka, tmp_path: Path
) -> None:
    port = free_port()
    app = f"runtime-{port}"  # its group, and the prefix of Faust's topics
    group, own_topics = _worker_rights(app)
    code, stderr = _refused_while_running(
        secured_kafka, WORKER, _worker_command(tmp_path, port), {"DOSSIERFLOW_APP_ID": app},
        port, [group, *own_topics], group, tmp_path / "worker.log")
    _said(code, stderr,
          f"dossierflow worker: Kafka does not allow User:{WORKER} to use the consumer group {app}")


@pytest.mark.kafka
def test_a_password_changed_while_the_processes_run_is_said_as_refused_credentials(
    secured_kafka: SecuredKafka, tmp_path: Path
) -> None:
    """The admin gives the worker, the sink and the notifier new passwords while they run,
    and the broker restarts: every connection authenticates anew, with the password each
    process read at start, and each process must end saying its credentials were refused
    (aiokafka retries a refused authentication for ever, silently to the probes)."""
    ports = {command: free_port() for command in ("worker", "sink", "notify")}
    app = f"password-{ports['worker']}"
    names = {command: {"group": f"{app}-{command}", "facts": config.FACTS_TOPIC,
                       "alerts": config.ALERTS_TOPIC} for command in ("sink", "notify")}
    group, own_topics = _worker_rights(app)
    grants = [group, *own_topics,
              *(Grant(PRINCIPALS_OF[c], GROUP, names[c]["group"], "READ") for c in names)]
    logs = {command: tmp_path / f"{command}.log" for command in ports}
    users = {"worker": WORKER, **PRINCIPALS_OF}
    with contextlib.ExitStack() as running, _granted(secured_kafka, grants):
        processes = {"worker": running.enter_context(_running(
            secured_kafka, WORKER, _worker_command(tmp_path, ports["worker"]),
            {"DOSSIERFLOW_APP_ID": app}, ports["worker"], logs["worker"]))}
        for command in names:
            (tmp_path / command).mkdir()
            args, env = _consumer_args(tmp_path / command, command, ports[command],
                                       names[command])
            processes[command] = running.enter_context(_running(
                secured_kafka, users[command], args, env, ports[command], logs[command]))
        with _passwords_changed(secured_kafka, list(users.values())):
            secured_kafka.restart()
            ended = {command: _ended(processes[command], logs[command],
                                     "its password was changed and the broker restarted")
                     for command in processes}
    for command, (code, stderr) in ended.items():
        _said(code, stderr,
              f"dossierflow {command}: Kafka refused the credentials of {users[command]} "
              f"(SASL SCRAM-SHA-512) at {secured_kafka.bootstrap}")


@pytest.mark.kafka
def test_the_worker_whose_events_read_is_removed_while_it_runs_says_so(
    secured_kafka: SecuredKafka, tmp_path: Path
) -> None:
    port = free_port()
    app = f"events-read-{port}"
    events = f"events-of-{port}"  # outside the prefix {app}- of the worker's own topics
    ensure_topics(secured_kafka.bootstrap, [TopicSpec(events, 2)],
                  security=secured_kafka.security(secured_kafka.admin))
    read = Grant(WORKER, TOPIC, events, "READ")
    group, own_topics = _worker_rights(app)
    code, stderr = _refused_while_running(
        secured_kafka, WORKER, _worker_command(tmp_path, port),
        {"DOSSIERFLOW_APP_ID": app, "DOSSIERFLOW_EVENTS_TOPIC": events}, port,
        [group, read, *own_topics], read, tmp_path / "worker.log")
    _said(code, stderr,
          f"dossierflow worker: Kafka does not allow User:{WORKER} to read the topic {events};")


@pytest.mark.kafka
def test_a_refused_committed_offsets_ask_is_said_as_a_refusal_where_aiokafka_says_noerror(
    secured_kafka: SecuredKafka
) -> None:
    """The worker asks its group's committed offsets with aiokafka's admin, which (0.14.0)
    raises a partition's refusal as `NoError`; `committed_offsets_refusal` asks again and
    says it. The sink's principal may use its group but not read the events."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import GroupCoordinatorNotAvailableError, KafkaError
    from aiokafka.structs import TopicPartition

    from dossierflow.kafka.preflight import committed_offsets_refusal

    security = secured_kafka.security(SINK)
    group = "dossierflow-clickhouse-sink"

    async def aiokafka_ask() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=secured_kafka.bootstrap,
                                    **security.as_aiokafka_kwargs())
        await admin.start()
        try:
            for _ in range(60):  # a new broker makes its offsets topic on the first ask
                try:
                    await admin.list_consumer_group_offsets(
                        group, partitions=[TopicPartition(config.EVENTS_TOPIC, 0)])
                except GroupCoordinatorNotAvailableError:
                    await asyncio.sleep(1)
        finally:
            await admin.close()

    with pytest.raises(KafkaError, match="Unable to get offset info"):
        asyncio.run(aiokafka_ask())
    refused = committed_offsets_refusal(secured_kafka.bootstrap, security, group,
                                        config.EVENTS_TOPIC, [0])
    assert str(refused).startswith(
        f"Kafka does not allow User:{SINK} to read the topic {config.EVENTS_TOPIC};")


def test_every_connection_of_an_aiokafka_client_is_opened_by_the_watched_function() -> None:
    """kafka/credentials_watch.py wraps `aiokafka.client.create_conn`: the clients must open
    their connections through that name (aiokafka 0.14.0), and the wrap is made once."""
    import inspect

    import aiokafka.client

    from dossierflow.kafka.credentials_watch import watch_authentications

    for method in (aiokafka.client.AIOKafkaClient.bootstrap,
                   aiokafka.client.AIOKafkaClient._get_conn):
        assert "await create_conn(" in inspect.getsource(method), method.__qualname__
    watch_authentications()
    watched = aiokafka.client.create_conn
    watch_authentications()
    assert aiokafka.client.create_conn is watched and getattr(watched, "watched", False)


def _has_records(kafka: SecuredKafka, topic: str) -> bool:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap,
                             **kafka.security(kafka.admin).as_kafka_python_kwargs())
    try:
        partitions = [TopicPartition(topic, p) for p in
                      consumer.partitions_for_topic(topic) or ()]
        return any(offset > 0 for offset in consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


@pytest.mark.kafka
def test_a_password_changed_while_simulate_publishes_is_said_as_refused_credentials(
    secured_kafka: SecuredKafka, tmp_path: Path
) -> None:
    """kafka-python's producer (`simulate --produce`, as `produce` and `intake serve`)."""
    topic = f"simulated-{free_port()}"
    user = PRINCIPALS.intake_principal
    admin_security = secured_kafka.security(secured_kafka.admin)
    ensure_topics(secured_kafka.bootstrap, [TopicSpec(topic, 2)], security=admin_security)
    log = tmp_path / "simulate.log"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DOSSIERFLOW_KAFKA_")}
    with _granted(secured_kafka, [Grant(user, TOPIC, topic, "WRITE")]), log.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "dossierflow.cli", "simulate", "--produce", "--rate", "20",
             "--topic", topic],
            env={**inherited, **secured_kafka.env(user)}, stdout=subprocess.DEVNULL,
            stderr=err, text=True)
        try:
            deadline = time.monotonic() + 180  # a wait, not an assertion on time
            while not _has_records(secured_kafka, topic):
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "simulate never published"
                time.sleep(0.5)
            with _passwords_changed(secured_kafka, [user]):
                secured_kafka.restart()
                code, stderr = _ended(process, log, "its password was changed")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    _said(code, stderr,
          f"dossierflow simulate: Kafka refused the credentials of {user} (SASL SCRAM-SHA-512)")
