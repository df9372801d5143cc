"""Health of the long-running processes: `/healthz`, `/readyz` and `/metrics`.

- `/healthz` answers 200 while the process runs (liveness: restarting it would not help
  when Kafka or the store is down, so their state does not change this code).
- `/readyz` answers 200 once the process does its job (connected to Kafka and its store,
  partitions assigned, state recovered) and 503 with the reasons otherwise.
- `/metrics` is the Prometheus exposition of this process; every other path is 404, whose
  body names the paths that exist (`not_found_text`).

The worker serves them from a thread (`start_health_server`), because it must answer
before Faust's event loop runs: while it waits for Kafka at start. The sink (beside
`/report`) and `intake serve` (beside `POST /`) serve the same paths from their aiohttp
applications, with one implementation (`http_app.add_probe_routes`), and keep their view of
Kafka with `watch_kafka`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from dossierflow.errors import DossierflowError

log = logging.getLogger(__name__)

HEALTH_PATHS = ("/healthz", "/readyz", "/metrics")
"""What every long-running process serves: its probes and its Prometheus scrape."""


def not_found_text(paths: Sequence[str]) -> str:
    """The body of a 404: the paths that exist, so a mistyped probe or scrape URL is
    corrected at a glance."""
    return f"not found: try {', '.join(paths[:-1])} or {paths[-1]}\n"


def is_routine_probe(path: str, status: int) -> bool:
    """A probe or scrape whose answer tells the log nothing: a kubelet or Prometheus asks
    every few seconds. It succeeded, or it is the 503 of `/readyz`, whose reasons
    `ReadinessLog` logs once, when readiness changes."""
    return path in HEALTH_PATHS and (status < 400 or (path == "/readyz" and status == 503))


@dataclass(frozen=True)
class Readiness:
    """Whether the process does its job, and why not."""

    reasons: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return not self.reasons

    @property
    def http_status(self) -> int:
        return 200 if self.ready else 503

    def text(self) -> str:
        return "ready\n" if self.ready else "not ready: " + "; ".join(self.reasons) + "\n"

    def verdict(self) -> str:
        """`text` without the reasons, for callers that may not know them."""
        return "ready\n" if self.ready else "not ready\n"


class KafkaProbe:
    """Whether a broker of the bootstrap list accepts TCP connections.

    A cheap, client-independent signal that Kafka is down (the Kafka clients retry silently
    or log every attempt); probed at most once per `interval` seconds, from any thread.
    """

    def __init__(self, bootstrap: str, interval: float = 2.0, timeout: float = 1.0) -> None:
        self.bootstrap = bootstrap
        self.servers = server_addresses(bootstrap)
        self.interval = interval
        self.timeout = timeout
        self._checked_at = -float("inf")
        self._reachable = False
        self._lock = threading.Lock()

    def reachable(self) -> bool:
        with self._lock:
            if time.monotonic() - self._checked_at >= self.interval:
                self._reachable = any(self._accepts(host, port) for host, port in self.servers)
                self._checked_at = time.monotonic()
            return self._reachable

    def _accepts(self, host: str, port: int) -> bool:
        try:
            with socket.create_connection((host, port), timeout=self.timeout):
                return True
        except OSError:
            return False

    @property
    def reason(self) -> str:
        return f"Kafka at {self.bootstrap} is unreachable"


def server_addresses(bootstrap: str) -> list[tuple[str, int]]:
    """(host, port) of each server of a bootstrap list `HOST:PORT[,...]`."""
    return [_host_port(server) for server in bootstrap.split(",") if server.strip()]


def _host_port(server: str) -> tuple[str, int]:
    host, _, port = server.strip().rpartition(":")
    return host.strip("[]") or "localhost", int(port or 9092)


class ReadinessLog:
    """Logs the changes of readiness: one line when the process becomes ready (saying what
    it does), one when it stops being ready (saying why); nothing while nothing changes."""

    def __init__(self, ready_line: Callable[[], str]) -> None:
        self._ready_line = ready_line
        self._last: Readiness | None = None

    def observe(self, readiness: Readiness) -> None:
        last, self._last = self._last, readiness
        if readiness.ready and (last is None or not last.ready):
            log.info("ready: %s", self._ready_line())
        elif not readiness.ready and (last is None or last.ready):
            log.warning("not ready: %s", "; ".join(readiness.reasons))


class KafkaWatched(Protocol):
    """The state of an asyncio process that `watch_kafka` keeps current."""

    kafka_reachable: bool

    def readiness(self, bootstrap: str) -> Readiness: ...


async def watch_kafka(probe: KafkaProbe, status: KafkaWatched,
                      ready_line: Callable[[], str]) -> None:
    """Keep `status.kafka_reachable` current, once per probe interval, and log the changes of
    readiness (`ReadinessLog`); until cancelled. The probe connects from a thread, so the
    event loop keeps answering."""
    readiness_log = ReadinessLog(ready_line)
    while True:
        status.kafka_reachable = await asyncio.to_thread(probe.reachable)
        readiness_log.observe(status.readiness(probe.bootstrap))
        await asyncio.sleep(probe.interval)


def metrics_text() -> tuple[bytes, str]:
    """The Prometheus exposition of this process's default registry, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(), CONTENT_TYPE_LATEST


class HealthServerError(DossierflowError):
    """The health endpoint cannot listen on its port."""


IDLE_TIMEOUT = 15.0
"""Seconds a connection to a health endpoint may stay silent before it is closed: each holds a
thread, so slow clients must not hold them for long."""


def start_health_server(
    host: str,
    port: int,
    readiness: Callable[[], Readiness] | None,
    option: str,
    idle_timeout: float = IDLE_TIMEOUT,
    allowed_hosts: Sequence[str] = (),
) -> ThreadingHTTPServer:
    """Serve `/healthz`, `/readyz` and `/metrics` (only `/metrics` when `readiness` is None)
    from a daemon thread; returns the server (`shutdown()` stops it). `option` names the
    setting of the port in errors. The rules of `HttpAccess` apply, without a token: a
    Host not allowed is refused, and `/readyz` gives its reasons only on loopback."""
    from dossierflow.http_access import SECURITY_HEADERS, SERVER_NAME, HttpAccess

    access = HttpAccess.for_listener(host, allowed_hosts)
    paths = HEALTH_PATHS if readiness is not None else ("/metrics",)

    class Handler(BaseHTTPRequestHandler):
        timeout = idle_timeout

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            host_header = self.headers.get("Host")
            refusal = access.refusal(path, host_header, None)
            if refusal is not None:
                self._send(refusal[0], refusal[1].encode(), "text/plain; charset=utf-8")
            elif path == "/metrics":
                self._send(200, *metrics_text())
            elif path == "/healthz" and readiness is not None:
                self._send(200, b"alive\n", "text/plain; charset=utf-8")
            elif path == "/readyz" and readiness is not None:
                state = readiness()
                text = state.text() if access.trusted(host_header, None) else state.verdict()
                self._send(state.http_status, text.encode(), "text/plain; charset=utf-8")
            else:
                self._send(404, not_found_text(paths).encode(), "text/plain; charset=utf-8")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def version_string(self) -> str:
            return SERVER_NAME

        def log_message(self, format: str, *args: object) -> None:
            """Scrapes and probes every few seconds would drown the log."""

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise HealthServerError(
            f"cannot serve {', '.join(paths)} on port {port}: {exc.strerror}; "
            f"choose another port with {option}"
        ) from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health-http", daemon=True).start()
    return server
