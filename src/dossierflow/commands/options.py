"""Options shared by several commands."""

from __future__ import annotations

import argparse
import sys


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="URL",
        help="chdb:///abs/path or http(s)://user:password@host:8123/db "
        "(default: $DOSSIERFLOW_CLICKHOUSE_URL, else chDB in "
        "$XDG_DATA_HOME/dossierflow/clickhouse, i.e. ~/.local/share/dossierflow/clickhouse)",
    )


def fail(command: str, message: str, status: int = 2) -> int:
    """Print `dossierflow COMMAND: message` on stderr and return `status` (for checks a
    command makes itself; errors of the lower layers are raised and printed by cli.main)."""
    print(f"dossierflow {command}: {message}", file=sys.stderr)
    return status
