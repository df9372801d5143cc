"""docs/walkthrough.md followed as written, by a script instead of a person: every bash block
after the install, in order, each long-running command (worker, sink, mail server, notifier)
in a terminal of its own (a child shell that activates the venv and sources the ports file,
as the document says to), against the broker the walkthrough starts.

The figures checked are the ones the document quotes, which were first measured by hand;
the install block is left out (this runs inside the installed venv; test_demo_install runs
deploy/install.sh). Its own data folder (XDG_DATA_HOME, as the document suggests for a
shared account) keeps it apart from anyone's broker and store.
"""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LONG_RUNNING = ("dossierflow worker", "dossierflow sink", "python -m dossierflow.demo.mailbox",
                "dossierflow notify --recipients examples/recipients.yaml\n")
_WAIT = 300.0
"""Bound on each wait for the pipeline (not a timed assertion: a slow machine only waits)."""

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.timeout(900)]


def _blocks() -> list[str]:
    text = (ROOT / "docs" / "walkthrough.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.*?)```", text, re.S)


class _Terminals:
    """The reader's terminals: the first one (`run`) and the ones left running (`start`)."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def script(self, lines: str) -> list[str]:
        return ["bash", "-ec", "source .venv/bin/activate\nsource .dossierflow/ports.env\n"
                + lines]

    def run(self, lines: str) -> str:
        result = subprocess.run(self.script(lines), cwd=self.cwd, env=self.env,
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{lines}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def start(self, lines: str) -> Path:
        log = self.cwd / f"terminal-{len(self.started) + 1}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(self.script(lines), cwd=self.cwd, env=self.env,
                                       stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.started.append((process, log))
        return log

    def check(self) -> None:
        for process, log in self.started:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """Ctrl-C in each terminal, the last started first."""
        for process, _ in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
        for process, _ in reversed(self.started):
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _until(terminals: _Terminals, what: str, probe: str, done: re.Pattern[str]) -> str:
    """Run `probe` (a command of the walkthrough) until its output matches `done`."""
    deadline = time.monotonic() + _WAIT
    while True:
        terminals.check()
        result = subprocess.run(terminals.script(probe), cwd=terminals.cwd, env=terminals.env,
                                capture_output=True, text=True, check=False)
        if done.search(result.stdout):
            return result.stdout
        assert time.monotonic() < deadline, f"{what}: {result.stdout}{result.stderr}"
        time.sleep(1)


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[_Terminals]:
    """A clone's folder as the reader has it after the install: the venv, the examples."""
    for name in (".venv", "examples"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "COLUMNS": "200"}
    env.pop("VIRTUAL_ENV", None)
    terminals = _Terminals(tmp_path, env)
    try:
        yield terminals
    finally:
        terminals.stop()
        subprocess.run(terminals.script("dossierflow kafka stop"), cwd=tmp_path, env=env,
                       capture_output=True, check=False)


def test_the_walkthrough_runs_as_written(reader: _Terminals) -> None:
    install, ports, *steps = _blocks()
    assert "deploy/dev.sh install" in install
    subprocess.run(["bash", "-ec", "source .venv/bin/activate\n" + ports], cwd=reader.cwd,
                   env=reader.env, capture_output=True, check=True)
    outputs = []
    for block in steps:
        ordinary = ""
        for line in block.splitlines(keepends=True):
            if line.startswith("export "):
                ordinary += line  # this terminal's settings, for what it starts too
            elif line.startswith(LONG_RUNNING):
                reader.start(ordinary + line)
            else:
                ordinary += line
        if any(line.startswith(LONG_RUNNING) for line in block.splitlines(keepends=True)):
            if "dossierflow notify" in block:  # its `--check` line runs in the foreground
                outputs.append(reader.run(ordinary))
            continue
        if "dossierflow produce" in block:
            # The document starts it once the others answer (a reader sees them start).
            _until(reader, "the worker, sink and notifier answer",
                   'curl -sf "localhost:$DOSSIERFLOW_METRICS_PORT/metrics" >/dev/null\n'
                   'curl -sf "$DOSSIERFLOW_SINK_URL/healthz" >/dev/null\n'
                   'curl -sf "localhost:$DOSSIERFLOW_NOTIFY_METRICS_PORT/metrics" >/dev/null\n'
                   "echo up", re.compile("up"))
        if block.startswith("curl") and "NOTIFY" not in block:
            outputs.append(_until(reader, "the worker applied the sample", block, re.compile(
                r'dossierflow_alerts_total\{kind="OVERDUE"\} 42\.0')))
        elif block.startswith("curl"):
            outputs.append(_until(reader, "the notifier sent them", block, re.compile(
                r'(?s)(?=.*alerts_received_total 87\.0)(?=.*result="sent")')))
        elif "dossierflow report" in block:  # once the sink has stored what it consumed
            outputs.append(_until(reader, "the sink stored the sample", block, re.compile(
                r"^,TOTAL,,0,89,", re.M)))
        else:
            outputs.append(reader.run(block))
    text = "\n".join(outputs)
    assert "examples/recipients.yaml: 2 people, 1 units: ok" in text

    # The figures the document quotes: 294 applied, 6 duplicates, 87 alerts by kind.
    worker = dict(re.findall(r"^(dossierflow_\w+\{[^}]*\}) ([\d.]+)$", text, re.M))
    applied = sum(float(v) for k, v in worker.items() if 'result="applied"' in k)
    duplicates = sum(float(v) for k, v in worker.items() if 'result="duplicate"' in k)
    alerts = {re.sub(r'.*kind="(\w+)".*', r"\1", k): float(v) for k, v in worker.items()
              if k.startswith("dossierflow_alerts_total")}
    assert (applied, duplicates) == (294, 6)
    assert alerts == {"OVERDUE": 42, "AT_RISK": 42, "RESCHEDULED_OVERDUE": 2,
                      "RESCHEDULE_LIMIT_EXCEEDED": 1}

    # March 2026: 89 received, 38 early, 1 on time, 26 overdue, 22 in progress.
    (total,) = [row for row in csv.DictReader(io.StringIO(text[text.index("unit_code,"):]))
                if row["unit_name"] == "TOTAL"]
    assert [total[k] for k in ("received", "resolved_early", "resolved_on_time",
                               "resolved_overdue", "in_progress")] == ["89", "38", "1", "26",
                                                                        "22"]
    assert "Kỳ báo cáo: từ ngày 01/03/2026 đến ngày 31/03/2026" in text

    # The mail server's terminal shows the e-mails with their fields named.
    (mail_log,) = [log for process, log in reader.started
                   if "✉" in log.read_text(errors="replace") or "SMTP on" in log.read_text()]
    shown = mail_log.read_text()
    assert re.search(r"✉ To: chanh-van-phong@walkthrough\.dossierflow\.invalid · "
                     r"Subject: \[Cảnh báo hồ sơ\] ", shown), shown
