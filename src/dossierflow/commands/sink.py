"""`dossierflow sink`: facts and alerts topics into the store, and the report over HTTP."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dossierflow.commands.options import (
    DEFAULT_SINK_HTTP_PORT,
    SINK_URL_ENV,
    add_store_option,
    fail,
    sink_url,
)

if TYPE_CHECKING:
    from dossierflow.rules.catalog import Catalog
    from dossierflow.sinks.kafka_sink import SinkSettings
    from dossierflow.store import Store


def add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sink",
        help="consume facts and alerts into ClickHouse; serve /report, /dashboard and /healthz",
        description="Consume the facts and alerts topics into the store, committing offsets "
        "only after the store acknowledged; serve GET /report, the dashboard at "
        "GET /dashboard, GET /healthz and GET /metrics.",
    )
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: $DOSSIERFLOW_BOOTSTRAP)")
    p.add_argument("--facts-topic", help="default: dossier-facts")
    p.add_argument("--alerts-topic", help="default: dossier-alerts")
    p.add_argument("--group", dest="group_id", help="consumer group of the sink")
    p.add_argument(
        "--http-host",
        help=f"address of GET /report and /healthz (default: the host of ${SINK_URL_ENV}, "
        "else 127.0.0.1)",
    )
    p.add_argument(
        "--http-port",
        type=int,
        help=f"default: the port of ${SINK_URL_ENV}, else {DEFAULT_SINK_HTTP_PORT}",
    )
    p.add_argument("--batch-size", type=int, help="records per partition batch (10000)")
    p.add_argument("--batch-max-age", type=float, help="seconds a record may wait (1.0)")
    p.add_argument("--catalog", type=Path, help="catalogue YAML (default: the sample)")
    add_store_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dossierflow.rules.catalog import load_catalog
    from dossierflow.sinks.kafka_sink import SinkSettings
    from dossierflow.store import StoreError, connect, migrate

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # One variable says where the sink answers, for the sink and for `dossierflow report`.
    listen = urllib.parse.urlsplit(sink_url(None))
    settings = SinkSettings.from_env(
        bootstrap=args.bootstrap,
        facts_topic=args.facts_topic,
        alerts_topic=args.alerts_topic,
        group_id=args.group_id,
        http_host=args.http_host or listen.hostname,
        http_port=args.http_port or listen.port or DEFAULT_SINK_HTTP_PORT,
        batch_size=args.batch_size,
        batch_max_age=args.batch_max_age,
    )
    try:
        catalog = load_catalog(args.catalog)
    except (OSError, ValueError) as exc:
        return fail("sink", f"catalogue: {exc}")
    try:
        write_store = connect(args.store)
        migrate(write_store)
        report_store = connect(args.store)
    except StoreError as exc:
        return fail("sink", str(exc), 1)
    try:
        asyncio.run(_serve_until_signal(settings, write_store, report_store, catalog))
    except OSError as exc:
        return fail("sink", f"HTTP endpoint {settings.http_host}:{settings.http_port}: {exc}", 1)
    finally:
        report_store.close()
        write_store.close()
    return 0


async def _serve_until_signal(
    settings: SinkSettings, write_store: Store, report_store: Store, catalog: Catalog
) -> None:
    from dossierflow.sinks.clickhouse import ClickHouseSink
    from dossierflow.sinks.kafka_sink import serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, ClickHouseSink(write_store), report_store, catalog, stop)
