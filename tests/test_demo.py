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
from datetime import date, timedelta
from pathlib import Path

import pytest
from dossierflow.rules.catalog import load_catalog
from dossierflow.sinks.clickhouse import ClickHouseSink

from dossierflow.backfill import backfill
from dossierflow.replay import read_events, replay
from dossierflow.reporting.queries import fetch_figures
from dossierflow.reporting.report import Report, build_report, report_from_json
from dossierflow.simulate import load_profile
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
        return build_report(fetch_figures(store, *period), catalog.units, *period)
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

    # The printed report reconciles and is the one the batch path computes from the same events.
    printed = report_from_json(json.loads((demo_dir / "report.json").read_text()))
    assert printed.violations == []
    assert "Đối soát: tất cả các dòng khớp" in " ".join(result.stdout.split())
    profile = load_profile("province-small")
    period = (profile.start, profile.start + timedelta(days=profile.days))  # [from, to)
    assert (printed.period_from, printed.period_to) == period
    replayed = _replayed_report(demo_dir / "events.jsonl", tmp_path / "replay-store", period)
    assert printed.total == replayed.total
    assert printed.rows == replayed.rows
    assert printed.total.received > 0


def test_ctrl_c_in_the_middle_of_the_month_stops_everything_it_started(tmp_path: Path) -> None:
    demo_dir = tmp_path / ".dossierflow" / "demo"
    demo = subprocess.Popen(
        [sys.executable, "-m", "dossierflow.cli", "demo"], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 300
        # The first e-mail: broker, worker, sink and notifier all run, the month streams.
        while not any((demo_dir / "maildir" / "new").glob("*")):
            assert demo.poll() is None, demo.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "no e-mail within 300 s"
            time.sleep(0.5)
        assert _processes_mentioning(str(demo_dir))  # its children, to be stopped
        demo.send_signal(signal.SIGINT)
        output = demo.communicate(timeout=120)[0]
    finally:
        demo.kill()
    assert demo.returncode == 130, output[-3000:]
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
