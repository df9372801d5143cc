"""How the long-running processes (worker, sink, notifier) stop on a signal.

SIGTERM is how a supervisor (systemd, Kubernetes, the demo) asks for a stop: a clean stop,
exit 0. SIGINT is a person's Ctrl-C: an interruption, exit 130, as every other command and
docs/operations.md's exit codes have it. Both stop the process the same way.
"""

from __future__ import annotations

import asyncio
import signal

from dossierflow.errors import ExitCode

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code_for(received: signal.Signals | None) -> int:
    """The exit code of a process stopped by `received` (None: it ended by itself)."""
    return ExitCode.INTERRUPTED if received is signal.SIGINT else ExitCode.OK


class StopOnSignal:
    """An event set by the first of SIGINT and SIGTERM, remembering which came."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.received: signal.Signals | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.stop, sig)

    def stop(self, sig: signal.Signals) -> None:
        if self.received is None:
            self.received = sig
        self.event.set()

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.received)
