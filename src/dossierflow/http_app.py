"""What every aiohttp endpoint of dossierflow shares (the sink's, the intake's).

`guarded_app` builds an application whose every answer follows `HttpAccess` (Host names,
the bearer token, the security headers, no version in `Server`) and whose unknown paths are
answered with the paths that exist; `add_probe_routes` serves its `/healthz`, `/readyz` and
`/metrics` (health.py says what each answers); `QuietProbesAccessLog` keeps the routine
probes and scrapes out of the access log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.web_log import AccessLogger

from dossierflow.health import Readiness, is_routine_probe, metrics_text, not_found_text
from dossierflow.http_access import SECURITY_HEADERS, SERVER_NAME, HttpAccess


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


def _list_paths_when_not_found(paths: Sequence[str]) -> Any:
    """A path no route matches is answered with the paths that exist, as the worker does; a
    route's own 404 (a missing static file) is left as it is."""

    @web.middleware
    async def not_found(request: web.Request, handler: Any) -> web.StreamResponse:
        if isinstance(request.match_info.http_exception, web.HTTPNotFound):
            return web.Response(status=404, text=not_found_text(paths))
        response: web.StreamResponse = await handler(request)
        return response

    return not_found


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


def guarded_app(access: HttpAccess, paths: Sequence[str], **options: Any) -> web.Application:
    """An application behind `access`; a 404 suggests `paths`; `options` go to aiohttp's
    `Application` (`client_max_size`...)."""
    app = web.Application(
        middlewares=[_guard(access), _list_paths_when_not_found(paths)], **options
    )
    app.on_response_prepare.append(_secure_headers)
    return app


def add_probe_routes(
    app: web.Application,
    access: HttpAccess,
    state: Callable[[], dict[str, Any]],
    readiness: Callable[[], Readiness],
    before_scrape: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """`GET /healthz` (200 while the process runs: `state()` to a trusted caller, `alive` to
    others), `/readyz` (`readiness()`: its reasons to a trusted caller, the verdict to
    others) and `/metrics` (the process's registry, after `before_scrape` has updated the
    gauges read at each scrape). Who is trusted is `access`'s rule: the token, or a loopback
    name when there is none."""

    def trusted(request: web.Request) -> bool:
        return access.trusted(request.headers.get("Host"), request.headers.get("Authorization"))

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response(state() if trusted(request) else {"status": "alive"})

    async def readyz(request: web.Request) -> web.Response:
        verdict = readiness()
        text = verdict.text() if trusted(request) else verdict.verdict()
        return web.Response(text=text, status=verdict.http_status)

    async def scrape(request: web.Request) -> web.Response:
        if before_scrape is not None:
            await before_scrape()
        body, content_type = metrics_text()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", scrape)
