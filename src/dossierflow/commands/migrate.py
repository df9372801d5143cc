"""`dossierflow migrate`: create or upgrade the store's tables."""

from __future__ import annotations

import argparse
from typing import Any

from dossierflow.commands.options import add_store_option


def add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "migrate",
        help="create or upgrade the ClickHouse tables (idempotent)",
        description="Apply the numbered DDL files not applied yet; safe to run twice.",
    )
    add_store_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dossierflow.config import StoreSettings
    from dossierflow.store import connect, migrate, pause_rollup_refreshes

    store = connect(StoreSettings.from_env(clickhouse_url=args.store).url())
    try:
        applied = migrate(store)
        pause_rollup_refreshes(store)
    finally:
        store.close()
    if applied:
        print(f"{store.url.display}: applied {', '.join(applied)}")
    else:
        print(f"{store.url.display}: up to date")
    return 0
