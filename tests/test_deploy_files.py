"""Every file under deploy/ against the code, since no Docker or Kubernetes runs here.

A dossierflow process in a deploy file (a compose service, a Kubernetes container, a
systemd unit) is recognised by its command (`worker`, `sink`, `notify`, `migrate`, `intake`). Each
environment variable it is given must be one that process reads: a `DOSSIERFLOW_...` name
written in the source (the brief's scan), or one of its settings loaders must react to it
(read it from the mapping, change a setting, or name it in an error). Images are pinned;
ports and paths agree with the code's defaults; the probes point at served paths.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from dossierflow.config import StoreSettings
from dossierflow.intake.settings import IntakeSettings
from dossierflow.kafka.security import KafkaSecurity
from dossierflow.notify.settings import (
    NotifySettings,
    notify_settings,
    smtp_settings,
    zalo_settings,
)
from dossierflow.rules.catalog import Catalog
from dossierflow.sink_service import build_app
from dossierflow.sinks.kafka_sink import SinkStatus
from dossierflow.sinks.settings import SinkSettings
from dossierflow.streams.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
K8S = DEPLOY / "k8s"
SYSTEMD = DEPLOY / "systemd"
SOURCE_DIRS = ("rules", "schemas", "streams", "sinks", "src")
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
PROCESSES = ("worker", "sink", "notify", "migrate", "intake")
KAFKA_SETUP = "dossierflow-kafka-setup.service"
CLICKHOUSE_SETUP = "dossierflow-clickhouse-users.service"
ADMIN_UNITS = (KAFKA_SETUP, CLICKHOUSE_SETUP)
"""The administrators' one-shots, not pipeline processes (tests/test_deploy_security.py,
tests/test_deploy_clickhouse_users.py)."""
COMPOSE_KAFKA_SETUP = "kafka-setup"
SINK_PROXY = ("proxy", "proxy-token")
"""The sink pod's containers that add its token for people: no dossierflow process."""

Loader = Callable[[Mapping[str, str]], Any]


@dataclass(frozen=True)
class Process:
    """One dossierflow process as a deploy file starts it."""

    where: str
    command: str
    environment: dict[str, str | None]
    """Name -> value (None when it comes from a Secret)."""
    spec: Any = None
    """The compose service or Kubernetes container it came from."""


# --- what the code reads -------------------------------------------------------------------


def source_literals() -> set[str]:
    names: set[str] = set()
    for folder in SOURCE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            names.update(re.findall(r"DOSSIERFLOW_[A-Z0-9_]*[A-Z0-9]", path.read_text()))
    return names


def loaders(command: str) -> list[Loader]:
    """The settings loaders of a process."""
    kafka: list[Loader] = [KafkaSecurity.from_env]
    if command == "worker":
        return [lambda env: WorkerSettings.from_env(dict(env)), *kafka]
    if command == "sink":
        return [SinkSettings.from_env, StoreSettings.from_env, *kafka]
    if command == "migrate":
        return [StoreSettings.from_env]
    if command == "notify":
        return [notify_settings, smtp_settings, zalo_settings, *kafka]
    if command == "intake":
        return [IntakeSettings.from_env, *kafka]
    raise AssertionError(f"unknown dossierflow command {command!r}")


class _RecordingEnv(dict[str, str]):
    """An environment that remembers every name looked up in it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def _other_value(value: str) -> str:
    if value.isdigit():
        return str(int(value) + 1)
    lowered = value.lower()
    if lowered in {"true", "false", "1", "0", "yes", "no"}:
        return "false" if lowered in {"true", "1", "yes"} else "true"
    return value + "x"


def _outcome(loader: Loader, env: Mapping[str, str]) -> Any:
    try:
        return loader(env)
    except Exception as exc:  # an error is an outcome too: it may name the variable
        return f"{type(exc).__name__}: {exc}"


def reads(loader: Loader, name: str, value: str) -> bool:
    recording = _RecordingEnv({})
    baseline = _outcome(loader, recording)
    if name in recording.asked:
        return True
    for probe in (value, _other_value(value)):
        outcome = _outcome(loader, {name: probe})
        if outcome != baseline or (isinstance(outcome, str) and name in outcome):
            return True
    return False


# --- the deploy files ----------------------------------------------------------------------


def _yaml_documents(path: Path) -> list[Any]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def k8s_objects() -> list[dict[str, Any]]:
    return [
        document
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for document in _yaml_documents(path)
    ]


def dossierflow_containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers of a workload that run dossierflow (not the sink's proxy)."""
    return [c for c in workload["spec"]["template"]["spec"]["containers"]
            if c["name"] not in SINK_PROXY]


def k8s_workloads() -> Iterator[dict[str, Any]]:
    for obj in k8s_objects():
        if obj["kind"] in {"Deployment", "StatefulSet"}:
            yield obj


def _config_map(name: str) -> dict[str, str]:
    (data,) = [
        obj["data"]
        for obj in k8s_objects()
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == name
    ]
    return {key: str(value) for key, value in data.items()}


def _systemd_env_file(path: str) -> dict[str, str]:
    """An EnvironmentFile of a unit: the shipped file, or its `.example` template."""
    name = Path(path).name
    shipped = SYSTEMD / name
    file = shipped if shipped.exists() else SYSTEMD / f"{name}.example"
    assert file.exists(), f"{path}: no {shipped.name} or {shipped.name}.example in deploy/systemd"
    pairs = (
        line.split("=", 1)
        for line in file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {key: value for key, value in pairs}


def systemd_units() -> dict[str, configparser.ConfigParser]:
    units = {}
    for path in sorted(SYSTEMD.glob("*.service")):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        # Repeated keys (Environment=) are legal in systemd; keep them all, joined.
        parser._dict = _MultiDict  # type: ignore[attr-defined]
        parser.read_string(path.read_text())
        units[path.name] = parser
    return units


class _MultiDict(dict[str, Any]):
    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, list) and key in self:
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def _unit_values(unit: configparser.ConfigParser, key: str) -> list[str]:
    raw = unit["Service"].get(key)
    return [] if raw is None else [line for line in raw.split("\n") if line]


def processes() -> list[Process]:
    found: list[Process] = []
    for name, service in compose()["services"].items():
        if name == COMPOSE_KAFKA_SETUP:
            continue  # the Kafka administrator's (tests/test_deploy_compose_kafka.py)
        if str(service.get("image", "")).startswith("dossierflow:"):
            variables = {
                k: None if v is None else str(v) for k, v in service["environment"].items()
            }
            found.append(Process(f"compose {name}", service["command"][0], variables, service))
    shared = _config_map("dossierflow-env")
    for workload in k8s_workloads():
        pod = workload["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            if container["name"] in SINK_PROXY:
                continue  # test_deploy_sink_proxy.py
            env: dict[str, str | None] = {}
            for source in container.get("envFrom", []):
                env.update(_config_map(source["configMapRef"]["name"]))
            for item in container.get("env", []):
                env[item["name"]] = item.get("value")
            where = f"k8s {workload['metadata']['name']}/{container['name']}"
            found.append(Process(where, container["args"][0], env, container))
    assert shared  # every process above takes it through envFrom
    for name, unit in systemd_units().items():
        if name in ADMIN_UNITS:
            continue
        env = {}
        for path in _unit_values(unit, "EnvironmentFile"):
            env.update(_systemd_env_file(path))
        for line in _unit_values(unit, "Environment"):
            key, value = line.split("=", 1)
            env[key] = value
        (main,) = _unit_values(unit, "ExecStart")
        assert not _unit_values(unit, "ExecStartPre"), f"{name}: one process per unit"
        found.append(Process(f"systemd {name}", main.split()[1], env))
    return found


# --- tests ---------------------------------------------------------------------------------


def test_every_deploy_yaml_and_json_file_parses() -> None:
    files = [*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")]
    assert len(files) >= 12
    for path in files:
        assert _yaml_documents(path), f"{path} is empty"
    for path in DEPLOY.rglob("*.json"):
        json.loads(path.read_text())


def test_the_compose_file_follows_the_compose_specification() -> None:
    # schema/compose-spec.json of github.com/compose-spec/compose-spec at commit 170098b
    # (Apache-2.0), the schema `docker compose config` validates against.
    schema = json.loads((ROOT / "tests" / "fixtures" / "compose-spec.json").read_text())
    errors = [
        f"{'.'.join(map(str, error.path))}: {error.message}"
        for error in jsonschema.Draft7Validator(schema).iter_errors(compose())
    ]
    assert errors == []


def test_the_deploy_files_start_each_process() -> None:
    found = processes()
    commands = {process.command for process in found}
    assert commands == set(PROCESSES)
    kinds = {process.where.split()[0] for process in found}
    assert kinds == {"compose", "k8s", "systemd"}


def test_every_environment_variable_set_is_one_the_process_reads() -> None:
    literals = source_literals()
    assert "DOSSIERFLOW_CLICKHOUSE_URL" in literals  # the scan finds what it must
    unknown = []
    for process in processes():
        process_loaders = loaders(process.command)
        for name, value in process.environment.items():
            assert name.startswith("DOSSIERFLOW_"), f"{process.where}: {name} is not ours"
            if name in literals:
                continue
            if not any(reads(loader, name, value or "secret") for loader in process_loaders):
                unknown.append(f"{process.where}: {name}")
    assert unknown == []


def test_the_reader_check_tells_a_read_variable_from_an_unread_one() -> None:
    assert reads(WorkerSettings.from_env, "DOSSIERFLOW_METRICS_PORT", "9108")
    assert reads(KafkaSecurity.from_env, "DOSSIERFLOW_KAFKA_SASL_MECHANISM", "PLAIN")
    assert reads(SinkSettings.from_env, "DOSSIERFLOW_BOOTSTRAP", "kafka:9092")
    # The sink's own knobs are DOSSIERFLOW_SINK_*: this name would be ignored.
    assert not reads(SinkSettings.from_env, "DOSSIERFLOW_HTTP_HOST", "0.0.0.0")


def _image_of(reference: str) -> tuple[str, str]:
    name, _, tag = reference.partition("@")[0].rpartition(":")
    return name, tag


def test_every_image_is_pinned() -> None:
    images = [str(s["image"]) for s in compose()["services"].values()]
    for workload in k8s_workloads():
        pod = workload["spec"]["template"]["spec"]
        images += [c["image"] for c in pod.get("initContainers", []) + pod["containers"]]
    bases = re.findall(r"^FROM\s+(\S+)", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
    assert len(bases) == 2, "the Dockerfile has a build and a runtime stage"
    for reference in images + bases:
        name, tag = _image_of(reference)
        pinned = "@sha256:" in reference or re.match(r"^v?\d+\.\d+\.\d+", tag)
        assert pinned, f"{reference}: pin an exact version (x.y.z) or a digest"
        if name.endswith("dossierflow"):
            assert tag == VERSION, f"{reference}: the project is at {VERSION}"
    pom = (ROOT / "src" / "dossierflow" / "kafka" / "broker" / "pom.xml").read_text()
    kafka_version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert kafka_version, "the broker's pom.xml names its Kafka version"
    assert compose()["services"]["kafka"]["image"] == f"apache/kafka:{kafka_version[1]}"


def test_the_image_base_is_pinned_by_digest() -> None:
    # A tag can be re-pointed at other content; a digest names the content itself.
    bases = re.findall(r"^FROM\s+(\S+)", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
    assert len(bases) == 2
    for reference in bases:
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", reference), reference
    assert len(set(bases)) == 1, "build and run on the same base: the venv moves between them"


def test_grafana_plugins_are_pinned_like_the_images() -> None:
    environment = compose()["services"]["grafana"]["environment"]
    assert "GF_INSTALL_PLUGINS" not in environment, "it installs the newest plugin version"
    plugins = str(environment["GF_PLUGINS_PREINSTALL_SYNC"]).split(",")
    assert "grafana-clickhouse-datasource" in {p.partition("@")[0] for p in plugins}
    for plugin in plugins:
        assert re.fullmatch(r"[\w-]+@\d+\.\d+\.\d+", plugin), f"{plugin}: pin id@x.y.z"


def test_the_image_build_copies_every_package_folder() -> None:
    package_dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"
    ]
    roots = {Path(folder).parts[0] for folder in package_dirs.values()}
    copied = set(re.findall(r"^COPY (\S+) \1$", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE))
    assert roots <= copied, f"deploy/Dockerfile does not COPY {sorted(roots - copied)}"


def test_the_image_runs_as_a_user_and_exposes_the_default_ports() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    user = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert user and not user[-1].startswith(("0", "root"))
    exposed = {int(p) for line in re.findall(r"^EXPOSE (.+)$", dockerfile, re.MULTILINE)
               for p in line.split()}
    assert exposed == {WorkerSettings().metrics_port, SinkSettings().http_port,
                       NotifySettings().metrics_port, IntakeSettings().http_port}


def test_every_compose_state_folder_is_made_in_the_image_for_its_user() -> None:
    # A named volume mounted on a folder the image lacks is created by Docker owned by root:
    # user 10001 could not write its state there (the intake's memory file, once).
    made = re.search(r"install -d -o 10001 -g 10001 ((?:\S+\s*(?:\\\n\s*)?)+)",
                     (DEPLOY / "Dockerfile").read_text())
    assert made, "the Dockerfile makes no state folder for user 10001"
    folders = set(made.group(1).replace("\\", " ").split())
    mounted = {volume.split(":", 1)[1]
               for service in compose()["services"].values()
               for volume in service.get("volumes", [])
               if isinstance(volume, str) and ":/var/lib/dossierflow/" in volume}
    assert mounted and mounted <= folders, f"not made in the image: {sorted(mounted - folders)}"


def _ports() -> dict[str, int]:
    return {
        "worker": WorkerSettings().metrics_port,
        "sink": SinkSettings().http_port,
        "notify": NotifySettings().metrics_port,
        "intake": IntakeSettings().http_port,
    }


def test_ports_agree_with_the_code_defaults() -> None:
    ports = _ports()
    for process in processes():
        if process.command == "worker":
            assert process.environment.get("DOSSIERFLOW_METRICS_PORT") == str(ports["worker"])
        if process.where.startswith("k8s") and process.command in ports:
            container_ports = [p["containerPort"] for p in process.spec["ports"]]
            assert container_ports == [ports[process.command]], process.where
            named = {p["name"]: p["containerPort"] for p in process.spec["ports"]}
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                if probe in process.spec:
                    action = process.spec[probe].get("httpGet") or process.spec[probe]["tcpSocket"]
                    port = named.get(action["port"], action["port"])
                    assert port == ports[process.command], f"{process.where} {probe}"
    k8s_jobs = {job["job_name"]: job for job in yaml.safe_load(
        (DEPLOY / "prometheus" / "kubernetes.yml").read_text())["scrape_configs"]}
    for workload in k8s_workloads():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        (container,) = dossierflow_containers(workload)
        command = container["args"][0]
        job = k8s_jobs[f"dossierflow-{command}"]
        (sd,) = job["kubernetes_sd_configs"]
        assert sd["selectors"] == [
            {"role": "pod", "label": f"app.kubernetes.io/name={labels['app.kubernetes.io/name']}"}
        ]
        (kept,) = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
        (port,) = container["ports"]
        assert re.fullmatch(kept["regex"], port["name"]), command
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    for command, port in ports.items():
        (dns,) = jobs[f"dossierflow-{command}"]["dns_sd_configs"]
        assert dns == {"names": [command], "type": "A", "port": port}
        assert command in compose()["services"], f"the scrape job names service {command}"
    for command in ("sink", "intake"):
        published = f"127.0.0.1:{ports[command]}:{ports[command]}"
        assert compose()["services"][command]["ports"] == [published], command


def _mounts(spec: dict[str, Any]) -> dict[str, str]:
    """Container path -> volume (k8s) or source (compose) of a process's mounts."""
    if "volumeMounts" in spec:
        return {m["mountPath"]: m["name"] for m in spec["volumeMounts"]}
    mounts = {}
    for volume in spec.get("volumes", []):
        source, _, target = volume.partition(":")
        mounts[target.split(":")[0] or source] = source if target else "anonymous"
    return mounts


def _under(path: str, mounts: dict[str, str]) -> str | None:
    for target, source in mounts.items():
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return source
    return None


def test_paths_given_to_the_processes_are_on_the_right_volumes() -> None:
    # The recipients are personal data: on a secret (tests/test_deploy_security.py).
    files = {"DOSSIERFLOW_CATALOG", "DOSSIERFLOW_NOTIFY_CATALOG"}
    state = {"DOSSIERFLOW_DATA_DIR", "DOSSIERFLOW_NOTIFY_STATE", "DOSSIERFLOW_INTAKE_MEMORY_FILE",
             "DOSSIERFLOW_INTAKE_REJECTIONS_FILE"}
    generated = yaml.safe_load((K8S / "kustomization.yaml").read_text())["configMapGenerator"]
    (file_keys,) = [
        [entry.split("=")[0] for entry in g["files"]]
        for g in generated
        if g["name"] == "dossierflow-files"
    ]
    for process in processes():
        if process.spec is None:
            continue  # systemd: paths on the host (StateDirectory, /etc/dossierflow)
        mounts = _mounts(process.spec)
        for name, value in process.environment.items():
            if name in files:
                assert value is not None
                source = _under(value, mounts)
                assert source in {"files", "./site/catalog.yaml"}, f"{process.where}: {name}"
                if process.where.startswith("k8s"):
                    assert Path(value).name in file_keys, f"{process.where}: {name}={value}"
            if name in state:
                assert value is not None
                source = _under(value, mounts)
                assert source not in {None, "files", "./site/catalog.yaml"}, process.where


def test_the_worker_state_lives_on_its_own_volume_and_replicas_fit_the_partitions() -> None:
    (worker,) = [w for w in k8s_workloads() if w["metadata"]["name"] == "worker"]
    assert worker["kind"] == "StatefulSet"
    (claim,) = worker["spec"]["volumeClaimTemplates"]
    (container,) = dossierflow_containers(worker)
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert _mounts(container)[env["DOSSIERFLOW_DATA_DIR"]] == claim["metadata"]["name"]
    assert worker["spec"]["replicas"] <= int(env["DOSSIERFLOW_PARTITIONS"])
    service = compose()["services"]["worker"]
    partitions = int(service["environment"]["DOSSIERFLOW_PARTITIONS"])
    assert 1 < service["deploy"]["replicas"] <= partitions


def test_systemd_restarts_every_process_on_failure() -> None:
    units = systemd_units()
    assert set(units) == {f"dossierflow-{c}.service" for c in PROCESSES} | set(ADMIN_UNITS)
    for name, unit in units.items():
        assert _unit_values(unit, "Restart") == ["on-failure"], name
        assert _unit_values(unit, "User") == ["dossierflow"], name


def test_compose_restarts_the_worker_and_mounts_the_dashboards_grafana_loads() -> None:
    services = compose()["services"]
    assert services["worker"]["restart"] == "on-failure"
    providers = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "dossierflow.yaml").read_text()
    )["providers"]
    mounts = dict(volume.split(":")[:2][::-1] for volume in services["grafana"]["volumes"])
    for provider in providers:
        assert mounts[provider["options"]["path"]] == "./grafana/dashboards"
    prometheus_mounts = dict(
        volume.split(":")[:2][::-1] for volume in services["prometheus"]["volumes"]
    )
    assert prometheus_mounts["/etc/prometheus"] == "./prometheus"


def test_the_sink_probes_point_at_paths_the_sink_serves() -> None:
    app = build_app(
        SinkStatus(store="chdb:///x"), SinkSettings(), report_store=None,  # type: ignore[arg-type]
        catalog=Catalog(),
    )
    served = {resource.canonical for resource in app.router.resources()}
    (sink,) = [w for w in k8s_workloads() if w["metadata"]["name"] == "sink"]
    (container,) = dossierflow_containers(sink)
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] in served, probe


def test_the_cluster_guide_names_every_table_and_view_the_migrations_create() -> None:
    # docs/operations.md, "A ClickHouse cluster": how each stored object becomes a cluster one.
    operations = (ROOT / "docs" / "operations.md").read_text()
    guide = operations.split("### A ClickHouse cluster", 1)[1].split("\n## ", 1)[0]
    sql = "\n".join(path.read_text() for path in (ROOT / "schemas" / "clickhouse").glob("*.sql"))
    created = set(re.findall(
        r"CREATE (?:TABLE|MATERIALIZED VIEW) IF NOT EXISTS (\w+)", sql
    ))
    assert {"dossier_facts", "dossier_state_mv", "unit_day_changes"} <= created
    assert sorted(name for name in created if f"`{name}`" not in guide) == []


def test_compose_creates_the_user_grafanas_clickhouse_source_logs_in_as() -> None:
    (source,) = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "clickhouse.yaml").read_text()
    )["datasources"]
    user = source["jsonData"]["username"]
    password_variable = source["secureJsonData"]["password"].strip("${}")
    role_sql = (DEPLOY / "clickhouse" / "readonly_role.sql").read_text()
    assert f"CREATE USER IF NOT EXISTS {user}\n" in role_sql
    services = compose()["services"]
    # Grafana's image reads GF_X__FILE into GF_X: the password comes from the secret file.
    assert password_variable.startswith("GF_")
    grafana = services["grafana"]
    assert grafana["environment"][f"{password_variable}__FILE"] == "/run/secrets/bi-password"
    assert "bi-password" in grafana["secrets"]
    (creator,) = [
        name for name, service in services.items()
        if "readonly_role.sql" in " ".join(service.get("command") or [])
    ]
    service = services[creator]
    (sql_mount,) = [v for v in service["volumes"] if v.startswith("./clickhouse:")]
    assert (DEPLOY / "clickhouse" / "readonly_role.sql").is_file()
    assert f"{sql_mount.split(':')[1]}/readonly_role.sql" in service["command"][0]
    assert "/run/secrets/bi-password" in service["command"][0]  # the password Grafana is given
    assert "bi-password" in service["secrets"]
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["grafana"]["depends_on"][creator]["condition"] == (
        "service_completed_successfully"
    )


def test_compose_gives_the_bi_user_the_password_of_its_secret_whatever_it_holds(
    tmp_path: Path,
) -> None:
    """The bi-user service's script, run by dash (the image's /bin/sh) with clickhouse-client
    replaced by `cat`, writes a SQL string that ClickHouse (chDB) reads back as the password;
    the administrator's password reaches the client in its environment, never its arguments."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    script = compose()["services"]["bi-user"]["command"][0]
    script = script.replace("$$", "$").replace("/sql/", f"{DEPLOY / 'clickhouse'}/")
    script = script.replace("/run/secrets/", f"{secrets}/")
    admin = "admin's $ecret"
    (secrets / "clickhouse-admin-password").write_text(admin + "\n")
    client = tmp_path / "clickhouse-client"
    client.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$0.args"\n'
        'printf %s "$CLICKHOUSE_PASSWORD" > "$0.password"\nexec cat\n'
    )
    client.chmod(0o755)
    passwords = ["plain", "a&b", "back\\slash", "pi|pe", "it's", "\\'&|$HOME \\\\", "Mật khẩu"]
    literals = []
    for password in passwords:
        (secrets / "bi-password").write_text(password + "\n")  # secret files end with one
        sent = subprocess.run(
            ["/bin/sh", "-c", script], env={"PATH": f"{tmp_path}:{os.environ['PATH']}"},
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout
        literals += re.findall(r"sha256_password BY ('(?:[^'\\]|\\.)*')\n", sent)
        assert admin not in Path(f"{client}.args").read_text()
        assert Path(f"{client}.password").read_text() == admin
    assert len(literals) == len(passwords), literals
    query = "SELECT " + ", ".join(f"hex({literal})" for literal in literals)
    read = subprocess.run(
        [sys.executable, "-c", f"import chdb; print(chdb.query({query!r}, 'TSV'), end='')"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout
    assert read.split() == [password.encode().hex().upper() for password in passwords]


def test_the_intake_keeps_one_replica_with_its_memory_on_its_own_volume() -> None:
    """Its memory file is held by one process at a time (docs/intake.md, Memory): one
    replica, replaced with Recreate, the file and the rejections on its claim; in compose a
    named volume, in systemd its state directory."""
    (intake,) = [w for w in k8s_workloads() if w["metadata"]["name"] == "intake"]
    assert intake["kind"] == "Deployment" and intake["spec"]["replicas"] == 1
    assert intake["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = dossierflow_containers(intake)
    env = {item["name"]: item.get("value") for item in container["env"]}
    volumes = {v["name"]: v for v in intake["spec"]["template"]["spec"]["volumes"]}
    for name in ("DOSSIERFLOW_INTAKE_MEMORY_FILE", "DOSSIERFLOW_INTAKE_REJECTIONS_FILE"):
        volume = _under(env[name], _mounts(container))
        assert volume is not None and "persistentVolumeClaim" in volumes[volume], name
    service = compose()["services"]["intake"]
    assert "deploy" not in service, "one container"
    memory = service["environment"]["DOSSIERFLOW_INTAKE_MEMORY_FILE"]
    assert _under(memory, _mounts(service)) == "intake"
    unit = systemd_units()["dossierflow-intake.service"]
    (state,) = _unit_values(unit, "StateDirectory")
    (process,) = [p for p in processes() if p.where == "systemd dossierflow-intake.service"]
    assert str(process.environment["DOSSIERFLOW_INTAKE_MEMORY_FILE"]).startswith(
        f"/var/lib/{state}/")


def test_the_intake_probes_point_at_paths_intake_serve_serves() -> None:
    from dossierflow.http_access import HttpAccess
    from dossierflow.intake.server import IntakeEndpoint, build_app
    from dossierflow.intake.session import IntakeSession

    settings = IntakeSettings()
    endpoint = IntakeEndpoint(settings, IntakeSession(), Path("rejections.jsonl"))
    app = build_app(endpoint, HttpAccess.for_listener("127.0.0.1", (), "t" * 32))
    served = {resource.canonical for resource in app.router.resources()}
    (intake,) = [w for w in k8s_workloads() if w["metadata"]["name"] == "intake"]
    (container,) = dossierflow_containers(intake)
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] in served, probe
