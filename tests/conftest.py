"""Shared fixtures: one real Apache Kafka broker per test session, started on demand.

Only tests that request `kafka_bootstrap` (directly or through `topic_factory`) start
the broker, so pure unit runs stay fast; such tests are marked `kafka` automatically
(`pytest -m "not kafka"` skips them). Set DOSSIERFLOW_TEST_KAFKA_BOOTSTRAP=host:port to
reuse an already running broker (e.g. `dossierflow kafka start`) while iterating.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from dossierflow import config
from dossierflow.kafka.local_broker import LocalKafka, ensure_jars, free_port, jars_home
from dossierflow.kafka.security import KafkaSecurity
from dossierflow.kafka.topics import TopicSpec, ensure_topics
from dossierflow.store import Store, connect, migrate

REUSE_BROKER_ENV = "DOSSIERFLOW_TEST_KAFKA_BOOTSTRAP"

# The notifier's real SMTP, webhook and Zalo receivers as fixtures; the SASL_SSL broker.
pytest_plugins = ("tests.notify_servers", "tests.secured_kafka")

TopicFactory = Callable[..., str]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if {"kafka_bootstrap", "secured_kafka"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kafka)


class CacheHomes(NamedTuple):
    user: Path
    """The developer's own `config.cache_home()`, which the tests must leave alone."""
    session: Path
    """The session's, under its tmp folder: `$XDG_CACHE_HOME/dossierflow` while tests run."""


@pytest.fixture(scope="session", autouse=True)
def cache_homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CacheHomes]:
    """Points XDG_CACHE_HOME into the session's tmp folder for the code under test and the
    commands it starts, so that nothing a test runs writes into the developer's cache (the
    report's catalogue entries). The Kafka jars stay the developer's: the session's
    `dossierflow/kafka` links to them (fetched once, by deploy/dev.sh or the first broker)."""
    user, jars = config.cache_home(), jars_home()
    jars.mkdir(parents=True, exist_ok=True)  # the link's target, for a first fetch
    base = tmp_path_factory.mktemp("xdg-cache")
    (base / "dossierflow").mkdir()
    (base / "dossierflow" / "kafka").symlink_to(jars, target_is_directory=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(base))
        yield CacheHomes(user, base / "dossierflow")


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka | None]:
    """The session's LocalKafka (None when reusing an external broker)."""
    if os.environ.get(REUSE_BROKER_ENV):
        yield None
        return
    ensure_jars()
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"), free_port(), die_with_parent=True)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: LocalKafka | None) -> str:
    """`host:port` of a real, empty-at-start Kafka broker (PLAINTEXT, auto-create off)."""
    if kafka_broker is None:
        return os.environ[REUSE_BROKER_ENV]
    return kafka_broker.bootstrap


_topic_counter = itertools.count(1)


@pytest.fixture
def topic_factory(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Iterator[TopicFactory]:
    """Creates uniquely named topics: `topic_factory(partitions=4, retention_ms=None,
    compacted=False, prefix=None) -> name`; deletes them when the test ends."""
    created: list[str] = []
    test_name = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]

    def make(
        partitions: int = 1,
        *,
        retention_ms: int | None = None,
        compacted: bool = False,
        prefix: str | None = None,
    ) -> str:
        name = f"{prefix or test_name}-{next(_topic_counter)}-{uuid.uuid4().hex[:8]}"
        spec = TopicSpec(name, partitions, retention_ms=retention_ms, compacted=compacted)
        ensure_topics(kafka_bootstrap, [spec], security=KafkaSecurity())
        created.append(name)
        return name

    yield make

    if created:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            admin.delete_topics(created, raise_errors=False)
        finally:
            admin.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated chDB store of its own, closed after the test."""
    opened = connect(f"chdb://{tmp_path / 'ch'}")
    migrate(opened)
    try:
        yield opened
    finally:
        opened.close()
