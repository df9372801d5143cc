"""kafka-python's admin client, opened with the process's security settings: a broker that
refuses the client is said as such (kafka/diagnosis.py), one that does not answer is
`KafkaUnavailable`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dossierflow.kafka.diagnosis import connection_refusal_now
from dossierflow.kafka.errors import KafkaUnavailable
from dossierflow.kafka.security import KafkaSecurity


@contextmanager
def admin_client(bootstrap: str, security: KafkaSecurity, *, timeout_ms: int = 15_000,
                 client_id: str = "dossierflow-admin") -> Iterator[Any]:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, client_id=client_id, request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms, **security.as_kafka_python_kwargs(),
        )
    except KafkaError as exc:
        refusal = connection_refusal_now(bootstrap, security)
        if refusal is not None:  # waiting does not help
            raise refusal from None
        if not exc.retriable:
            raise
        raise KafkaUnavailable(
            f"no Kafka broker answered at {bootstrap} within {timeout_ms / 1000:.0f} s "
            f"({type(exc).__name__}); start it or give its address (--bootstrap, "
            "DOSSIERFLOW_BOOTSTRAP)"
        ) from None
    try:
        yield admin
    finally:
        admin.close()
