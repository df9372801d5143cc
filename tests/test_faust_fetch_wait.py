"""The worker's consumer asks the broker to hold a fetch at most FETCH_MAX_WAIT_MS, not the
1,500 ms Faust writes as a literal (streams/faust_patches.py, *The broker's wait for a fetch*):
the consumer Faust's thread builds for the worker's app, started against the real broker."""

from __future__ import annotations

import hashlib
import inspect
import uuid
from pathlib import Path

import faust
import pytest
from faust.transport.drivers import aiokafka as aiokafka_driver

from dossierflow.streams.faust_patches import FETCH_MAX_WAIT_MS, use_patched_transport

pytestmark = pytest.mark.timeout(120)

FAUST_WORKER_CONSUMER = "c2701bfc3e6f6cad"
"""The start of the SHA-256 of Faust's `AIOKafkaConsumerThread._create_worker_consumer`
(faust-streaming 0.15.3), which the patch calls and whose `fetch_max_wait_ms=1500` it
replaces."""


def test_faust_builds_the_worker_consumer_as_it_was_checked_against() -> None:
    method = aiokafka_driver.AIOKafkaConsumerThread._create_worker_consumer
    source = inspect.getsource(method)
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    assert digest == FAUST_WORKER_CONSUMER, (
        "Faust's _create_worker_consumer changed: check whether it still hard-codes "
        "fetch_max_wait_ms (then keep ShortFetchWaitConsumerThread) and update the digest"
    )


async def test_the_worker_consumer_fetches_with_the_short_wait(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    app_id = f"fetchwait-{uuid.uuid4().hex[:8]}"
    app = faust.App(app_id, broker=f"kafka://{kafka_bootstrap}", store="memory://",
                    datadir=str(tmp_path / app_id), web_enabled=False)
    use_patched_transport(app)
    thread = app.consumer._thread  # type: ignore[attr-defined]
    consumer = thread._create_worker_consumer(app.transport)
    await consumer.start()
    try:
        fetch_wait = consumer._fetcher._fetch_max_wait_ms
    finally:
        await consumer.stop()
    assert fetch_wait == FETCH_MAX_WAIT_MS < 1500
