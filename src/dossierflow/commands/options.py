"""What several commands read the same way that is not a setting: dates, the events file,
one-line failures (settings are options of their own: `setting_options.py`)."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from dossierflow.errors import DossierflowError, ExitCode

EVENTS_FILE_HINT = "give a file of events, one JSON object a line"
"""What to do, in the error of `replay` and `produce` on a file they cannot read."""


def local_date(text: str) -> date:
    """An argparse type for a local date: `YYYY-MM-DD` or `dd/mm/yyyy`, the forms `report`
    accepts (one parser, so every command reads a date the same way)."""
    from dossierflow.reporting.report import ReportError, parse_date

    try:
        return parse_date(text, "date")
    except ReportError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("date ")) from None


class EventsFileError(DossierflowError):
    """The events file given to `replay` or `produce` cannot be read."""

    exit_code = ExitCode.USAGE


def check_events_file(path: Path, hint: str = EVENTS_FILE_HINT) -> None:
    """Raise `EventsFileError` (one line, exit 2) with the system's reason (missing, a
    directory, no permission) unless `path` opens for reading. Opening it, not testing its
    type, is what tells them all apart, and `produce` checks before it connects to Kafka,
    which would otherwise be blamed."""
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise EventsFileError(
            f"{path}: cannot read it: {exc.strerror}; {hint}"
        ) from exc


def fail(command: str, message: str, status: int = 2) -> int:
    """Print `dossierflow COMMAND: message` on stderr and return `status` (for checks a
    command makes itself; errors of the lower layers are raised and printed by cli.main)."""
    print(f"dossierflow {command}: {message}", file=sys.stderr)
    return status
