"""Consumers of the pipeline's own output topics (the sink, the notifier)."""

from __future__ import annotations

import traceback
from pathlib import PurePath
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from dossierflow.kafka import credentials_watch
from dossierflow.kafka.credentials_watch import raise_if_refused, watch_authentications
from dossierflow.kafka.diagnosis import (
    KafkaNotAuthorized,
    KafkaRefused,
    connection_refusal,
    not_authorized,
)
from dossierflow.kafka.security import KafkaSecurity

AUTHORIZATION_ERRORS = (TopicAuthorizationFailedError, GroupAuthorizationFailedError)
"""What aiokafka raises when the broker's authorizer refuses a consumer (at start, or on a
poll: a group is checked when the consumer joins it)."""


def committing_consumer(bootstrap: str, group_id: str) -> AIOKafkaConsumer:
    """A consumer in its own group that commits nothing by itself: its owner commits an
    offset only once what it read is stored, so a crash re-reads instead of losing. Reads
    committed records only, from the start for a new group; SASL/TLS settings come from the
    environment (`KafkaSecurity`). Its authentications are watched (`getmany_or_refused`)."""
    watch_authentications()
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **KafkaSecurity.from_env().as_aiokafka_kwargs(),
    )


async def start_or_refused(consumer: AIOKafkaConsumer, bootstrap: str, group_id: str) -> None:
    """`consumer.start()`. When the broker refused this client (its credentials, the trust in
    its certificate, the rights on the subscribed topics), raises `KafkaRefused` saying so;
    when nobody answered, aiokafka's `KafkaConnectionError` (waiting may help)."""
    try:
        await consumer.start()
    except AUTHORIZATION_ERRORS as exc:
        raise authorization_refused(exc, group_id) from None
    except KafkaConnectionError:
        refusal = await connection_refusal(bootstrap, KafkaSecurity.from_env())
        if refusal is not None:
            raise refusal from None
        raise


async def getmany_or_refused(consumer: Any, group_id: str, *, timeout_ms: int,
                             max_records: int) -> dict[Any, list[Any]]:
    """`consumer.getmany()`. When the broker refused this process after start-up (a grant
    removed, or a password changed: a reconnection refused, kafka/credentials_watch.py),
    raises `KafkaRefused` saying so: aiokafka would retry the latter silently for ever."""
    try:
        fetched: dict[Any, list[Any]] = await consumer.getmany(timeout_ms=timeout_ms,
                                                               max_records=max_records)
    except AUTHORIZATION_ERRORS as exc:
        raise authorization_refused(exc, group_id) from None
    raise_if_refused()
    return fetched


def authorization_refused(
    exc: TopicAuthorizationFailedError | GroupAuthorizationFailedError, group_id: str,
    *, topic_operation: str = "read",
) -> KafkaNotAuthorized:
    """One of `AUTHORIZATION_ERRORS` as the sentence that names the topic or the group
    (`topic_operation`: what the process does with its topics, "read" for a consumer)."""
    if isinstance(exc, GroupAuthorizationFailedError):
        what = f"use the consumer group {group_id}"
    else:
        named = exc.args[0] if exc.args else "(unnamed)"  # the topic, or a TopicPartition
        what = f"{topic_operation} the topic {getattr(named, 'topic', named)}"
    return not_authorized(KafkaSecurity.from_env(), what)


def topic_operation_of(exc: BaseException | None) -> str:
    """What a process that both reads and writes was doing with the topic Kafka refused in
    `exc`: "read" when aiokafka's consumer raised it (a fetch, an offsets request), "write"
    when its producer did, "read or write" when the traceback tells neither. The innermost
    aiokafka frame decides."""
    frames = traceback.walk_tb(exc.__traceback__ if exc is not None else None)
    for frame, _ in reversed(list(frames)):
        parts = PurePath(frame.f_code.co_filename).parts
        if "aiokafka" in parts:
            if "consumer" in parts:
                return "read"
            if "producer" in parts:
                return "write"
    return "read or write"


def refusal_behind(exc: BaseException | None, group_id: str | None = None, *,
                   topic_operation: str = "read") -> KafkaRefused | None:
    """The broker's refusal that ended a process with `exc`, said as such: the credentials
    it was refused on a reconnection (whatever failed next), `exc` itself, or, with the
    process's `group_id`, one of `AUTHORIZATION_ERRORS`; None when Kafka refused nothing."""
    refused = credentials_watch.refusal()
    if refused is not None:
        return refused
    if isinstance(exc, KafkaRefused):
        return exc
    if group_id is not None and isinstance(exc, AUTHORIZATION_ERRORS):
        return authorization_refused(exc, group_id, topic_operation=topic_operation)
    return None
