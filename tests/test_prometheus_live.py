"""A real Prometheus (Debian's package) scraping a real worker on the session's broker.

Prometheus runs deploy/prometheus/rules.yml unchanged, with the worker job of
deploy/prometheus/prometheus.yml pointed at the test worker and scrape and evaluation
intervals of one second. The tests run in file order: the last one stops the worker.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.promtool import PROMETHEUS_DIR
from tests.test_grafana_dashboards import dashboard_queries
from tests.worker_process import WorkerTopics, free_port, start_worker, stop_worker

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(600)]

WORKER_JOB = "dossierflow-worker"
K8S_WORKER = Path(__file__).resolve().parents[1] / "deploy" / "k8s" / "worker.yaml"
LAG_PANEL = "ops.json: Consumer lag per partition [A]"


@dataclass
class Stack:
    worker: subprocess.Popen[bytes]
    worker_port: int
    prometheus: str
    """Base URL of the Prometheus HTTP API."""

    @property
    def instance(self) -> str:
        return f"127.0.0.1:{self.worker_port}"

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.prometheus}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:  # a bad query answers 400 with its reason
            body = json.load(exc)
        assert body["status"] == "success", f"{path} {params}: {body}"
        return body["data"]


def wait_until(check: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    """`check()`'s first truthy result, polled every half second (a loaded machine is slow)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.5)


def prometheus_config(worker_target: str) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with its worker job on `worker_target` only."""
    config: dict[str, Any] = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == WORKER_JOB]
    job.pop("dns_sd_configs")
    job["static_configs"] = [{"targets": [worker_target]}]
    config["scrape_configs"] = [job]
    return config


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    executable = shutil.which("prometheus")
    assert executable, "prometheus is not installed: run `bash deploy/install_prometheus.sh`"
    tmp = tmp_path_factory.mktemp("prometheus-live")
    topics = WorkerTopics(kafka_bootstrap)
    topics.create()
    worker_port = free_port()
    worker = start_worker(topics, tmp, metrics_port=worker_port)
    config = tmp / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(f"127.0.0.1:{worker_port}")))
    port = free_port()
    log = (tmp / "prometheus.log").open("wb")
    prometheus = subprocess.Popen(
        [
            executable,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stack = Stack(worker, worker_port, f"http://127.0.0.1:{port}")
    try:
        yield stack
    finally:
        stop_worker(worker)
        prometheus.terminate()
        try:
            prometheus.wait(timeout=30)
        except subprocess.TimeoutExpired:
            prometheus.kill()
            prometheus.wait()
        log.close()


def _worker_up(stack: Stack) -> bool:
    try:
        result = stack.api("query", query=f'up{{job="{WORKER_JOB}"}}')["result"]
    except (urllib.error.URLError, ConnectionError):
        return False  # Prometheus is still starting
    return [sample["value"][1] for sample in result] == ["1"]


def test_prometheus_scrapes_the_worker_and_loads_every_rule(stack: Stack) -> None:
    wait_until(lambda: _worker_up(stack), "Prometheus to scrape the worker")
    groups = stack.api("rules")["groups"]
    loaded = {rule["name"] for group in groups for rule in group["rules"]}
    in_file = {
        rule["alert"]
        for group in yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    assert loaded == in_file
    assert all(rule["health"] != "err" for group in groups for rule in group["rules"])
    # The worker's own series, with the job and instance labels the rules select on:
    lag = wait_until(
        lambda: stack.api("query", query=f'dossierflow_consumer_lag{{job="{WORKER_JOB}"}}')[
            "result"
        ],
        "the worker to report its consumer lag",
    )
    assert {sample["metric"]["instance"] for sample in lag} == {stack.instance}


def test_every_dashboard_query_runs_on_the_real_prometheus(stack: Stack) -> None:
    wait_until(lambda: _worker_up(stack), "Prometheus to scrape the worker")
    results = {}
    for where, expr in dashboard_queries():
        # `api` asserts success: a query Prometheus cannot parse or run answers an error.
        results[where] = stack.api("query", query=expr)["result"]
    workers_up = results["ops.json: Workers up [A]"]
    assert [sample["value"][1] for sample in workers_up] == ["1"]
    lag = wait_until(
        lambda: stack.api("query", query=dict(dashboard_queries())[LAG_PANEL])["result"],
        "the lag per partition",
    )
    # One series per partition of the worker's events topic (WorkerTopics: 3).
    assert sorted(sample["metric"]["partition"] for sample in lag) == ["0", "1", "2"]


def test_the_kubernetes_probes_of_the_worker_answer(stack: Stack) -> None:
    wait_until(lambda: _worker_up(stack), "Prometheus to scrape the worker")
    (container,) = [
        container
        for document in yaml.safe_load_all(K8S_WORKER.read_text())
        if document and document["kind"] == "StatefulSet"
        for container in document["spec"]["template"]["spec"]["containers"]
    ]
    for probe in ("livenessProbe", "readinessProbe"):
        path = container[probe]["httpGet"]["path"]
        with urllib.request.urlopen(f"http://{stack.instance}{path}", timeout=10) as response:
            assert response.status == 200, f"{probe} {path} answered {response.status}"


def test_worker_down_fires_after_the_worker_stops(stack: Stack) -> None:
    wait_until(lambda: _worker_up(stack), "Prometheus to scrape the worker")
    assert not _firing(stack, "DossierflowWorkerDown")
    stop_worker(stack.worker)
    # `for: 1m` in rules.yml: pending first, then firing about a minute after the stop.
    alert = wait_until(lambda: _firing(stack, "DossierflowWorkerDown"), "the alert", 240)
    assert alert["labels"]["instance"] == stack.instance
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["summary"] == f"Worker {stack.instance} is down"


def _firing(stack: Stack, name: str) -> dict[str, Any] | None:
    alerts = stack.api("alerts")["alerts"]
    return next(
        (a for a in alerts if a["labels"]["alertname"] == name and a["state"] == "firing"), None
    )
