"""The root of dossierflow's exceptions and the exit codes of the command line.

Each layer raises its own subclasses (`rules.catalog.CatalogError`, `store.StoreError`,
`kafka.errors.KafkaUnavailable`, `config.ConfigError`, `reporting.report.ReportError`...),
whose message is written for an operator: what went wrong, where, and what to do.
`dossierflow.cli.main` prints that message as one line and exits with the class's
`exit_code`; anything else is a bug and exits with `ExitCode.INTERNAL`.
"""

from __future__ import annotations

import enum
import logging
import os
from typing import NoReturn


class ExitCode(enum.IntEnum):
    """The exit codes of every `dossierflow` command (docs/operations.md lists them)."""

    OK = 0
    FAILED = 1
    """A runtime failure: Kafka or the store unreachable, an event not delivered."""
    USAGE = 2
    """Bad input: an option, an environment variable, the catalogue, a file; Kafka refusing
    the credentials, the trust in its certificate or a right (`kafka.diagnosis.KafkaRefused`)."""
    CHECK_FAILED = 3
    """The command ran but its check failed: report figures that do not reconcile;
    `kafka status`: no broker running; `replay`, `produce`: input lines skipped, the rest
    done."""
    NO_DATA = 4
    """`report` found no facts at all in the store it read."""
    INTERNAL = 70
    """An unexpected error: a bug (the traceback is shown with --debug)."""
    INTERRUPTED = 130
    BROKEN_PIPE = 141


class DossierflowError(Exception):
    """An error whose message an operator can act on; `exit_code` says how the command ends."""

    exit_code: ExitCode = ExitCode.FAILED


def error_line(command: str, message: str) -> str:
    """How a command says why it ended: one line, the message's first."""
    first = message.strip().partition("\n")[0]
    return f"dossierflow {command}: {first}"


def exit_now(command: str, error: DossierflowError) -> NoReturn:
    """End the process at once as `cli.main` ends a command on `error` (its line on stderr,
    its exit code), with no clean-up: for a process whose framework would commit past a
    failure on its way down (streams/worker.py, `stop_at_once`)."""
    logging.shutdown()
    # To the file itself: Faust redirects sys.stderr into its log.
    os.write(2, (error_line(command, str(error)) + "\n").encode())
    os._exit(error.exit_code)
