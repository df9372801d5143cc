"""`dossierflow demo --exit-when-done` end to end, as a newcomer runs it (a subprocess in an
empty working directory): its own Kafka broker, chDB, worker, sink, notifier and mailbox.

What it printed and filed is checked against outside evidence: the Maildir holds real
e-mails in Vietnamese, the report it printed equals the one `replay` (the batch path, no
Kafka) gives for the same events, and no process it started outlives it.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from dossierflow.backfill import backfill
from dossierflow.kafka.local_broker import free_port, java_executable
from dossierflow.replay import read_events, replay
from dossierflow.reporting.queries import fetch_compliance, fetch_figures
from dossierflow.reporting.report import Report, build_report, report_from_json, with_compliance
from dossierflow.rules.catalog import load_catalog
from dossierflow.simulate import load_profile
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.store import connect, migrate

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.timeout(900)]

WIDTH = 200
VIETNAMESE_LETTERS = set("ảạăắằẳẵặâấầẩẫậđẹẻẽêếềểễệỉịọỏôốồổỗộơớờởỡợụủưứừửữựỳỵỷỹ")


def _demo(
    cwd: Path, *options: str, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", "demo", "--exit-when-done", *options],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env={**(os.environ if env is None else env), "COLUMNS": str(WIDTH), "TERM": "dumb"},
    )


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that name `text` (the demo's children all do)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(f"{proc.name}: {cmdline}")
    return found


def _replayed_report(events_path: Path, store_dir: Path, period: tuple[date, date]) -> Report:
    catalog = load_catalog()
    events = read_events(events_path, lambda n, why: pytest.fail(f"line {n}: {why}"))
    assert events.latest is not None
    store = connect(f"chdb://{store_dir}")
    try:
        migrate(store)
        backfill(replay(events, catalog, events.latest), catalog, ClickHouseSink(store),
                 str(events_path))
        report = build_report(fetch_figures(store, *period), catalog.units, *period)
        return with_compliance(report, fetch_compliance(store, *period), catalog.units)
    finally:
        store.close()


def test_the_demo_delivers_alerts_and_prints_the_report_replay_gives(tmp_path: Path) -> None:
    demo_dir = tmp_path / ".dossierflow" / "demo"
    result = _demo(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # Nothing it started is left: every child names the demo folder on its command line.
    assert _processes_mentioning(str(demo_dir)) == []

    # Alerts were published by the worker and reached unit heads as e-mails in Vietnamese.
    messages = [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in (demo_dir / "maildir" / "new").iterdir()
    ]
    assert messages, result.stdout[-3000:]
    subjects = [str(message["Subject"]) for message in messages]
    assert all(VIETNAMESE_LETTERS & set(subject.lower()) for subject in subjects), subjects
    assert all(message["To"].addresses[0].domain == "demo.dossierflow.invalid"
               for message in messages)
    summary = re.search(r"([\d,]+) alerts published, ([\d,]+) e-mails delivered", result.stdout)
    assert summary, result.stdout[-3000:]
    published, delivered = (int(n.replace(",", "")) for n in summary.groups())
    assert published > 0
    assert delivered == len(messages)

    # The console showed the e-mails as they arrived, and the live view ended on the month's
    # last event time with every event processed and every e-mail counted.
    shown = re.findall(r"✉ To: (\S+@\S+) · Subject: (\[.+)", result.stdout)
    assert shown, result.stdout[-3000:]
    addressed = {(m["To"].addresses[0].addr_spec, str(m["Subject"])) for m in messages}
    assert set(shown) <= addressed
    events = [json.loads(line) for line in (demo_dir / "events.jsonl").read_text().splitlines()]
    figures = r"\s*│\s*".join([r"(\d\d/\d\d/\d{4} \d\d:\d\d)", r"([\d,]+) / ([\d,]+)",
                                  *[r"([\d,]+)"] * 4])
    live = list(re.finditer(f"│\\s*{figures}\\s*│", result.stdout))
    assert live, result.stdout[-3000:]
    # Into a pipe, the live view printed progress lines while the days streamed, before
    # its final table.
    progress = [line.start() for line in re.finditer(
        r"^  event time \(worker clock\) .* · events sent [\d,]+ / ", result.stdout, re.M)]
    assert progress and progress[0] < live[-1].start(), result.stdout[-3000:]
    clock, *counts = live[-1].groups()
    sent, total, processed, alerts, at_notifier, e_mails = (int(n.replace(",", ""))
                                                             for n in counts)
    assert sent == total == processed == len(events)
    assert alerts == at_notifier == published and e_mails == delivered
    last_event = max(datetime.fromisoformat(e["occurred_at"]) for e in events)
    assert datetime.strptime(clock, "%d/%m/%Y %H:%M") >= last_event.replace(
        tzinfo=None, second=0, microsecond=0)

    # The printed report reconciles and is the one the batch path computes from the same events.
    printed = report_from_json(json.loads((demo_dir / "report.json").read_text()))
    assert printed.violations == []
    assert "Đối soát: tất cả các dòng khớp" in " ".join(result.stdout.split())
    assert "The report of the 28 days of receipts streamed, 02/03/2026 to 29/03/2026" in (
        " ".join(result.stdout.split()))
    profile = load_profile("province-small")
    period = (profile.start, profile.start + timedelta(days=profile.days))  # [from, to)
    assert (printed.period_from, printed.period_to) == period
    replayed = _replayed_report(demo_dir / "events.jsonl", tmp_path / "replay-store", period)
    assert printed.total == replayed.total
    assert printed.rows == replayed.rows
    assert printed.total.received > 0


def test_ctrl_c_in_the_middle_of_the_month_stops_everything_it_started(tmp_path: Path) -> None:
    demo_dir = tmp_path / ".dossierflow" / "demo"
    output = tmp_path / "demo.out"  # a file: a pipe nobody reads while waiting could fill up
    with output.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "dossierflow.cli", "demo"], cwd=tmp_path,
            stdout=out, stderr=subprocess.STDOUT, text=True,
        )
    try:
        deadline = time.monotonic() + 300
        # The first e-mail: broker, worker, sink and notifier all run, the month streams.
        while not any((demo_dir / "maildir" / "new").glob("*")):
            assert demo.poll() is None, output.read_text()[-3000:]
            assert time.monotonic() < deadline, "no e-mail within 300 s"
            time.sleep(0.5)
        assert _processes_mentioning(str(demo_dir))  # its children, to be stopped
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=120)
    finally:
        demo.kill()
    assert demo.returncode == 130, output.read_text()[-3000:]
    assert _processes_mentioning(str(demo_dir)) == []


def _get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.status, response.headers["Content-Type"], response.read().decode()


def test_after_the_report_it_serves_until_stopped_and_a_dead_child_stops_everything(
    tmp_path: Path,
) -> None:
    demo_dir = tmp_path / ".dossierflow" / "demo"
    ports = {option: free_port() for option in
             ("--http-port", "--worker-metrics-port", "--notify-metrics-port")}
    # Files, not pipes: nobody reads a pipe while the month runs, and a full one would
    # block the demo.
    output, errors = tmp_path / "demo.out", tmp_path / "demo.err"
    with output.open("w") as out, errors.open("w") as err:
        demo = subprocess.Popen(
            [sys.executable, "-m", "dossierflow.cli", "demo",
             *(str(part) for pair in ports.items() for part in pair)],
            cwd=tmp_path, stdout=out, stderr=err, text=True,
            env={**os.environ, "COLUMNS": str(WIDTH), "TERM": "dumb"},
        )
    try:
        deadline = time.monotonic() + 600
        while "Up until Ctrl-C" not in output.read_text():
            assert demo.poll() is None, output.read_text()[-3000:] + errors.read_text()
            assert time.monotonic() < deadline, "the month did not end within 600 s"
            time.sleep(1)
        # The month is over and the report printed; everything still answers.
        profile = load_profile("province-small")
        month = f"from={profile.start}&through={profile.start + timedelta(days=profile.days - 1)}"
        sink = f"http://127.0.0.1:{ports['--http-port']}"
        status, kind, body = _get(f"{sink}/report?{month}&format=json")
        assert status == 200
        served = report_from_json(json.loads(body))
        printed = report_from_json(json.loads((demo_dir / "report.json").read_text()))
        assert served.total == printed.total and served.total.received > 0
        # The dashboard it links shows the same figures (its rollup caught up before the link).
        status, kind, body = _get(f"{sink}/api/dashboard?{month}")
        dashboard = json.loads(body)
        assert report_from_json(dashboard) == printed and not dashboard["figures_behind"]
        status, kind, body = _get(f"{sink}/dashboard?{month}")
        assert status == 200 and kind.startswith("text/html")
        assert "Theo dõi giải quyết hồ sơ thủ tục hành chính" in body  # Vietnamese by default
        exported = {
            f"{sink}/metrics": "dossierflow_sink_insert_failures_total",
            f"http://127.0.0.1:{ports['--worker-metrics-port']}/metrics":
                "dossierflow_events_total",
            f"http://127.0.0.1:{ports['--notify-metrics-port']}/metrics":
                "dossierflow_notify_deliveries_total",
        }
        for url, series in exported.items():
            status, kind, body = _get(url)
            assert status == 200 and series in body, url
        assert demo.poll() is None  # still up: only Ctrl-C or a failure ends it

        # A child that dies (here the worker, killed) ends the demo with everything it started.
        (worker,) = [line for line in _processes_mentioning(str(demo_dir))
                     if "dossierflow.cli worker " in line]
        os.kill(int(worker.split(":")[0]), signal.SIGKILL)
        demo.wait(timeout=180)
    finally:
        demo.kill()
    stderr = errors.read_text()
    assert demo.returncode == 1, stderr
    assert stderr.splitlines()[0].startswith("dossierflow demo: the worker stopped (exit -9)")
    assert _processes_mentioning(str(demo_dir)) == []


def test_a_busy_port_is_one_line_saying_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _demo(tmp_path, "--http-port", str(port), timeout=120)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line == (f"dossierflow demo: port {port} (--http-port) is in use: stop what "
                    "listens there, or give another --http-port (0 picks a free one)")
    assert not (tmp_path / ".dossierflow").exists()  # nothing was started


def test_without_java_it_says_what_to_install(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(tmp_path / "empty")  # no java there (the interpreter is given by path)
    result = _demo(tmp_path, env=env, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert "dossierflow demo: `java` not found: install a JDK 17+ or set JAVA_HOME" in lines
    assert all(line.startswith("dossierflow demo: ") for line in lines)
    assert not (tmp_path / ".dossierflow").exists()


def test_without_maven_before_the_jars_are_fetched_it_says_what_to_install(
    tmp_path: Path,
) -> None:
    java = java_executable()  # as the product finds it: JAVA_HOME, else PATH
    only_java = tmp_path / "bin"
    only_java.mkdir()
    (only_java / "java").symlink_to(java)
    cache = tmp_path / "cache"  # nothing fetched into it yet
    env = {**os.environ, "PATH": str(only_java), "XDG_CACHE_HOME": str(cache)}
    result = _demo(tmp_path, env=env, timeout=120)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line == ("dossierflow demo: `mvn` not found and the Kafka jars are not fetched yet: "
                    f"install Maven 3.8+ (it fetches them once into {cache}/dossierflow/kafka)")
    assert not (tmp_path / ".dossierflow").exists()
