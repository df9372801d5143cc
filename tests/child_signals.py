"""Child processes that a test stops with SIGINT, as Ctrl-C at a terminal would."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def popen_stoppable_by_sigint(args: list[str], **options: Any) -> subprocess.Popen[str]:
    """`subprocess.Popen(args, **options)` with SIGINT at its default in the child.

    A shell without job control starts a background command (`pytest … &`, a suite run
    behind a benchmark) with SIGINT ignored; a child inherits that, and Python then installs
    no KeyboardInterrupt handler, so SIGINT does nothing and the test waits for an exit
    that never comes. A handler set here is reset to the default at exec; the parent's own
    disposition is restored at once."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(args, **options)
    finally:
        signal.signal(signal.SIGINT, previous)
