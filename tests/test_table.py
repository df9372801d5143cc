"""The dossiers table (streams/table.py) on a Faust app against the real broker: once
`changelog_delivered` returns, every changelog record of the writes before it is in Kafka
(the worker acknowledges a batch's events only then), on the partition Faust's producer
would have chosen, a partition's progress record in that partition's changelog, and a
RocksDB store knows the changelog offsets it holds (so that recovery reads only newer
records); the store is written only once the changelog records are acknowledged."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import faust
import pytest
import rocksdict
from aiokafka import AIOKafkaProducer
from aiokafka.errors import ProducerClosed
from faust.types import TP
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from dossierflow.kafka.topics import TopicSpec, ensure_topics
from dossierflow.streams.outbox import KafkaOutbox
from dossierflow.streams.state import progress_key
from dossierflow.streams.table import DossierTable

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


@asynccontextmanager
async def _started_table(
    bootstrap: str, tmp_path: Path, store: str = "memory://"
) -> AsyncIterator[tuple[DossierTable, str]]:
    """A started app's dossiers table, recovered, and the name of its changelog topic."""
    app_id = f"table-{uuid.uuid4().hex[:8]}"
    changelog = f"{app_id}-dossiers-changelog"
    ensure_topics(bootstrap, [TopicSpec(changelog, PARTITIONS)])
    app = faust.App(app_id, broker=f"kafka://{bootstrap}", datadir=str(tmp_path),
                    web_enabled=False, store=store)
    table = DossierTable(
        app, name="dossiers", default=None, partitions=PARTITIONS, key_type=bytes,
        value_type=bytes, use_partitioner=True,
    )
    app.tables.add(table)
    # Small batches: a partition's changelog records span several of them.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=64 * 1024)

    async def outbox() -> KafkaOutbox:
        return KafkaOutbox(producer)

    table.send_through(outbox)
    await app.start()
    await producer.start()
    try:
        await asyncio.wait_for(cast(Any, app.tables).recovery.completed.wait(), timeout=60)
        yield table, changelog
    finally:
        await producer.stop()
        await app.stop()


async def test_changelog_delivered_returns_once_every_write_is_in_kafka(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with _started_table(kafka_bootstrap, tmp_path) as (table, changelog):
        keys = [f"HS-{i:06d}".encode() for i in range(RECORDS)]
        table.put_all(0, [(key, VALUE) for key in keys])  # the stand-in event's partition
        await table.changelog_delivered()
        ends = await asyncio.to_thread(_changelog_ends, kafka_bootstrap, changelog)
        assert sum(ends.values()) == RECORDS
        await table.changelog_delivered()  # nothing more to wait for
        landed = await asyncio.to_thread(_changelog_keys, kafka_bootstrap, changelog, RECORDS)
    # Where Faust's producer puts a key (murmur2, as every Kafka client): the dossier's
    # events partition, whatever the writer's stand-in event says.
    assert landed == {key: (murmur2(key) & 0x7FFFFFFF) % PARTITIONS for key in keys}


async def test_a_rocksdb_store_knows_the_changelog_offsets_it_holds(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Faust's callback on each sent record told the store its offset; the table's batches
    must too, or a restarted worker re-reads its whole changelog (or, worse, skips)."""
    async with _started_table(kafka_bootstrap, tmp_path, "rocksdb://") as (table, changelog):
        keys = [f"HS-{i:06d}".encode() for i in range(RECORDS)]
        table.put_all(0, [(key, VALUE) for key in keys])
        await table.changelog_delivered()
        ends = await asyncio.to_thread(_changelog_ends, kafka_bootstrap, changelog)
        persisted = {p: table.data.persisted_offset(TP(changelog, p)) for p in ends}
    assert persisted == {p: end - 1 for p, end in ends.items()}


def _changelog_keys(bootstrap: str, topic: str, expected: int) -> dict[bytes, int]:
    """The key of each of the first `expected` changelog records and its partition."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=500)
    found: dict[bytes, int] = {}
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and len(found) < expected:
            found.update((message.key, message.partition) for message in consumer)
    finally:
        consumer.close()
    return found


async def test_a_partition_progress_record_goes_to_the_changelog_of_its_partition(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A dossier's record goes where the producer's partitioner puts its key; a partition's
    progress record must be restored with that partition, whatever its key hashes to."""
    async with _started_table(kafka_bootstrap, tmp_path) as (table, changelog):
        for partition in range(PARTITIONS):
            table.put_all(partition, [(progress_key(partition), VALUE)])
        await table.changelog_delivered()
        landed = await asyncio.to_thread(_changelog_keys, kafka_bootstrap, changelog,
                                         PARTITIONS)
    assert landed == {progress_key(partition): partition for partition in range(PARTITIONS)}



async def test_records_written_together_and_a_deletion_reach_the_store_and_the_changelog(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """`put_all` and `delete` write the store past Faust's per-key path: their changelog
    records (a tombstone for the deletion) must still go out, each where Faust's producer
    would put it."""
    async with _started_table(kafka_bootstrap, tmp_path) as (table, changelog):
        keys = [f"PA-{i:03d}".encode() for i in range(20)]
        table.put_all(1, [(key, VALUE) for key in keys])
        table.delete(keys[0])
        table.delete(b"never-written")  # not in the table: no tombstone
        await table.changelog_delivered()
        assert table.get(keys[0]) is None and table.get(keys[1]) == VALUE
        written = await asyncio.to_thread(_changelog_records, kafka_bootstrap, changelog,
                                          len(keys) + 1)
    home = {key: (murmur2(key) & 0x7FFFFFFF) % PARTITIONS for key in keys}
    assert Counter(written) == Counter(
        [(key, VALUE, home[key]) for key in keys] + [(keys[0], None, home[keys[0]])])


def _changelog_records(
    bootstrap: str, topic: str, expected: int
) -> list[tuple[bytes, bytes | None, int]]:
    """The first `expected` changelog records: key, value (None: a tombstone), partition."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=500)
    found: list[tuple[bytes, bytes | None, int]] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and len(found) < expected:
            found.extend((message.key, message.value, message.partition)
                         for message in consumer)
    finally:
        consumer.close()
    return found


async def test_a_rocksdb_store_files_each_partitions_records_in_that_partitions_database(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """`put_all` writes past Faust's per-key path: its stand-in event must still name the
    records' partition, or a partition's records sit in another's database, which a worker
    keeps when that partition moves to another one (and reads back as if current)."""
    home: dict[int, list[bytes]] = {p: [] for p in range(PARTITIONS)}
    for i in range(40):
        key = f"PD-{i:03d}".encode()
        home[(murmur2(key) & 0x7FFFFFFF) % PARTITIONS].append(key)
    async with _started_table(kafka_bootstrap, tmp_path, "rocksdb://") as (table, _):
        for partition, keys in home.items():
            table.put_all(partition, [(key, VALUE) for key in keys])
        await table.changelog_delivered()
        store = cast(Any, table.data)  # Faust's RocksDB store (`partition_path`, `offset_key`)
        paths = {p: store.partition_path(p) for p in home}
    assert _filed(paths, store.offset_key) == {p: sorted(keys) for p, keys in home.items()}


def _filed(paths: dict[int, Path], offset_key: bytes) -> dict[int, list[bytes]]:
    """The keys each partition's RocksDB database holds (its changelog offset's left out),
    read from its files once the app has stopped."""
    filed: dict[int, list[bytes]] = {}
    for partition, path in paths.items():
        db = rocksdict.Rdict(str(path), options=rocksdict.Options(raw_mode=True),
                             access_type=rocksdict.AccessType.read_only())
        try:
            written = cast(list[bytes], list(db.keys()))
            filed[partition] = sorted(key for key in written if key != offset_key)
        finally:
            db.close()
    return filed


def _homed(prefix: str, partition: int) -> bytes:
    """A key whose changelog partition (murmur2, as the producer's) is `partition`."""
    return next(key for key in (f"{prefix}-{i:03d}".encode() for i in itertools.count())
                if (murmur2(key) & 0x7FFFFFFF) % PARTITIONS == partition)


async def test_a_rocksdb_store_is_written_only_once_its_changelog_is_acknowledged(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Written before, a store whose changelog delivery fails holds records the changelog
    lacks: the restarted worker finds the re-read events in its record (duplicates, nothing
    saved again, the record never sent), and whoever restores the partition from the
    changelog gets the older record while the events are committed. Here the delivery fails
    for real: the outbox's producer is closed."""
    partition = 1
    kept, refused = _homed("DK", partition), _homed("DR", partition)
    async with _started_table(kafka_bootstrap, tmp_path, "rocksdb://") as (table, changelog):
        store = cast(Any, table.data)  # Faust's RocksDB store
        tp = TP(changelog, partition)
        async with _started_producer(kafka_bootstrap) as producer:

            async def outbox() -> KafkaOutbox:
                return KafkaOutbox(producer)

            table.send_through(outbox)
            table.put_all(partition, [(kept, VALUE)])
            assert kept not in store  # not before Kafka acknowledged its changelog record
            assert table.get(kept) == VALUE  # the table's readers see it meanwhile
            await table.changelog_delivered()
            assert kept in store
            acknowledged = store.persisted_offset(tp)
        table.put_all(partition, [(refused, VALUE)])
        table.delete(kept)
        assert table.get(refused) == VALUE and table.get(kept) is None
        with pytest.raises(ProducerClosed):
            await table.changelog_delivered()
        assert refused not in store and table.get(refused) is None
        assert table.get(kept) == VALUE  # the deletion was not applied either
        assert store.persisted_offset(tp) == acknowledged
        await table.changelog_delivered()  # the refused writes dropped: nothing left to send
        paths = {p: store.partition_path(p) for p in range(PARTITIONS)}
    filed = _filed({p: path for p, path in paths.items() if Path(path).exists()},
                   store.offset_key)
    assert {p: keys for p, keys in filed.items() if keys} == {partition: [kept]}


@asynccontextmanager
async def _started_producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A producer of the test's own, closed on leaving the block."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def test_a_write_while_the_changelog_is_delivered_is_refused(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A write made while the changelog is being delivered (by a caller without the
    runtime's lock) missed the records sent: taken in, it would reach the store without its
    changelog record, or be dropped with the delivery's pending writes."""
    refusals: list[str] = []
    async with (_started_table(kafka_bootstrap, tmp_path) as (table, _),
                _started_producer(kafka_bootstrap) as producer):

        class WrittenMeanwhile(KafkaOutbox):
            async def deliver_offsets(self) -> dict[tuple[str, int], int]:
                try:
                    table.put_all(0, [(b"meanwhile", VALUE)])
                except RuntimeError as refused:
                    refusals.append(str(refused))
                return await super().deliver_offsets()

        async def outbox() -> KafkaOutbox:
            return WrittenMeanwhile(producer)

        table.send_through(outbox)
        table.put_all(0, [(b"before", VALUE)])
        await table.changelog_delivered()
        assert table.get(b"before") == VALUE and table.get(b"meanwhile") is None
    assert len(refusals) == 1 and "while its changelog was being delivered" in refusals[0]
