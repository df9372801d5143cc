"""The `dossierflow` command: one sub-command per module of `dossierflow.commands`.

Every failure ends with one line on stderr, `dossierflow COMMAND: what, where, what to do`,
and an exit code of `dossierflow.errors.ExitCode`; `--debug` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from dossierflow.commands.setting_options import CommandParser
from dossierflow.errors import DossierflowError, ExitCode, error_line

# Each module exposes `add_commands(subparsers)`; sub-commands set `func(args) -> int`.
# Handlers import their heavy dependencies (Faust, chDB, aiokafka) when they run, so
# building the parser stays cheap.
COMMAND_MODULES = (
    "dossierflow.commands.replay",
    "dossierflow.commands.golive",
    "dossierflow.commands.worker",
    "dossierflow.commands.kafka",
    "dossierflow.commands.produce",
    "dossierflow.commands.migrate",
    "dossierflow.commands.report",
    "dossierflow.commands.sink",
    "dossierflow.commands.simulate",
    "dossierflow.commands.demo",
    "dossierflow.commands.notify",
    "dossierflow.commands.config",
    "dossierflow.commands.calendar",
    "dossierflow.commands.intake",
)

DEBUG_HELP = "show the traceback of a failure"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dossierflow",
        description="Real-time deadline pipeline for administrative-procedure dossiers.",
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                       parser_class=CommandParser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(subparsers)
    for command in subparsers.choices.values():
        # Also accepted after the command; SUPPRESS keeps a --debug given before it.
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help=DEBUG_HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except DossierflowError as exc:
        return _failed(args, str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.BROKEN_PIPE
    except Exception as exc:
        return _failed(
            args,
            f"unexpected {type(exc).__name__}: {exc} (a bug: run again with --debug and "
            "report the traceback)",
            ExitCode.INTERNAL,
        )
    return status


def _failed(args: argparse.Namespace, message: str, code: int) -> int:
    """One line on stderr; the message's further lines (a log tail) and the traceback only
    with --debug."""
    first, _, rest = message.strip().partition("\n")
    if args.debug:
        traceback.print_exc()
        if rest:
            print(rest, file=sys.stderr)
    print(error_line(args.command, first), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
