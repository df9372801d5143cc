"""Options and messages shared by several commands."""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_SINK_HTTP_PORT = 8686
SINK_URL_ENV = "DOSSIERFLOW_SINK_URL"
"""Where the sink answers HTTP: the sink listens there and `report` asks there."""


def sink_url(given: str | None) -> str:
    """`given` (an option), else $DOSSIERFLOW_SINK_URL, else the sink's default address."""
    return (given or os.environ.get(SINK_URL_ENV) or "").strip() or (
        f"http://127.0.0.1:{DEFAULT_SINK_HTTP_PORT}"
    )


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
