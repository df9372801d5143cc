"""`dossierflow sink`: facts and alerts topics into the store, and the report over HTTP."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from dossierflow.commands.options import (
    add_catalog_option,
    add_kafka_options,
    add_loglevel_option,
    add_store_option,
)
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
    )
    add_kafka_options(p, "facts", "alerts")
    p.add_argument("--group", dest="group_id", help="consumer group of the sink")
    p.add_argument(
        "--http-host",
        help="address of GET /report, /healthz, /readyz and /metrics (default: the host of "
        "$DOSSIERFLOW_SINK_URL, else 127.0.0.1)",
    )
    p.add_argument(
        "--http-port",
        type=int,
        help="default: the port of $DOSSIERFLOW_SINK_URL, else 8686",
    )
    p.add_argument("--batch-size", type=int, help="records per partition batch (10000)")
    p.add_argument("--batch-max-age", type=float, help="seconds a record may wait (1.0)")
    add_catalog_option(p)
    add_store_option(p)
    add_loglevel_option(
        p, "info", "info logs each request but the probes and scrapes that answered as "
        "expected; debug logs those too",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import os
    import urllib.parse

    from dossierflow import config, logs
    from dossierflow.config import StoreSettings
    from dossierflow.rules.catalog import load_catalog
    from dossierflow.sinks.settings import SinkSettings
    from dossierflow.store import connect, migrate, pending_migrations

    store_settings = StoreSettings.from_env(clickhouse_url=args.store)
    # One variable says where the sink answers, for the sink and for `dossierflow report`.
    listen = urllib.parse.urlsplit(store_settings.sink_url)
    options = config.options(args, SinkSettings)
    for name, from_url in (("http_host", listen.hostname), ("http_port", listen.port)):
        if options.get(name) is None and not os.environ.get(config.env_name(SinkSettings, name)):
            options[name] = from_url
    settings = SinkSettings.from_env(**options)
    access = _access(settings, store_settings.token())
    store_url = store_settings.url()
    logs.configure(args.loglevel)
    catalog = load_catalog(args.catalog)
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
            "choose another port with --http-port (or DOSSIERFLOW_SINK_HTTP_PORT)"
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
