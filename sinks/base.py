"""The sink contract, shaped like Quix Streams' `BatchingSink`.

A consumer groups records per topic partition into a `SinkBatch`, hands it to `write`, and
commits the partition's offsets only after `write` returned: a batch is either stored or will
be delivered again. A sink that cannot store *right now* raises `SinkBackpressureError`; the
consumer then pauses the partition, waits `retry_after` seconds and offers the same batch
again, so nothing is skipped. Any other exception is a defect and stops the consumer.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class SinkBatch(Generic[T]):
    """Consecutive records of one topic partition, offsets `first_offset..last_offset`.

    `payload_digest` is a hash of the records' bytes as read from Kafka, so that two batches
    with the same offsets but different content (a topic deleted and re-created) never look
    alike to `insert_deduplication_token`.
    """

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    records: Sequence[T]
    payload_digest: str

    @property
    def dedup_token(self) -> str:
        """The same after a restart for the same records: the batch's identity in Kafka."""
        return (
            f"{self.topic}/{self.partition}/{self.first_offset}-{self.last_offset}/"
            f"{self.payload_digest}"
        )


def digest_payloads(payloads: Sequence[bytes]) -> str:
    """A short, stable digest of the raw message values of a batch."""
    h = hashlib.blake2b(digest_size=12)
    for payload in payloads:
        h.update(len(payload).to_bytes(4, "big"))
        h.update(payload)
    return h.hexdigest()


class SinkBackpressureError(Exception):
    """The destination is unavailable; offer the same batch again after `retry_after` s."""

    def __init__(self, retry_after: float, reason: str) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.reason = reason


class BatchingSink(abc.ABC, Generic[T]):
    """Stores whole batches; must be idempotent, since a batch can be written twice."""

    @abc.abstractmethod
    def write(self, batch: SinkBatch[T]) -> None:
        """Store every record of `batch` or raise; never store part and return."""
