"""`dossierflow sink`: facts and alerts topics into the store, and the report over HTTP."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from dossierflow.commands.setting_options import add_setting_options, settings_from
from dossierflow.errors import DossierflowError

if TYPE_CHECKING:
    from dossierflow.http_access import HttpAccess
    from dossierflow.rules.catalog import Catalog
    from dossierflow.sinks.settings import SinkSettings
    from dossierflow.store import Store


class SinkHttpError(DossierflowError):
    """The sink's HTTP endpoint cannot listen on its address."""


def add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sink",
        help="consume facts and alerts into ClickHouse; serve /report, /dashboard and /healthz",
        description="Consume the facts and alerts topics into the store, committing offsets "
        "only after the store acknowledged; serve GET /report, the dashboard at "
        "GET /dashboard, GET /healthz, GET /readyz and GET /metrics.",
        options=_add_options,
    )
    p.set_defaults(func=run)


def _add_options(parser: argparse.ArgumentParser) -> None:
    from dossierflow.config import StoreSettings
    from dossierflow.sinks.settings import SinkSettings

    add_setting_options(parser, SinkSettings)
    add_setting_options(parser, StoreSettings, only=["clickhouse_url"])


def run(args: argparse.Namespace) -> int:
    import asyncio
    import urllib.parse

    from dossierflow import config, logs
    from dossierflow.config import StoreSettings
    from dossierflow.rules.catalog import load_catalog
    from dossierflow.sinks.settings import SinkSettings
    from dossierflow.store import connect, migrate, pending_migrations

    store_settings = settings_from(args, StoreSettings)
    # One variable says where the sink answers, for the sink and for `dossierflow report`.
    listen = urllib.parse.urlsplit(store_settings.sink_url)
    settings = settings_from(
        args, SinkSettings, defaults={"http_host": listen.hostname, "http_port": listen.port}
    )
    access = _access(settings, store_settings.token())
    store_url = store_settings.url()
    logs.configure(settings.loglevel)
    catalog = load_catalog(settings.catalog)
    write_store = connect(store_url)
    try:
        if pending_migrations(write_store):  # its own user may not: then it says so
            migrate(write_store)
        report_store = connect(store_url)
    except BaseException:
        write_store.close()
        raise
    try:
        return asyncio.run(
            _serve_until_signal(settings, write_store, report_store, catalog, access)
        )
    except OSError as exc:
        raise SinkHttpError(
            f"cannot serve HTTP on {settings.http_host}:{settings.http_port}: {exc.strerror}; "
            f"choose another port with {config.named(SinkSettings, 'http_port')}"
        ) from None
    finally:
        report_store.close()
        write_store.close()


def _access(settings: SinkSettings, token: str | None) -> HttpAccess:
    """Who may ask the sink what; a sink that would answer /report to a network without a
    token is refused at start."""
    from dossierflow.config import ConfigError
    from dossierflow.sink_service import listener_access

    access = listener_access(settings, token)
    if not access.loopback and token is None:
        raise ConfigError(
            f"the sink would serve /report and /dashboard on {settings.http_host} to anyone: "
            "give it a token (DOSSIERFLOW_SINK_TOKEN_FILE or DOSSIERFLOW_SINK_TOKEN), or "
            "listen on 127.0.0.1 behind the reverse proxy (deploy/nginx/)"
        )
    return access


async def _serve_until_signal(
    settings: SinkSettings,
    write_store: Store,
    report_store: Store,
    catalog: Catalog,
    access: HttpAccess,
) -> int:
    """Serve until SIGINT or SIGTERM; the exit code for the signal (`dossierflow.stopping`)."""
    import asyncio

    from dossierflow.sink_service import serve
    from dossierflow.sinks.clickhouse import ClickHouseSink
    from dossierflow.sinks.rollup_refresh import RollupRefresher
    from dossierflow.stopping import StopOnSignal

    stopping = StopOnSignal()
    stopping.install(asyncio.get_running_loop())
    interval = settings.rollup_refresh_interval
    refresher = RollupRefresher(write_store, interval) if interval else None
    await serve(settings, ClickHouseSink(write_store), report_store, catalog, stopping.event,
                refresher=refresher, access=access)
    return stopping.exit_code
