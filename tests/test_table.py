"""The dossiers table (streams/table.py) on a Faust app against the real broker: once
`changelog_delivered` returns, every changelog record of the writes before it is in Kafka
(the worker acknowledges a batch's events only then)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any, cast

import faust
import pytest
from dossierflow.streams.table import DossierTable
from kafka import KafkaConsumer, TopicPartition

from dossierflow.kafka.topics import TopicSpec, ensure_topics

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

PARTITIONS = 2
RECORDS = 3_000
VALUE = b"x" * 2_000
"""About a record's size: 3,000 of them fill many of the producer's batches."""


def _changelog_ends(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
    finally:
        consumer.close()
    return {tp.partition: offset for tp, offset in ends.items()}


async def test_changelog_delivered_returns_once_every_write_is_in_kafka(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    app_id = f"table-{uuid.uuid4().hex[:8]}"
    changelog = f"{app_id}-dossiers-changelog"
    ensure_topics(kafka_bootstrap, [TopicSpec(changelog, PARTITIONS)])
    app = faust.App(app_id, broker=f"kafka://{kafka_bootstrap}", datadir=str(tmp_path),
                    web_enabled=False)
    table = DossierTable(
        app, name="dossiers", default=None, partitions=PARTITIONS, key_type=bytes,
        value_type=bytes, use_partitioner=True,
    )
    app.tables.add(table)
    await app.start()
    try:
        await asyncio.wait_for(cast(Any, app.tables).recovery.completed.wait(), timeout=60)
        keys = [f"HS-{i:06d}".encode() for i in range(RECORDS)]
        for key in keys:
            table.put(key, VALUE, partition=0)  # the partition of the stand-in event
        await table.changelog_delivered()
        ends = await asyncio.to_thread(_changelog_ends, kafka_bootstrap, changelog)
        assert sum(ends.values()) == RECORDS
        await table.changelog_delivered()  # nothing more to wait for
    finally:
        await app.stop()
