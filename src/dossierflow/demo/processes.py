"""The demo's child processes: each in its own process group, all stopped together.

A child gets SIGTERM when the demo process dies, even by SIGKILL (Linux's parent-death
signal), and `stop_all` signals each group and escalates to SIGKILL, so Ctrl-C or a crash
leaves no worker, sink or notifier behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dossierflow.kafka.local_broker import term_with_parent

_LOG_TAIL = 15


class ChildFailed(RuntimeError):
    """A child process exited while the demo needed it."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-_LOG_TAIL:])


class Children:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Child] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Child:
        """`dossierflow ARGS...` with the current interpreter, output to `<log_dir>/NAME.log`."""
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "dossierflow.cli", *args],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, **env}, start_new_session=True,
                preexec_fn=term_with_parent,
            )
        child = Child(name, process, log)
        self.started.append(child)
        return child

    def check(self) -> None:
        """Raise ChildFailed, with the end of its log, if a child has exited."""
        for child in self.started:
            code = child.process.poll()
            if code is not None:
                raise ChildFailed(
                    f"the {child.name} stopped (exit {code}); end of {child.log}:\n{child.tail()}"
                )

    def stop_all(self, timeout: float = 20.0) -> None:
        for child in reversed(self.started):
            _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in reversed(self.started):
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait()
            # Whatever the child left in its group (Faust's helpers) goes too.
            _signal_group(child.process, signal.SIGKILL)
        self.started.clear()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(process.pid, sig)
