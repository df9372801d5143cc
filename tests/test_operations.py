"""What an operator sees: one line per failure, honest health endpoints, bounded logs.

Real processes (`python -m dossierflow.cli ...`) against a real broker that is started only
after them, on a port they were told about, so they first see Kafka down and then up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dossierflow.cli import build_parser, main
from dossierflow.kafka.local_broker import LocalKafka, free_port

BAD_CATALOGUE = "procedures:\n  - code: X\n    name: 1\n"


def dossierflow(*args: str, env: dict[str, str] | None = None, timeout: float = 120
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", *args], capture_output=True, text=True,
        timeout=timeout, env={**os.environ, **(env or {})},
    )


def worker_args(tmp_path: Path, bootstrap: str, metrics_port: int) -> list[str]:
    return [
        "worker", "--bootstrap", bootstrap, "--app-id", f"ops-{metrics_port}",
        "--events-topic", f"ops-{metrics_port}-events", "--alerts-topic",
        f"ops-{metrics_port}-alerts", "--facts-topic", f"ops-{metrics_port}-facts",
        "--dead-letter-topic", f"ops-{metrics_port}-dead", "--partitions", "2",
        "--store", "memory://", "--data-dir", str(tmp_path / "worker"),
        "--metrics-port", str(metrics_port),
    ]


def test_worker_with_a_malformed_catalogue_names_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.yaml"
    bad.write_text(BAD_CATALOGUE)
    args = [*worker_args(tmp_path, f"127.0.0.1:{free_port()}", free_port()), "--catalog", str(bad)]
    done = dossierflow(*args)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"dossierflow worker: {bad}: ") and "procedures[0].name" in line
    debug = dossierflow("--debug", *args)
    assert debug.returncode == 2 and "Traceback (most recent call last)" in debug.stderr


def test_worker_with_kafka_down_ends_with_one_line(tmp_path: Path) -> None:
    port = free_port()
    done = dossierflow(*worker_args(tmp_path, f"127.0.0.1:{port}", free_port()),
                       env={"DOSSIERFLOW_STARTUP_WAIT": "6"})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith(
        f"dossierflow worker: no Kafka broker answered at 127.0.0.1:{port} for "
    )
    assert len(done.stderr.splitlines()) < 15, done.stderr  # not 60-80 lines a second


def test_sink_with_kafka_down_ends_with_one_line(tmp_path: Path) -> None:
    port = free_port()
    done = dossierflow(
        "sink", "--bootstrap", f"127.0.0.1:{port}", "--http-port", str(free_port()),
        "--store", f"chdb://{tmp_path / 'ch'}", env={"DOSSIERFLOW_STARTUP_WAIT": "6"},
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith(
        f"dossierflow sink: no Kafka broker answered at 127.0.0.1:{port} for "
    )
    assert len(done.stderr.splitlines()) < 15, done.stderr


def test_a_bad_setting_is_named_by_its_variable(tmp_path: Path) -> None:
    done = dossierflow(*worker_args(tmp_path, "127.0.0.1:1", free_port()),
                       env={"DOSSIERFLOW_BATCH_SIZE": "many"})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "dossierflow worker: DOSSIERFLOW_BATCH_SIZE='many': expected a whole number"
    ]


@pytest.mark.parametrize("command", ["worker", "sink", "notify"])
def test_a_misspelt_loglevel_is_a_usage_error_naming_the_levels(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--loglevel", "verbose"])
    assert exited.value.code == 2
    assert ("argument --loglevel: invalid choice: 'verbose' (choose from 'debug', 'info', "
            "'warning', 'error')") in capsys.readouterr().err
    assert build_parser().parse_args([command, "--loglevel", "DEBUG"]).loglevel == "debug"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def wait_until(url: str, status: int, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    last: tuple[int, str] = (0, "")
    while time.monotonic() < deadline:
        last = get(url)
        if last[0] == status:
            return last[1]
        time.sleep(0.5)
    raise AssertionError(f"{url} never answered {status}; last {last}")


@contextmanager
def process(args: list[str], log: Path, env: dict[str, str], cwd: Path | None = None
            ) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dossierflow.cli", *args], stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=cwd)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.kafka
def test_readyz_says_503_while_kafka_is_down_and_200_once_it_is_up(tmp_path: Path) -> None:
    kafka_port, worker_port, sink_port = free_port(), free_port(), free_port()
    bootstrap = f"127.0.0.1:{kafka_port}"
    env = {"DOSSIERFLOW_STARTUP_WAIT": "0"}  # wait for Kafka for ever
    worker_log, sink_log = tmp_path / "worker.log", tmp_path / "sink.log"
    sink_args = ["sink", "--bootstrap", bootstrap, "--http-port", str(sink_port),
                 "--group", f"ops-{sink_port}", "--facts-topic", f"ops-{worker_port}-facts",
                 "--alerts-topic", f"ops-{worker_port}-alerts",
                 "--store", f"chdb://{tmp_path / 'ch'}"]
    with (
        process([*worker_args(tmp_path, bootstrap, worker_port), "--loglevel", "info"],
                worker_log, env),
        process(sink_args, sink_log, env),
    ):
        worker, sink = f"http://127.0.0.1:{worker_port}", f"http://127.0.0.1:{sink_port}"
        wait_until(f"{worker}/healthz", 200, timeout=60)
        body = wait_until(f"{worker}/readyz", 503, timeout=5)
        assert f"Kafka at {bootstrap} is unreachable" in body
        assert get(f"{worker}/")[0] == 404 and get(f"{worker}/anything")[0] == 404
        wait_until(f"{sink}/healthz", 200, timeout=60)
        health = json.loads(get(f"{sink}/healthz")[1])
        assert health["status"] == "kafka_unavailable"
        assert f"Kafka at {bootstrap} is unreachable" in wait_until(f"{sink}/readyz", 503, 5)
        time.sleep(10)  # Kafka down for a while: the clients retry, the logs stay short
        down_lines = len(worker_log.read_text().splitlines())
        sink_down_lines = len(sink_log.read_text().splitlines())
        broker = LocalKafka(tmp_path / "kafka", kafka_port, die_with_parent=True)
        broker.start()
        try:
            assert wait_until(f"{worker}/readyz", 200) == "ready\n"
            assert wait_until(f"{sink}/readyz", 200) == "ready\n"
            assert json.loads(get(f"{sink}/healthz")[1])["status"] == "ok"
            status, metrics = get(f"{worker}/metrics")
            assert status == 200 and "dossierflow_events_total" in metrics
            assert get(f"{sink}/metrics")[0] == 200
            deadline = time.monotonic() + 30
            while "ready: applying" not in worker_log.read_text():
                assert time.monotonic() < deadline, worker_log.read_text()[-3000:]
                time.sleep(0.5)
            while "ready: storing" not in sink_log.read_text():
                assert time.monotonic() < deadline, sink_log.read_text()[-3000:]
                time.sleep(0.5)
        finally:
            broker.stop()
    assert down_lines < 40, worker_log.read_text()[-4000:]
    assert sink_down_lines < 40, sink_log.read_text()[-4000:]
    assert worker_log.read_text().count("ready: applying") == 1


def _stopped_when_ready(args: list[str], ready_url: str, log: Path, sig: signal.Signals
                       ) -> int:
    """The exit code of a process sent `sig` once `ready_url` answers 200 and it has logged
    its `ready:` line."""
    with process(args, log, {}) as proc:
        deadline = time.monotonic() + 180
        while get(ready_url)[0] != 200 or " ready: " not in log.read_text():
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        proc.send_signal(sig)
        return proc.wait(timeout=60)


@pytest.mark.kafka
def test_a_healthy_start_is_quiet_and_ctrl_c_exits_130_while_sigterm_exits_0(
    tmp_path: Path,
) -> None:
    """On a broker just created (its offsets topic not there yet, so aiokafka's group
    coordinator fails for a second), the worker at its default level says only its own lines:
    no Faust service chatter, no recovery tables, no transient ERROR. Ctrl-C (SIGINT) is an
    interruption, exit 130, as the exit-code table says; a supervisor's SIGTERM a clean stop."""
    broker = LocalKafka(tmp_path / "kafka", free_port(), die_with_parent=True)
    broker.start()
    try:
        port = free_port()
        args = worker_args(tmp_path, broker.bootstrap, port)
        ready = f"http://127.0.0.1:{port}/readyz"
        log = tmp_path / "worker.log"
        assert _stopped_when_ready(args, ready, log, signal.SIGINT) == 130, log.read_text()
        lines = log.read_text().splitlines()
        assert [line.split(" ", 3)[2:3] for line in lines] == [
            ["INFO"] for _ in lines
        ], lines
        # The ready line and the timer index's come in either order: the index is rebuilt at
        # the assignment, readiness is observed on its own period (the index's came first once
        # the worker's fetches stopped waiting 1.5 s on an idle partition).
        assert any(" INFO dossierflow.health: ready: applying " in line for line in lines), lines
        assert all(" dossierflow.health: " in line or " dossierflow.streams.worker: " in line
                   for line in lines), lines
        assert len(lines) <= 3, lines
        assert _stopped_when_ready(args, ready, log, signal.SIGTERM) == 0, log.read_text()
        sink_port = free_port()
        sink = ["sink", "--bootstrap", broker.bootstrap, "--http-port", str(sink_port),
                "--group", f"ops-{sink_port}", "--facts-topic", f"ops-{port}-facts",
                "--alerts-topic", f"ops-{port}-alerts", "--store", f"chdb://{tmp_path / 'ch'}"]
        sink_ready, sink_log = f"http://127.0.0.1:{sink_port}/readyz", tmp_path / "sink.log"
        for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 0)):
            assert _stopped_when_ready(sink, sink_ready, sink_log, sig) == code, (
                sink_log.read_text()[-3000:]
            )
    finally:
        broker.stop()


@pytest.mark.kafka
def test_worker_started_in_a_fresh_folder_makes_its_table_folder(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    """A fresh clone has no `.dossierflow/`: the worker's default table folder,
    `.dossierflow/worker`, is made with its parents (Faust makes only the last one)."""
    clone = tmp_path / "clone"
    clone.mkdir()
    port = free_port()
    options = worker_args(tmp_path, kafka_bootstrap, port)
    at = options.index("--store")
    del options[at:at + 4]  # the default store (RocksDB) in the default folder
    assert "--data-dir" not in options and "DOSSIERFLOW_DATA_DIR" not in os.environ
    log = tmp_path / "worker.log"
    with process(options, log, {}, cwd=clone) as worker:
        url = f"http://127.0.0.1:{port}/readyz"
        deadline = time.monotonic() + 180
        while get(url)[0] != 200:
            assert worker.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
    assert (clone / ".dossierflow" / "worker").is_dir()
    assert "Traceback" not in log.read_text()


def test_a_worker_table_folder_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = worker_args(tmp_path, f"127.0.0.1:{free_port()}", free_port())
    args[args.index("--data-dir") + 1] = str(blocker / "worker")
    done = dossierflow(*args, env={"DOSSIERFLOW_STARTUP_WAIT": "6"})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"dossierflow worker: cannot make the table folder {blocker / 'worker'}: Not a "
        "directory; give a folder it may write with --data-dir (or DOSSIERFLOW_DATA_DIR)"
    ]


def _sink_args(tmp_path: Path, http_port: int) -> list[str]:
    return ["sink", "--bootstrap", f"127.0.0.1:{free_port()}", "--http-port", str(http_port),
            "--store", f"chdb://{tmp_path / 'ch'}"]


def _access_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "aiohttp.access" in line]


def test_the_sink_logs_requests_and_failures_but_not_its_probes_and_scrapes(
    tmp_path: Path,
) -> None:
    """A kubelet probes /healthz and /readyz and Prometheus scrapes /metrics every few
    seconds: those answers are not logged (a 503 of /readyz neither: its reasons are logged
    once, when readiness changes); a report, a request that fails and any path with
    `--loglevel debug` are. Kafka stays down: the sink answers HTTP while it waits."""
    port = free_port()
    sink = f"http://127.0.0.1:{port}"
    log = tmp_path / "sink.log"
    with process(_sink_args(tmp_path, port), log, {"DOSSIERFLOW_STARTUP_WAIT": "0"}):
        wait_until(f"{sink}/healthz", 200, timeout=120)
        for _ in range(3):
            assert get(f"{sink}/healthz")[0] == 200
            assert get(f"{sink}/readyz")[0] == 503
            assert get(f"{sink}/metrics")[0] == 200
        assert get(f"{sink}/report?from=2026-03-01&to=2026-04-01")[0] == 200
        assert get(f"{sink}/report?from=2026-03-31&to=2026-03-01")[0] == 400
        assert get(f"{sink}/nope")[0] == 404
    lines = _access_lines(log)
    assert [line for line in lines if "/healthz" in line or "/readyz" in line
            or "/metrics" in line] == [], lines
    assert [line for line in lines if '"GET /report?from=2026-03-01' in line and " 200 " in line]
    assert [line for line in lines if '"GET /report?from=2026-03-31' in line and " 400 " in line]
    assert [line for line in lines if '"GET /nope HTTP/1.1" 404 ' in line]

    debug_port = free_port()
    debug_log = tmp_path / "sink-debug.log"
    with process([*_sink_args(tmp_path, debug_port), "--loglevel", "debug"], debug_log,
                 {"DOSSIERFLOW_STARTUP_WAIT": "0"}):
        wait_until(f"http://127.0.0.1:{debug_port}/healthz", 200, timeout=120)
    assert [line for line in _access_lines(debug_log) if '"GET /healthz HTTP/1.1" 200 ' in line]


def test_the_sink_says_what_a_bad_request_should_have_been(tmp_path: Path) -> None:
    """An unknown path is answered with the paths that exist, as the worker's port does, so a
    mistyped probe or scrape URL is corrected at a glance; a period that ends before it
    begins is a 400 naming the parameters as the query spells them."""
    port, worker_port = free_port(), free_port()
    env = {"DOSSIERFLOW_STARTUP_WAIT": "0"}
    with (
        process(_sink_args(tmp_path, port), tmp_path / "sink.log", env),
        process(worker_args(tmp_path, f"127.0.0.1:{free_port()}", worker_port),
                tmp_path / "worker.log", env),
    ):
        wait_until(f"http://127.0.0.1:{port}/healthz", 200, timeout=120)
        wait_until(f"http://127.0.0.1:{worker_port}/healthz", 200, timeout=120)
        assert get(f"http://127.0.0.1:{port}/healtz") == (
            404, "not found: try /healthz, /readyz, /metrics, /report or /dashboard\n"
        )
        assert get(f"http://127.0.0.1:{worker_port}/healtz") == (
            404, "not found: try /healthz, /readyz or /metrics\n"
        )
        # A page the dashboard itself does not find keeps its own answer.
        assert get(f"http://127.0.0.1:{port}/dashboard/static/nope.js")[0] == 404
        status, body = get(f"http://127.0.0.1:{port}/report?from=2026-03-31&to=2026-03-01")
        assert status == 400 and json.loads(body) == {
            "error": "to (2026-03-01) must be after from (2026-03-31); the period is "
            "[from 00:00, to 00:00)"
        }
        status, body = get(f"http://127.0.0.1:{port}/report?from=2026-03-31&through=2026-03-30")
        assert status == 400 and json.loads(body)["error"].startswith(
            "through (2026-03-30) is before from (2026-03-31)"
        )
