"""Consumers of the pipeline's own output topics (the sink, the notifier)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer

from dossierflow.kafka.security import KafkaSecurity


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
