"""The `dossierflow sink` process: the consumer loop (`sinks/kafka_sink.py`) and, in the same
process, `GET /report`, the dashboard, `/healthz`, `/readyz` and `/metrics` with aiohttp: chDB
lets one process open a data directory, and while the sink runs that process is this one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from clickhouse_connect.driver.exceptions import ClickHouseError

from dossierflow.health import HEALTH_PATHS, KafkaProbe, watch_kafka
from dossierflow.http_access import HttpAccess
from dossierflow.http_app import QuietProbesAccessLog, add_probe_routes, guarded_app
from dossierflow.reporting.http import add_reporting_routes
from dossierflow.rollups import rollup_state
from dossierflow.rules.catalog import Catalog
from dossierflow.sinks.base import BatchingSink
from dossierflow.sinks.kafka_sink import (
    SinkRecord,
    SinkRunner,
    SinkStatus,
    make_consumer,
    start_consumer,
)
from dossierflow.sinks.metrics import RollupWatch
from dossierflow.sinks.rollup_refresh import RollupRefresher
from dossierflow.sinks.settings import SinkSettings
from dossierflow.store import Store

log = logging.getLogger(__name__)

SINK_PATHS = (*HEALTH_PATHS, "/report", "/dashboard")
"""The paths a 404 of the sink suggests."""


def listener_access(settings: SinkSettings, token: str | None) -> HttpAccess:
    """The sink's `HttpAccess` from its settings and the token (`StoreSettings.token`)."""
    return HttpAccess.for_listener(
        settings.http_host, settings.http_allowed_hosts.split(","), token
    )


def build_app(
    status: SinkStatus,
    settings: SinkSettings,
    report_store: Store,
    catalog: Catalog,
    access: HttpAccess | None = None,
) -> web.Application:
    """`GET /healthz` (200 while the process runs, with the sink's state), `/readyz` (503
    with the reasons until it consumes and stores), `/metrics` (Prometheus; the rollup's
    gauges are read at each scrape), `/report` and the dashboard (`/dashboard`,
    reporting/http.py), behind `access` (default: no token, the loopback names)."""
    access = access or listener_access(settings, None)

    async def observe_rollup() -> None:
        try:
            rollup_watch.observe(await runner.run(rollup_state))
        except (ClickHouseError, OSError) as exc:  # the scrape still answers
            log.warning("could not read the rollup's state: %s", exc)

    app = guarded_app(access, SINK_PATHS)
    add_probe_routes(app, access, status.as_dict, lambda: status.readiness(settings.bootstrap),
                     observe_rollup)
    runner = add_reporting_routes(
        app, report_store, catalog, time_limit=settings.query_time_limit
    )
    rollup_watch = RollupWatch()
    return app


async def start_http(app: web.Application, settings: SinkSettings) -> web.AppRunner:
    """Serve `app` on the settings' host and port; returns the runner (`cleanup()` stops
    it). A connection that has not sent a whole request within `http_idle_timeout` seconds
    of opening (or of its last answer) is closed, so slow clients cannot hold sockets."""
    app_runner = web.AppRunner(
        app,
        access_log_class=QuietProbesAccessLog,
        keepalive_timeout=settings.http_idle_timeout,
    )
    await app_runner.setup()
    try:
        await web.TCPSite(app_runner, settings.http_host, settings.http_port).start()
    except BaseException:
        await app_runner.cleanup()
        raise
    return app_runner


async def serve(
    settings: SinkSettings,
    sink: BatchingSink[SinkRecord],
    report_store: Store,
    catalog: Catalog,
    stop: asyncio.Event,
    consumer: Any | None = None,
    refresher: RollupRefresher | None = None,
    access: HttpAccess | None = None,
) -> SinkStatus:
    """Run the consumer loop and the HTTP endpoint until `stop` is set."""
    status = SinkStatus(store=report_store.url.display)
    consumer = consumer or make_consumer(settings)
    runner = SinkRunner(consumer, sink, settings, status, refresher=refresher)
    consumer.subscribe(list(runner.topics), listener=runner.listener())
    app = build_app(status, settings, report_store, catalog, access)
    app_runner = await start_http(app, settings)
    watcher = asyncio.create_task(
        watch_kafka(KafkaProbe(settings.bootstrap), status, lambda: (
            f"storing {', '.join(runner.topics)} from {settings.bootstrap} into "
            f"{status.store}; GET /report on {settings.http_host}:{settings.http_port}"))
    )
    try:
        try:
            if await start_consumer(consumer, settings, stop):
                await runner.run(stop)
        finally:
            await consumer.stop()
    finally:
        watcher.cancel()
        await app_runner.cleanup()
    return status
