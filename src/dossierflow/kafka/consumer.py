"""Consumers of the pipeline's own output topics (the sink, the notifier)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from dossierflow.kafka.diagnosis import KafkaNotAuthorized, connection_refusal, not_authorized
from dossierflow.kafka.security import KafkaSecurity

AUTHORIZATION_ERRORS = (TopicAuthorizationFailedError, GroupAuthorizationFailedError)
"""What aiokafka raises when the broker's authorizer refuses a consumer (at start, or on a
poll: a group is checked when the consumer joins it)."""


def committing_consumer(bootstrap: str, group_id: str) -> AIOKafkaConsumer:
    """A consumer in its own group that commits nothing by itself: its owner commits an
    offset only once what it read is stored, so a crash re-reads instead of losing. Reads
    committed records only, from the start for a new group; SASL/TLS settings come from the
    environment (`KafkaSecurity`)."""
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


def authorization_refused(
    exc: TopicAuthorizationFailedError | GroupAuthorizationFailedError, group_id: str,
    *, topic_operation: str = "read",
) -> KafkaNotAuthorized:
    """One of `AUTHORIZATION_ERRORS` as the sentence that names the topic or the group
    (`topic_operation`: what the process does with its topics, "read" for a consumer)."""
    if isinstance(exc, GroupAuthorizationFailedError):
        what = f"use the consumer group {group_id}"
    else:
        what = f"{topic_operation} the topic {exc.args[0] if exc.args else '(unnamed)'}"
    return not_authorized(KafkaSecurity.from_env(), what)
