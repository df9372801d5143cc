"""The compose stack's Kafka (deploy/docker-compose.yml, deploy/kafka/): SASL_SSL with
SCRAM-SHA-512 and an authorizer, each process as its own principal, set up by the same
`dossierflow kafka users|acls` the Kubernetes Job and the systemd oneshot run.

No Docker daemon runs here, so the files are checked against the code, and the broker is
started as its container would start it: deploy/kafka/start.sh with the committed
server.properties (its ports, host names and paths turned into this machine's), the
certificates of deploy/kafka/make-certs.sh, the Kafka jars of the development broker in
place of the image's, and kafka-setup's own command line; then each process's compose
environment logs in and is held to its rights.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError

from dossierflow import config
from dossierflow.kafka.broker_security import SCRAM, STANDARD_AUTHORIZER
from dossierflow.kafka.diagnosis import connection_refusal_now
from dossierflow.kafka.local_broker import (
    _admin_lists_topics,
    ensure_jars,
    free_port,
    java_executable,
    kafka_classpath,
    kafka_home,
    term_with_parent,
)
from dossierflow.kafka.preflight import check_rights
from dossierflow.kafka.rights import KafkaPrincipals
from dossierflow.kafka.security import KafkaSecurity
from dossierflow.notify.settings import notify_settings
from dossierflow.sinks.settings import SinkSettings
from dossierflow.streams.settings import WorkerSettings
from tests.test_deploy_files import COMPOSE_KAFKA_SETUP, DEPLOY, ROOT, compose, processes

KAFKA = DEPLOY / "kafka"
SECRETS = "/run/secrets/"
CLIENTS = ("worker", "sink", "notify")


def _properties(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.startswith("#"))
    return {key: value for key, value in pairs}


def _mounts(service: Mapping[str, Any]) -> dict[str, str]:
    """Container path -> (secret or config) name, of what a compose service is given."""
    mounts = {}
    for kind in ("secrets", "configs"):
        for entry in service.get(kind, []):
            source, target = (entry, entry) if isinstance(entry, str) else (
                entry["source"], entry.get("target", entry["source"]))
            mounts[target if target.startswith("/") else f"/run/{kind}/{target}"] = source
    return mounts


def _clients() -> dict[str, dict[str, str]]:
    found = {p.command: {k: v or "" for k, v in p.environment.items()}
             for p in processes() if p.where.startswith("compose")}
    return {command: found[command] for command in CLIENTS}


SERVICES = compose()["services"]
BROKER = _properties(KAFKA / "server.properties")


# --- the files against the code ---------------------------------------------------------


def test_each_compose_process_logs_in_over_tls_as_its_own_principal() -> None:
    ca_config = _mounts(SERVICES["kafka"])[BROKER["ssl.truststore.location"]]
    for command, environment in _clients().items():
        mounts = _mounts(SERVICES[command])
        assert environment["DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", command
        assert environment["DOSSIERFLOW_KAFKA_SASL_MECHANISM"] == SCRAM, command
        assert environment["DOSSIERFLOW_KAFKA_SASL_USERNAME"] == f"dossierflow-{command}"
        password = environment["DOSSIERFLOW_KAFKA_SASL_PASSWORD_FILE"]
        assert mounts[password] == f"{command}-kafka-password", command
        assert mounts[environment["DOSSIERFLOW_KAFKA_SSL_CAFILE"]] == ca_config, command
        assert f"SASL_SSL://{environment['DOSSIERFLOW_BOOTSTRAP']}" == (
            BROKER["advertised.listeners"]), command


def test_kafka_setup_gives_each_principal_the_password_its_process_reads() -> None:
    setup = SERVICES[COMPOSE_KAFKA_SETUP]
    (script,) = setup["command"]
    users_part, acls_part = script.split(" && ")
    assert users_part.split()[:3] == ["dossierflow", "kafka", "users"]
    assert acls_part.split()[-3:] == ["dossierflow", "kafka", "acls"]
    folder = users_part.split("--password-dir ")[1].strip()
    mounts = _mounts(setup)
    given = {path.removeprefix(f"{folder}/"): source for path, source in mounts.items()
             if path.startswith(f"{folder}/")}
    assert set(given) == set(KafkaPrincipals().users())
    for command, environment in _clients().items():
        own = _mounts(SERVICES[command])[environment["DOSSIERFLOW_KAFKA_SASL_PASSWORD_FILE"]]
        assert given[environment["DOSSIERFLOW_KAFKA_SASL_USERNAME"]] == own, command
    # the administrator: the broker's one super user, with the broker's own password file
    admin = setup["environment"]["DOSSIERFLOW_KAFKA_SASL_USERNAME"]
    assert BROKER["super.users"] == f"User:{admin}"
    assert admin not in KafkaPrincipals().users()
    assert mounts[setup["environment"]["DOSSIERFLOW_KAFKA_SASL_PASSWORD_FILE"]] == (
        "kafka-admin-password")
    assert "kafka-admin-password" in SERVICES["kafka"]["secrets"]
    for command in CLIENTS:
        assert "kafka-admin-password" not in _mounts(SERVICES[command]).values(), command
        assert COMPOSE_KAFKA_SETUP in SERVICES[command]["depends_on"], command


def test_the_compose_broker_authenticates_and_authorizes_every_client() -> None:
    assert BROKER["listener.security.protocol.map"].split(",")[0] == "SASL_SSL:SASL_SSL"
    assert BROKER["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == SCRAM
    assert BROKER["authorizer.class.name"] == STANDARD_AUTHORIZER
    assert BROKER["allow.everyone.if.no.acl.found"] == "false"
    # the controller answers inside the container only
    assert "CONTROLLER://localhost:" in BROKER["listeners"]
    assert "ports" not in SERVICES["kafka"]
    assert _mounts(SERVICES["kafka"])[BROKER["ssl.keystore.location"]] == "kafka-keystore.pem"


def test_no_certificate_or_password_is_committed() -> None:
    tracked = subprocess.run(["git", "ls-files", "deploy"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    assert not [path for path in tracked if path.endswith((".pem", ".key", "-password"))]
    for secret in compose()["secrets"].values():
        path = (DEPLOY / secret["file"]).resolve().relative_to(ROOT)
        if "secrets" in path.parts:  # recipients.yaml is the operator's too, but not a key
            ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT)
            assert ignored.returncode == 0, f"{path} could be committed"


# --- the broker started as its container starts it ---------------------------------------


def _site(folder: Path) -> Path:
    """deploy/site as an operator prepares it: make-certs.sh's certificates and a password
    (or a placeholder) in every other file compose declares."""
    site = folder / "deploy"
    subprocess.run(["sh", str(KAFKA / "make-certs.sh"), str(site / "site/secrets/kafka"),
                    "kafka", "127.0.0.1"], check=True, capture_output=True, timeout=120)
    data = compose()
    for spec in [*data["secrets"].values(), *data["configs"].values()]:
        path = site / spec["file"]
        if not path.exists():  # those of ClickHouse, SMTP, ... too: the mounts copy them
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(24) + "\n")
    return site


def _container(site: Path, service: str, root: Path) -> Path:
    """What compose mounts into `service`, under `root` in place of /."""
    data = compose()
    declared = {**data["secrets"], **data["configs"]}
    for target, source in _mounts(data["services"][service]).items():
        path = root / target.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(site / declared[source]["file"], path)
    return root


def _here(environment: Mapping[str, Any], root: Path, bootstrap: str) -> dict[str, str]:
    """A compose environment with its mounted paths under `root` and this broker."""
    out = {k: str(root / str(v).lstrip("/")) if str(v).startswith(("/run/", "/etc/"))
           else str(v) for k, v in environment.items()}
    return {**out, "DOSSIERFLOW_BOOTSTRAP": bootstrap}


def _replaced(text: str, replacements: Mapping[str, str]) -> str:
    for old, new in replacements.items():
        assert old in text, f"server.properties no longer holds {old!r}: update this test"
        text = text.replace(old, new)
    return text


def _kafka_bin(folder: Path) -> Path:
    """The two tools start.sh runs, on the development broker's jars."""
    folder.mkdir()
    java = (f'exec {java_executable()} -Xmx256m -Dlog4j.configuration=file:'
            f'{kafka_home() / "log4j.properties"} -cp "{kafka_classpath()}"')
    for name, main in (("kafka-storage.sh", "kafka.tools.StorageTool"),
                       ("kafka-server-start.sh", "kafka.Kafka")):
        (folder / name).write_text(f'#!/bin/sh\n{java} {main} "$@"\n')
        (folder / name).chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def compose_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """(bootstrap, deploy folder, work folder) of the compose broker, once set up."""
    ensure_jars()
    folder = tmp_path_factory.mktemp("compose-kafka")
    site = _site(folder)
    root = _container(site, "kafka", folder / "kafka")
    port, controller = free_port(), free_port()
    bootstrap = f"127.0.0.1:{port}"
    config_file = folder / "server.properties"
    config_file.write_text(_replaced((KAFKA / "server.properties").read_text(), {
        "SASL_SSL://:9092": f"SASL_SSL://{bootstrap}",
        "SASL_SSL://kafka:9092": f"SASL_SSL://{bootstrap}",
        "localhost:9093": f"127.0.0.1:{controller}",
        "/run/secrets/": f"{root}/run/secrets/",
        "/etc/dossierflow/": f"{root}/etc/dossierflow/",
        "/var/lib/kafka/data": str(folder / "data"),
    }))
    log = (folder / "broker.log").open("wb")
    broker = subprocess.Popen(
        ["sh", str(KAFKA / "start.sh")], stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=term_with_parent,
        env={**os.environ, "KAFKA_BIN": str(_kafka_bin(folder / "bin")),
             "KAFKA_CONFIG": str(config_file), "KAFKA_SECRETS": f"{root}/run/secrets",
             "KAFKA_RUNTIME_DIR": str(folder / "runtime"),
             "CLUSTER_ID": SERVICES["kafka"]["environment"]["CLUSTER_ID"]})
    try:
        setup_root = _container(site, COMPOSE_KAFKA_SETUP, folder / "setup")
        setup_env = _here(SERVICES[COMPOSE_KAFKA_SETUP]["environment"], setup_root, bootstrap)
        admin = KafkaSecurity.from_env(setup_env)
        deadline = time.monotonic() + 180  # a readiness wait, not an assertion on time
        while not _admin_lists_topics(bootstrap, admin):
            assert broker.poll() is None, (folder / "broker.log").read_text()[-4000:]
            assert time.monotonic() < deadline, (folder / "broker.log").read_text()[-4000:]
            time.sleep(0.5)
        (script,) = SERVICES[COMPOSE_KAFKA_SETUP]["command"]
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("DOSSIERFLOW_")}
        done = subprocess.run(
            ["sh", "-c", script.replace(SECRETS, f"{setup_root}{SECRETS}")],
            capture_output=True, text=True, timeout=300,
            env={**inherited, **setup_env,
                 "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
        assert done.returncode == 0, done.stdout + done.stderr
        yield bootstrap, site, folder
    finally:
        os.killpg(broker.pid, signal.SIGTERM)
        try:
            broker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(broker.pid, signal.SIGKILL)
            broker.wait()
        log.close()


def _client(compose_kafka: tuple[str, Path, Path], command: str) -> dict[str, str]:
    bootstrap, site, folder = compose_kafka
    root = _container(site, command, folder / command)
    return _here(_clients()[command], root, bootstrap)


def _group(command: str, environment: Mapping[str, str]) -> str:
    if command == "worker":
        return str(WorkerSettings.from_env(dict(environment)).app_id)
    if command == "sink":
        return str(SinkSettings.from_env(environment).group_id)
    return str(notify_settings(environment).group_id)


async def _produce(bootstrap: str, security: KafkaSecurity, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **security.as_aiokafka_kwargs())
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}")
    finally:
        await producer.stop()


@pytest.mark.kafka
@pytest.mark.parametrize("command", CLIENTS)
def test_each_compose_process_logs_in_and_may_use_only_its_own_rights(
    compose_kafka: tuple[str, Path, Path], command: str
) -> None:
    environment = _client(compose_kafka, command)
    bootstrap = compose_kafka[0]
    security = KafkaSecurity.from_env(environment)
    assert connection_refusal_now(bootstrap, security) is None
    check_rights(bootstrap, security, may_create=[], groups=[_group(command, environment)])
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(_produce(bootstrap, security, config.EVENTS_TOPIC))


@pytest.mark.kafka
def test_the_compose_broker_refuses_a_client_without_its_password(
    compose_kafka: tuple[str, Path, Path]
) -> None:
    environment = _client(compose_kafka, "sink")
    Path(environment["DOSSIERFLOW_KAFKA_SASL_PASSWORD_FILE"]).write_text("not-its-password\n")
    refusal = connection_refusal_now(compose_kafka[0], KafkaSecurity.from_env(environment))
    assert refusal is not None and "refused the credentials of dossierflow-sink" in str(refusal)


def test_every_password_file_kafka_users_reads_is_mounted_in_kafka_setup() -> None:
    setup = SERVICES[COMPOSE_KAFKA_SETUP]
    (script,) = setup["command"]
    folder = script.split("--password-dir ")[1].split()[0]
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DOSSIERFLOW_")}
    done = subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", "kafka", "users", "--dry-run",
         "--password-dir", folder],
        capture_output=True, text=True, timeout=120, check=True,
        env={**inherited, **{k: str(v) for k, v in setup["environment"].items()}})
    read = dict(line.split(": SCRAM-SHA-512 password from ") for line in done.stdout.splitlines())
    assert set(read) == {f"User:{user}" for user in KafkaPrincipals().users()}
    assert set(read.values()) <= set(_mounts(setup)), done.stdout
