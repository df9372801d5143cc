"""The `dossierflow sink` process: the consumer loop (`sinks/kafka_sink.py`) and, in the same
process, `GET /report`, the dashboard, `/healthz`, `/readyz` and `/metrics` with aiohttp: chDB
lets one process open a data directory, and while the sink runs that process is this one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.web_log import AccessLogger
from clickhouse_connect.driver.exceptions import ClickHouseError

from dossierflow.health import (
    HEALTH_PATHS,
    KafkaProbe,
    ReadinessLog,
    is_routine_probe,
    metrics_text,
    not_found_text,
)
from dossierflow.http_access import SECURITY_HEADERS, SERVER_NAME, HttpAccess
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


class QuietProbesAccessLog(AccessLogger):
    """aiohttp's access log without the routine probes and scrapes (`is_routine_probe`),
    which would bury the requests of people (reports, the dashboard) and the failures;
    with `--loglevel debug` they are logged too."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if is_routine_probe(request.path, response.status) and not self.logger.isEnabledFor(
            logging.DEBUG
        ):
            return
        super().log(request, response, time)


@web.middleware
async def _list_paths_when_not_found(request: web.Request, handler: Any) -> web.StreamResponse:
    """A path no route matches is answered with the paths that exist, as the worker does; a
    route's own 404 (a missing static file) is left as it is."""
    if isinstance(request.match_info.http_exception, web.HTTPNotFound):
        return web.Response(status=404, text=not_found_text(SINK_PATHS))
    response: web.StreamResponse = await handler(request)
    return response


def _guard(access: HttpAccess) -> Any:
    """Refuse, before any handler runs, a request to a name the endpoint does not answer to
    or without the token (`HttpAccess.refusal`)."""

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        refusal = access.refusal(
            request.path, request.headers.get("Host"), request.headers.get("Authorization")
        )
        if refusal is not None:
            code, text = refusal
            headers = {"WWW-Authenticate": 'Bearer realm="dossierflow"'} if code == 401 else {}
            return web.Response(status=code, text=text, headers=headers)
        response: web.StreamResponse = await handler(request)
        return response

    return guard


async def _secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer, errors and static files included, carries `SECURITY_HEADERS` and no
    version in `Server`."""
    response.headers.update(SECURITY_HEADERS)
    response.headers["Server"] = SERVER_NAME


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

    def trusted(request: web.Request) -> bool:
        return access.trusted(request.headers.get("Host"), request.headers.get("Authorization"))

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response(status.as_dict() if trusted(request) else {"status": "alive"})

    async def readyz(request: web.Request) -> web.Response:
        readiness = status.readiness(settings.bootstrap)
        text = readiness.text() if trusted(request) else readiness.verdict()
        return web.Response(text=text, status=readiness.http_status)

    async def metrics(request: web.Request) -> web.Response:
        try:
            rollup_watch.observe(await runner.run(rollup_state))
        except (ClickHouseError, OSError) as exc:  # the scrape still answers
            log.warning("could not read the rollup's state: %s", exc)
        body, content_type = metrics_text()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application(middlewares=[_guard(access), _list_paths_when_not_found])
    app.on_response_prepare.append(_secure_headers)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
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


async def _watch(
    probe: KafkaProbe, status: SinkStatus, settings: SinkSettings, topics: tuple[str, ...]
) -> None:
    """Keep `status.kafka_reachable` current and log the changes of readiness."""
    readiness_log = ReadinessLog(
        lambda: f"storing {', '.join(topics)} from {settings.bootstrap} into {status.store}; "
        f"GET /report on {settings.http_host}:{settings.http_port}"
    )
    while True:
        status.kafka_reachable = await asyncio.to_thread(probe.reachable)
        readiness_log.observe(status.readiness(settings.bootstrap))
        await asyncio.sleep(probe.interval)


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
        _watch(KafkaProbe(settings.bootstrap), status, settings, runner.topics)
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
