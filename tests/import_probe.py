"""Which modules a piece of code imports, asked of a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path


def modules_imported_by(code: str, watched: Iterable[str], cwd: Path | None = None) -> list[str]:
    """The `watched` modules in `sys.modules` once `code` has run in a new interpreter,
    sorted. A package counts as imported when any of its modules is (Python imports the
    parents first), so a top-level name watches the whole package."""
    names = sorted(set(watched))
    program = f"import sys\n{code}\nprint('\\n'.join(m for m in {names!r} if m in sys.modules))\n"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          cwd=cwd, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()
