"""A password Kafka refuses after start-up, said as such.

SCRAM authenticates a connection once. When a running process connects again (the broker
restarted, or ended the session after its `connections.max.reauth.ms`) with a password the
admin has changed meanwhile, aiokafka logs the refusal and retries it for ever: the process
stays up, answers its probes, and does nothing. `watch_authentications` wraps the function
with which aiokafka's clients open every connection (`aiokafka.client.create_conn`, the
name `AIOKafkaClient.bootstrap` and `_get_conn` call, pinned by
tests/test_kafka_refused_at_run.py), so the process keeps the first refusal, and its loop
ends it with the start-up check's sentence and exit code 2: the sink's and the notifier's
around each poll (`until_refused`), the worker's from a timer (`commands/worker.py`).

Waiting would not help: the process reads its password once, so it must be started again
with the new one (its supervisor restarts it; docs/operations.md, "Kafka and ClickHouse
rights").
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dossierflow.kafka.diagnosis import KafkaCredentialsRefused, credentials_refused

T = TypeVar("T")

_lock = threading.Lock()
_refusal: KafkaCredentialsRefused | None = None
"""The first refused authentication of this process (any thread: Faust's consumer runs
its own event loop)."""


def watch_authentications() -> None:
    """From now on, every aiokafka client of this process records a refused authentication
    (idempotent)."""
    import aiokafka.client

    with _lock:
        opened: Callable[..., Awaitable[Any]] = aiokafka.client.create_conn
        if getattr(opened, "watched", False):
            return
        aiokafka.client.create_conn = _watched(opened)


def _watched(create_conn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    from aiokafka.errors import AuthenticationFailedError, SaslAuthenticationFailed

    async def watched(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        try:
            return await create_conn(host, port, *args, **kwargs)
        except (SaslAuthenticationFailed, AuthenticationFailedError):
            _refused(credentials_refused(kwargs.get("sasl_plain_username"),
                                         kwargs.get("sasl_mechanism"), host, port))
            raise  # aiokafka logs it and tries again; the process's loop ends it

    watched.watched = True  # type: ignore[attr-defined]
    return watched


def _refused(refusal: KafkaCredentialsRefused) -> None:
    global _refusal
    with _lock:
        _refusal = _refusal or refusal


def refusal() -> KafkaCredentialsRefused | None:
    """The first authentication Kafka refused to this process, if any."""
    with _lock:
        return _refusal


def raise_if_refused() -> None:
    """Raise the first refused authentication, if any: the process must end."""
    found = refusal()
    if found is not None:
        raise KafkaCredentialsRefused(str(found))


async def until_refused(work: Awaitable[T], every: float = 0.5) -> T:
    """`await work`, ended by the first refused authentication as soon as it is recorded: a
    reconnection refused leaves aiokafka's commit and coordinator calls waiting for ever, so
    checking only after each poll can miss it (a sink waiting on a commit did, in CI)."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            raise_if_refused()
    finally:
        task.cancel()  # a no-op once it is done
