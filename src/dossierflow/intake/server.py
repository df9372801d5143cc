"""`dossierflow intake serve`: the endpoint one-stop systems push their sync bodies to.

A province's integration platform (LGSP) mirrors to this endpoint the bodies it sends the
national portal: `POST /` with one body (a JSON object) or a batch (a JSON array of
bodies), `Authorization: Bearer <token>`. Each body is translated as the file command
translates it (`IntakeSession`), its events sent to the events topic keyed by dossier, and
the request answered in the portal's shape (`{"error_code": "0", ...}`) only once Kafka has
acknowledged every event: a 2xx means the events are stored, anything else means "send it
again", which is safe because the same body always gives the same `event_id`s.

- 200: every record translated and its events acknowledged.
- 400: a body that is not JSON, or whose `service` or `data` is wrong; 422: some records
  rejected (the others' events are acknowledged first). Each rejection names the field
  and the reason, and is appended to the rejections file, personal fields removed.
- 413: a request larger than `max_body_bytes`; 401/421: `HttpAccess`.
- 503: Kafka unreachable or too slow to acknowledge within `ack_timeout`; or Kafka
  refused the intake's login or rights, which the answer names: the process then ends with
  the refusal's sentence and exit code 2, as the other processes do (it reads its password
  once, so only a restart with the right one helps). A refusal at start ends it the same
  way; one while running is found by `produce`'s `RefusalCheck` once events wait
  unacknowledged for half of `ack_timeout` (at most 10 s), or at once when kafka-python
  fails a send with the broker's refusal (`EventPublisher.explain`).

Bodies are translated one at a time, in the order they arrive, and handed to the producer
in that order (one lock around both), so a dossier's events keep their order on its
partition; the acknowledgements are awaited outside the lock. The memory of earlier bodies
moves on, and is committed to the memory file (intake/memory_file.py), when a body is
translated, before Kafka acknowledges: a body answered 503 and sent again translates to the
same events, since it repeats what the memory already holds, and so does a body sent again
after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from dossierflow.health import HEALTH_PATHS, KafkaProbe, Readiness, watch_kafka
from dossierflow.http_access import HttpAccess
from dossierflow.http_app import QuietProbesAccessLog, add_probe_routes, guarded_app
from dossierflow.intake import metrics
from dossierflow.intake.memory_file import IntakeMemoryError, MemoryFile
from dossierflow.intake.publish import EventPublisher, acknowledged
from dossierflow.intake.session import IntakeSession, rejection_line
from dossierflow.intake.settings import IntakeSettings
from dossierflow.intake.translate import RecordError, Rejection, parse_body
from dossierflow.kafka.diagnosis import KafkaRefused
from dossierflow.kafka.security import KafkaSecurity

log = logging.getLogger(__name__)

INTAKE_PATHS = ("/", *HEALTH_PATHS)
LINGER_MS = 0
"""An answer waits for its acknowledgement, so the producer does not linger: requests under
way batch on their own while a send is in flight (docs/intake.md, "Benchmark": 5 ms of
lingering cost a single sender three quarters of its throughput)."""


@dataclass
class IntakeStatus:
    publisher: EventPublisher | None = None
    refusal: KafkaRefused | None = None
    """Kafka refused this intake: it answers 503 naming the refusal, then ends."""
    kafka_reachable: bool = False
    last_error: str | None = None
    bodies: int = 0
    events: int = 0
    rejected: int = 0

    def readiness(self, bootstrap: str) -> Readiness:
        if self.refusal is not None:
            return Readiness((str(self.refusal),))
        if self.publisher is None:
            return Readiness((f"not connected to Kafka at {bootstrap}: {self.last_error}",))
        if not self.kafka_reachable:
            return Readiness((f"Kafka at {bootstrap} is unreachable",))
        return Readiness()

    def as_dict(self) -> dict[str, Any]:
        return {"status": "ok" if self.publisher else "kafka_unavailable",
                "bodies": self.bodies, "events": self.events, "rejected": self.rejected,
                "last_error": self.last_error}


def answer(status: int, message: str, **more: Any) -> web.Response:
    """An answer in the portal's shape: `error_code` "0" when the body was taken."""
    code = "0" if status < 300 else "-1"
    return web.json_response({"error_code": code, "message": message, **more}, status=status,
                             dumps=lambda obj: json.dumps(obj, ensure_ascii=False))


def _rejection_answer(rejection: Rejection, body: int) -> dict[str, Any]:
    return {"body": body, "index": rejection.index, "dossier_id": rejection.dossier_id,
            "field": rejection.field, "reason": rejection.reason}


@dataclass
class IntakeEndpoint:
    settings: IntakeSettings
    session: IntakeSession
    rejections: Path
    status: IntakeStatus = field(default_factory=IntakeStatus)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to end the process (a signal, or a refusal)."""
    _order: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def post(self, request: web.Request) -> web.Response:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            metrics.BODIES.labels("too_large").inc()
            return answer(413, f"the request is larger than {self.settings.max_body_bytes} "
                          "bytes (DOSSIERFLOW_INTAKE_MAX_BODY_BYTES); send fewer records a body")
        try:
            parsed = parse_body(raw)
        except RecordError as exc:
            metrics.BODIES.labels("rejected").inc()
            self._keep([Rejection(str(exc), None, None, None, None)], [0])
            return answer(400, str(exc), rejected=[{"body": 0, "field": None,
                                                     "reason": str(exc)}])
        bodies: Sequence[Any] = parsed if isinstance(parsed, list) else [parsed]
        publisher = self.status.publisher
        if self.status.refusal is not None:
            return self._refused(len(bodies))
        if publisher is None:
            metrics.BODIES.labels("unavailable").inc(len(bodies))
            return answer(503, f"Kafka is not reachable at {self.settings.bootstrap}; send the "
                          "body again later")
        async with self._order:
            try:
                translations = [self.session.take_body(body) for body in bodies]
                self.session.commit()
            except IntakeMemoryError as exc:
                return self._memory_failed(exc, len(bodies))
            events = self.session.fresh(event for t in translations for event in t.events)
            try:
                futures = await asyncio.to_thread(publisher.send, events)
            except Exception as exc:  # kafka-python: no metadata within max_block_ms
                return await self._failed(exc, publisher, len(bodies))
        try:
            await asyncio.wait_for(acknowledged(futures), self.settings.ack_timeout + 5)
        except Exception as exc:  # KafkaTimeoutError, a broker's error, our own guard
            return await self._failed(exc, publisher, len(bodies))
        self.session.mark_published(events)
        rejected = [(n, r) for n, t in enumerate(translations) for r in t.rejections]
        self._keep([r for _, r in rejected], [n for n, _ in rejected])
        self._count(len(bodies), len(events), len(rejected))
        if not rejected:
            metrics.BODIES.labels("accepted").inc(len(bodies))
            return answer(200, "ok", events=len(events))
        metrics.BODIES.labels("rejected").inc(len({n for n, _ in rejected}))
        metrics.BODIES.labels("accepted").inc(len(bodies) - len({n for n, _ in rejected}))
        whole_body = any(r.index is None for _, r in rejected)
        return answer(
            400 if whole_body else 422,
            f"{len(rejected)} rejected; the events of everything else ({len(events)}) are "
            "stored", events=len(events),
            rejected=[_rejection_answer(r, n) for n, r in rejected],
        )

    def _memory_failed(self, exc: IntakeMemoryError, bodies: int) -> web.Response:
        """Nothing was published: the body sent again is translated again, the same."""
        metrics.BODIES.labels("unavailable").inc(bodies)
        self.status.last_error = str(exc)
        log.error("could not keep its memory: %s", exc)
        return answer(503, "the intake could not keep its memory; send the body again")

    async def end_refused(self, refusal: KafkaRefused) -> None:
        """Kafka refused this intake: say so, answer 503 from now on (the requests waiting
        too: the producer is closed at once, failing their events), and end."""
        if self.status.refusal is None:
            log.error("%s; the intake ends (exit code 2): start it again once its "
                      "credentials or rights are right", refusal)
            self.status.refusal = refusal
            self.status.last_error = str(refusal)
            if self.status.publisher is not None:
                await asyncio.to_thread(self.status.publisher.close_at_once)
        self.stop.set()

    def _refused(self, bodies: int) -> web.Response:
        metrics.BODIES.labels("unavailable").inc(bodies)
        return answer(503, f"{self.status.refusal}; the intake stops: send the body again "
                      "once it runs again")

    async def _failed(self, exc: BaseException, publisher: EventPublisher,
                      bodies: int) -> web.Response:
        """A send or its acknowledgement failed: a refused login ends the intake."""
        try:
            await asyncio.to_thread(publisher.explain, exc)
        except KafkaRefused as refusal:
            await self.end_refused(refusal)
        return self._unavailable(exc, bodies)

    def _unavailable(self, exc: BaseException, bodies: int) -> web.Response:
        if self.status.refusal is not None:  # its events failed when the producer closed
            return self._refused(bodies)
        metrics.BODIES.labels("unavailable").inc(bodies)
        self.status.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("Kafka did not acknowledge a request's events: %s", self.status.last_error)
        return answer(503, f"Kafka at {self.settings.bootstrap} did not acknowledge the events "
                      f"within {self.settings.ack_timeout:g} s; send the body again")

    def _count(self, bodies: int, events: int, rejected: int) -> None:
        self.status.bodies += bodies
        self.status.events += events
        self.status.rejected += rejected
        metrics.EVENTS.inc(events)
        metrics.REJECTIONS.inc(rejected)

    def _keep(self, rejections: list[Rejection], bodies: list[int]) -> None:
        """Append each rejection to the rejections file (personal fields already removed)
        and log its reason."""
        if not rejections:
            return
        received_at = datetime.now(UTC).isoformat(timespec="seconds")
        for rejection, body in zip(rejections, bodies, strict=True):
            log.warning("rejected: body %d record %s of %s: %s", body, rejection.index,
                        rejection.dossier_id, rejection.reason)
        try:
            self.rejections.parent.mkdir(parents=True, exist_ok=True)
            with self.rejections.open("a", encoding="utf-8") as out:
                for rejection, body in zip(rejections, bodies, strict=True):
                    out.write(rejection_line(rejection, received_at=received_at,
                                             body_index=body) + "\n")
        except OSError as exc:
            # The events are in Kafka and the answer names each rejection: a full or
            # read-only disk must not turn that into a 500 the sender would retry for ever.
            log.error("rejections not written to %s (%s): they are only in this log and in "
                      "the answers", self.rejections, exc.strerror or exc)


def build_app(endpoint: IntakeEndpoint, access: HttpAccess) -> web.Application:
    settings = endpoint.settings
    app = guarded_app(access, INTAKE_PATHS, client_max_size=settings.max_body_bytes)
    app.router.add_post("/", endpoint.post)
    add_probe_routes(app, access, endpoint.status.as_dict,
                     lambda: endpoint.status.readiness(settings.bootstrap))
    return app


def producer_configs(settings: IntakeSettings) -> dict[str, Any]:
    """Kafka gives up on an event after `ack_timeout`, so an answer never waits longer."""
    deadline_ms = int(settings.ack_timeout * 1000)
    return {"linger_ms": LINGER_MS, "max_block_ms": deadline_ms,
            "delivery_timeout_ms": deadline_ms,
            "request_timeout_ms": max(500, deadline_ms - LINGER_MS - 1)}


async def _connect(endpoint: IntakeEndpoint, security: KafkaSecurity,
                   stop: asyncio.Event) -> None:
    """Create the events topic if missing and the producer, retried every 2 s while Kafka
    does not answer; the endpoint answers 503 meanwhile."""
    from dossierflow.kafka.topics import TopicSpec, ensure_topics

    settings = endpoint.settings
    while not stop.is_set():
        try:
            await asyncio.to_thread(
                ensure_topics, settings.bootstrap,
                [TopicSpec(settings.events_topic, settings.partitions)],
                security=security, timeout_ms=int(settings.ack_timeout * 1000),
            )
            endpoint.status.publisher = await asyncio.to_thread(
                EventPublisher, settings.bootstrap, settings.events_topic,
                security=security, configs=producer_configs(settings),
                refusal_after=min(10.0, settings.ack_timeout / 2),
            )
            return
        except KafkaRefused as refusal:  # waiting does not help
            await endpoint.end_refused(refusal)
            return
        except Exception as exc:  # no broker yet: said by /readyz
            if endpoint.status.last_error is None:
                log.warning("waiting for Kafka at %s: %s", settings.bootstrap, exc)
            endpoint.status.last_error = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)


async def _end_when_refused(endpoint: IntakeEndpoint) -> None:
    """Each second while events wait unacknowledged, the producer's `RefusalCheck`: a
    password changed while the intake runs is otherwise retried by kafka-python in silence,
    each request answered "not acknowledged" after `ack_timeout`, for ever."""
    while not endpoint.stop.is_set():
        publisher = endpoint.status.publisher
        if publisher is not None:
            try:
                await asyncio.to_thread(publisher.check)
            except KafkaRefused as refusal:
                await endpoint.end_refused(refusal)
                return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(endpoint.stop.wait(), 1.0)


async def serve(settings: IntakeSettings, access: HttpAccess, stop: asyncio.Event,
                security: KafkaSecurity | None = None) -> IntakeStatus:
    """Take bodies until `stop` is set; then finish the requests under way and close the
    producer (which sends what it still holds)."""
    memory_path = settings.memory_path(serving=True)
    rejections_path = settings.rejections_path(serving=True)
    assert memory_path is not None and rejections_path is not None
    memory = MemoryFile(memory_path)
    endpoint = IntakeEndpoint(settings, IntakeSession(settings.rules(), memory),
                              rejections_path, stop=stop)
    runner = web.AppRunner(build_app(endpoint, access), access_log_class=QuietProbesAccessLog,
                           keepalive_timeout=settings.http_idle_timeout)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
        tasks = [
            asyncio.create_task(_connect(endpoint, security or KafkaSecurity.from_env(), stop)),
            asyncio.create_task(_end_when_refused(endpoint)),
            asyncio.create_task(watch_kafka(
                KafkaProbe(settings.bootstrap), endpoint.status,
                lambda: f"taking sync bodies on {settings.http_host}:{settings.http_port}, "
                f"events to {settings.events_topic} at {settings.bootstrap}",
            )),
        ]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
    finally:
        await runner.cleanup()
        memory.close()  # every request's memory was committed before its answer
        if endpoint.status.publisher is not None:
            await asyncio.to_thread(endpoint.status.publisher.close, settings.ack_timeout)
    if endpoint.status.refusal is not None:
        raise endpoint.status.refusal  # its sentence, exit code 2
    return endpoint.status
