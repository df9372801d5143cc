"""Options and messages shared by several commands."""

from __future__ import annotations

import argparse
import sys

DEFAULT_SINK_HTTP_PORT = 8686


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="URL",
        help="chdb:///abs/path or http(s)://user:password@host:8123/db "
        "(default: $DOSSIERFLOW_CLICKHOUSE_URL, else chDB in .dossierflow/clickhouse)",
    )


def fail(command: str, message: str, status: int = 2) -> int:
    print(f"dossierflow {command}: {message}", file=sys.stderr)
    return status
