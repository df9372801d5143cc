"""The Kafka shell: alerts (and closing facts) in, offsets committed after the store has them.

Its own consumer group, auto-commit off, as the ClickHouse sink. Each poll's alerts are routed
and stored in one SQLite transaction, and only then are the poll's offsets committed: a crash
before the commit re-reads them, and the store's dedup key (alert × person × channel) makes
the re-read add nothing. Sending is the outbox's business (`Notifier.tick`), so a slow SMTP
server never stalls the consumer or its group membership.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from dossierflow.kafka.consumer import committing_consumer, getmany_or_refused
from dossierflow.kafka.credentials_watch import until_refused
from dossierflow.notify import metrics
from dossierflow.notify.intake import RejectedAlert, read_alert
from dossierflow.notify.service import Notifier
from dossierflow.notify.settings import NotifySettings
from dossierflow.rules.alerts import Alert

log = logging.getLogger(__name__)


class _Closing(msgspec.Struct):
    """The two fields of a fact the notifier reads (the rest is skipped by the decoder)."""

    dossier_id: str
    closed_at: datetime | None = None


_closing_decoder = msgspec.json.Decoder(_Closing)


class AlertConsumer:
    def __init__(self, consumer: Any, notifier: Notifier, settings: NotifySettings) -> None:
        self.consumer = consumer
        self.notifier = notifier
        self.settings = settings
        self.rejected = 0

    @property
    def topics(self) -> list[str]:
        return [t for t in (self.settings.alerts_topic, self.settings.facts_topic) if t]

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await until_refused(self.poll_once())

    async def poll_once(self, timeout_ms: int = 200, max_records: int = 2000) -> int:
        fetched = await getmany_or_refused(self.consumer, self.settings.group_id,
                                           timeout_ms=timeout_ms, max_records=max_records)
        alerts: list[Alert] = []
        closed: list[str] = []
        offsets: dict[TopicPartition, int] = {}
        catalog, identifier = self.notifier.catalog, self.settings.identifier
        for tp, messages in fetched.items():
            for message in messages:
                try:
                    if tp.topic == self.settings.alerts_topic:
                        alerts.append(read_alert(message.value or b"", catalog, identifier))
                    else:
                        fact = _closing_decoder.decode(message.value or b"")
                        if fact.closed_at is not None:
                            closed.append(fact.dossier_id)
                except (RejectedAlert, msgspec.DecodeError, RecursionError) as exc:
                    # Retrying a record that is not a sound one can never succeed.
                    # (RecursionError: msgspec skipping a deeply nested unknown field.)
                    field = exc.field if isinstance(exc, RejectedAlert) else "record"
                    self.rejected += 1
                    metrics.REJECTED.labels(tp.topic, field).inc()
                    log.error("record %s[%d]@%d rejected, nothing sent: %s",
                              tp.topic, tp.partition, message.offset, exc)
            if messages:
                offsets[tp] = messages[-1].offset + 1
        if alerts:
            self.notifier.accept(alerts)
        if closed:
            self.notifier.close_dossiers(closed)
        if offsets:
            try:
                await self.consumer.commit(offsets)
            except (CommitFailedError, IllegalStateError) as exc:
                # Rebalanced meanwhile: the next owner re-reads; the store's key absorbs it.
                log.warning("offset commit failed after a rebalance: %s", exc)
        return len(alerts)


def make_consumer(settings: NotifySettings) -> AIOKafkaConsumer:
    return committing_consumer(settings.bootstrap, settings.group_id)
