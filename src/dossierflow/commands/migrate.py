"""`dossierflow migrate`: create or upgrade the store's tables."""

from __future__ import annotations

import argparse
from typing import Any

from dossierflow.commands.setting_options import add_setting_options, settings_from


def add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "migrate",
        help="create or upgrade the ClickHouse tables (idempotent)",
        description="Apply the numbered DDL files not applied yet; safe to run twice.",
        options=_add_options,
    )
    p.set_defaults(func=run)


def _add_options(parser: argparse.ArgumentParser) -> None:
    from dossierflow.config import StoreSettings

    add_setting_options(parser, StoreSettings, only=["clickhouse_url"])


def run(args: argparse.Namespace) -> int:
    from dossierflow.config import StoreSettings
    from dossierflow.store import connect, migrate, pause_rollup_refreshes

    store = connect(settings_from(args, StoreSettings).url())
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
