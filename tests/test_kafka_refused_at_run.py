"""A Kafka refusal after start-up (an ACL removed while a process runs) ends the process
with the same one-line sentence as the start-up check, not a generic error.

Against the session's secured broker (tests/secured_kafka.py): the process runs as its own
principal in a consumer group of its own, granted here; once it is consuming, the admin
removes that grant, and the process must stop, exit 2, naming what was refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dossierflow.kafka.acl_admin import _acl
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


def _refused_while_running(kafka: SecuredKafka, user: str, args: list[str],
                           env: dict[str, str], port: int, grants: list[Grant],
                           removed: Grant) -> tuple[int, str]:
    """Grant `grants`, run the process as `user` until /readyz says ready, remove
    `removed`: its exit code and stderr."""
    admin_security = kafka.security(kafka.admin)
    with admin_client(kafka.bootstrap, admin_security) as admin:
        assert not admin.create_acls([_acl(g) for g in grants])["failed"]
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DOSSIERFLOW_KAFKA_")}
    process = subprocess.Popen([sys.executable, "-m", "dossierflow.cli", *args],
                               env={**inherited, **kafka.env(user), **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180  # readiness waits, not assertions on time
        while not _ready(port):
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, f"{args[0]} never became ready"
            time.sleep(0.5)
        with admin_client(kafka.bootstrap, admin_security) as admin:
            admin.delete_acls([_acl(removed)])
        try:
            _, stderr = process.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            process.terminate()
            _, stderr = process.communicate(timeout=30)
            raise AssertionError(f"{args[0]} went on after {removed.line()} was removed:\n"
                                 + stderr[-3000:]) from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        with admin_client(kafka.bootstrap, admin_security) as admin:
            admin.delete_acls([_acl(g) for g in grants])
    return process.returncode, stderr


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
                                          list(grants.values()), grants[removed])
    assert code == 2, stderr[-3000:]
    assert stderr.splitlines()[-1].startswith(
        f"dossierflow {command}: Kafka does not allow User:{user} to {said.format(**names)}"
    ), stderr[-3000:]


@pytest.mark.kafka
def test_the_worker_whose_group_grant_is_removed_while_it_runs_says_so(
    secured_kafka: SecuredKafka, tmp_path: Path
) -> None:
    port = free_port()
    app = f"runtime-{port}"  # its group, and the prefix of Faust's topics
    user = PRINCIPALS.worker_principal
    group = Grant(user, GROUP, app, "READ")
    prefix = [Grant(user, TOPIC, f"{app}-", op, prefixed=True)
              for op in ("CREATE", "READ", "WRITE")]
    code, stderr = _refused_while_running(
        secured_kafka, user,
        ["worker", "--store", "memory://", "--data-dir", str(tmp_path / "w"),
         "--metrics-port", str(port)],
        {"DOSSIERFLOW_APP_ID": app}, port, [group, *prefix], group)
    assert code == 2, stderr[-3000:]
    assert stderr.splitlines()[-1].startswith(
        f"dossierflow worker: Kafka does not allow User:{user} to use the consumer group {app}"
    ), stderr[-3000:]
