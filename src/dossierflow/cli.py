"""The `dossierflow` command: one sub-command per job, each defined beside its code."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# Each module exposes `add_commands(subparsers)`; sub-commands set `func(args) -> int`.
# Imported lazily by name so that `dossierflow replay` does not pay for Faust or chDB.
COMMAND_MODULES = (
    "dossierflow.commands.replay",
    "dossierflow.commands.worker",
    "dossierflow.commands.kafka",
    "dossierflow.commands.produce",
    "dossierflow.commands.migrate",
    "dossierflow.commands.report",
    "dossierflow.commands.sink",
    "dossierflow.commands.simulate",
    "dossierflow.commands.demo",
    "dossierflow.commands.notify",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dossierflow",
        description="Real-time deadline pipeline for administrative-procedure dossiers.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return status


if __name__ == "__main__":
    sys.exit(main())
