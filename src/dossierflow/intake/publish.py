"""Translated events to the events topic, through `dossierflow produce`'s producer.

The producer is `kafka.producer.events_producer` (acks from all in-sync replicas) and each
event is sent with `send_event`, keyed by its dossier, so the worker sees an intake's
events exactly as it sees `produce`'s, and a refused login is found by `produce`'s
`RefusalCheck` (`check`, `flush`). `acknowledged` lets the HTTP endpoint await Kafka's
acknowledgements from asyncio: kafka-python completes its futures on its own thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from kafka.errors import SaslAuthenticationFailedError

from dossierflow.kafka.producer import RefusalCheck, close_at_once, events_producer, send_event
from dossierflow.kafka.security import KafkaSecurity
from dossierflow.schemas.event import DossierEvent, encode_event

CLIENT_ID = "dossierflow-intake"


class EventPublisher:
    """One producer for the life of an intake run or endpoint."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        security: KafkaSecurity | None = None,
        configs: Mapping[str, Any] | None = None,
        refusal_after: float = 10.0,
    ) -> None:
        """`refusal_after`: seconds events wait with none acknowledged before the broker is
        asked whether it refuses this client (`RefusalCheck.after`)."""
        self.topic = topic
        security = security or KafkaSecurity.from_env()
        self._producer = events_producer(bootstrap, CLIENT_ID, security=security,
                                         configs=configs)
        self._refusals = RefusalCheck(bootstrap, security, after=refusal_after)

    def send(self, events: Iterable[DossierEvent]) -> list[Any]:
        """Hand `events` to the producer, in order; their futures (kafka-python's)."""
        futures = [send_event(self._producer, self.topic, event.dossier_id,
                              encode_event(event)) for event in events]
        for future in futures:
            self._refusals.sent(future)
        return futures

    def check(self) -> None:
        """Raise `KafkaRefused` when Kafka refuses this client while events wait (blocks
        while it asks the broker)."""
        self._refusals.check()

    def explain(self, failure: BaseException) -> None:
        """Raise `KafkaRefused`, said as the start-up check says it, when `failure` (a
        send's or an acknowledgement's) is Kafka refusing the login: a producer with no
        metadata of the topic yet fails its events with it at once (blocks while it asks)."""
        if isinstance(failure, SaslAuthenticationFailedError):
            self._refusals.ask()

    def flush(self) -> None:
        self._refusals.flush(self._producer)

    def close(self, timeout: float | None = None) -> None:
        self._producer.close(timeout=timeout)

    def close_at_once(self) -> None:
        """Close after a refusal: the events waiting fail now."""
        close_at_once(self._producer)


async def acknowledged(futures: Iterable[Any]) -> None:
    """Return once Kafka acknowledged every future; raise the first failure otherwise.

    The producer's own `delivery_timeout_ms` bounds the wait: a future it cannot deliver
    fails with `KafkaTimeoutError` then."""
    loop = asyncio.get_running_loop()
    waiters: list[asyncio.Future[None]] = []
    for future in futures:
        waiter: asyncio.Future[None] = loop.create_future()
        future.add_callback(lambda _metadata, w=waiter: _settle(loop, w, None))
        future.add_errback(lambda exc, w=waiter: _settle(loop, w, exc))
        waiters.append(waiter)
    await asyncio.gather(*waiters)


def _settle(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None],
            outcome: Any) -> None:
    """Complete `waiter` on its loop (called from the producer's thread, or at once when
    the future was already done); `outcome` is an exception or the record's metadata."""

    def complete() -> None:
        if waiter.done():
            return
        if isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(None)

    loop.call_soon_threadsafe(complete)
