"""Options shared by several commands."""

from __future__ import annotations

import argparse


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="URL",
        help="chdb:///abs/path or http(s)://user:password@host:8123/db "
        "(default: $DOSSIERFLOW_CLICKHOUSE_URL, else chDB in "
        "$XDG_DATA_HOME/dossierflow/clickhouse, i.e. ~/.local/share/dossierflow/clickhouse)",
    )
