"""The notifier's engine: alerts in, messages out, every step recorded in the store.

`accept` routes a batch of alerts and stores their deliveries (the caller commits Kafka
offsets after it returns). `tick` is called on a schedule: it claims the deliveries that are
due into messages, plans the morning digest once the office opens, and starts sending the
ready messages, each in its own task and one at a time per recipient (person and channel), so
a slow or failing recipient holds one slot at most and never the others.
A failed message is retried with backoff and jitter, for ever: what a recipient missed while
its server was down reaches it when the server is back. The clock is injected: tests move
it over nights and holidays without sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from dossierflow.notify import metrics
from dossierflow.notify.channels.base import DeliveryError, Outgoing, Sender
from dossierflow.notify.planning import morning_digest_due, retry_delay, send_at
from dossierflow.notify.privacy import describe
from dossierflow.notify.recipients import Channel, RecipientsBook
from dossierflow.notify.render import render
from dossierflow.notify.routing import heads_of, route
from dossierflow.notify.store import NotifyStore, PlannedDelivery, StoredMessage
from dossierflow.rules.alerts import Alert
from dossierflow.rules.catalog import Catalog

log = logging.getLogger(__name__)

COUNTS_INTERVAL_SECONDS = 1.0
"""How often a tick reads the gauges from the store: the counts scan every unsent message,
and a busy outbox ticks for each message that finishes (draining 10,000 one-alert messages,
reading them on every tick took about half the store's time)."""

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Policy:
    batch_window: timedelta = timedelta(seconds=30)
    morning_digest: bool = True
    retry_base: float = 2.0
    retry_cap: float = 600.0
    concurrency: int = 32
    max_alerts_per_message: int = 100
    retention: timedelta = timedelta(days=100)
    """How long deliveries stay as dedup keys: longer than the alerts topic's retention."""


class Notifier:
    def __init__(
        self,
        store: NotifyStore,
        book: RecipientsBook,
        catalog: Catalog,
        senders: Mapping[Channel, Sender],
        clock: Clock,
        policy: Policy = Policy(),
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.book = book
        self.catalog = catalog
        self.senders = senders
        self.clock = clock
        self.policy = policy
        self._rng = rng or random.Random()
        self._in_flight: dict[tuple[str, str], asyncio.Task[None]] = {}
        """(person, channel) -> the task sending its message: one at a time per recipient."""
        self._sent: list[tuple[str, datetime]] = []
        self._failed: list[tuple[str, datetime, str]] = []
        self._dropped: list[tuple[str, str]] = []
        self.activity = asyncio.Event()
        """Set when deliveries were stored or one finished: the runner ticks at once."""
        self._counts_published = -math.inf
        """When the gauges were last read from the store (monotonic seconds)."""

    # --- intake ---------------------------------------------------------------------

    def accept(self, alerts: Sequence[Alert]) -> int:
        """Route and store a batch of alerts; returns the deliveries new to the store."""
        now = self.clock()
        calendar, window = self.catalog.calendar, self.policy.batch_window
        planned = []
        for alert in alerts:
            targets = route(alert, self.book, self.catalog.units)
            if not targets:
                metrics.UNROUTED.inc()
                log.warning("alert %s (%s, dossier %s, unit %s) reaches nobody: list a head "
                            "for the unit or one of its parents in the recipients file",
                            alert.alert_id, alert.kind, alert.dossier_id,
                            alert.handling_unit_code or alert.unit_code)
            planned += [
                PlannedDelivery(alert, target.person.id, target.channel,
                                partial(send_at, now, calendar, target.person.hours, window))
                for target in targets
            ]
        metrics.ALERTS_RECEIVED.inc(len(alerts))
        added = self.store.accept(planned, alerts, now)
        if added:
            self.activity.set()  # a delivery may be due at once (window 0, `always` people)
        return added

    def close_dossiers(self, dossier_ids: Iterable[str]) -> None:
        self.store.close_dossiers(dossier_ids, self.clock())

    def reload(self, book: RecipientsBook) -> None:
        """A new recipients file: waiting deliveries and messages keep their person ids and
        are sent to whatever addresses the new file gives those ids."""
        self.book = book

    # --- outbox ---------------------------------------------------------------------

    def plan(self) -> None:
        """Claim due deliveries into messages and plan the morning digest when due."""
        now = self.clock()
        self.store.claim_due(
            now, self.policy.batch_window.total_seconds(), self.policy.max_alerts_per_message
        )
        if morning_digest_due(now, self.catalog.calendar, self.store.last_morning()):
            self._start_of_day(now)
        if time.monotonic() - self._counts_published >= COUNTS_INTERVAL_SECONDS:
            self._publish_counts()

    def _publish_counts(self) -> None:
        """The gauges read from the store, so that they survive a restart."""
        self._counts_published = time.monotonic()
        counts = self.store.counts()
        metrics.DIGESTS_WAITING.set(counts["digests"])
        metrics.UNSENT.set(counts["unsent"])
        metrics.FAILING.set(counts["failing"])

    def _start_of_day(self, now: datetime) -> None:
        """At a working day's opening: the morning digest of open dossiers to every unit's
        heads, and the store forgets what is older than its retention."""
        messages = []
        units = self.store.open_alerts_by_unit() if self.policy.morning_digest else {}
        for unit_code, alerts in units.items():
            _, heads = heads_of(unit_code, self.book, self.catalog.units)
            for person in heads:
                for channel in person.channels:
                    messages.append((person.id, channel.value, unit_code, alerts))
        self.store.plan_morning(self.catalog.calendar.local(now).date(), messages, now)
        self.store.forget_before(now - self.policy.retention)
        log.info("start of day: %d morning digest messages planned", len(messages))

    def _record_outcomes(self) -> None:
        sent, failed, dropped = self._sent, self._failed, self._dropped
        self._sent, self._failed, self._dropped = [], [], []
        self.store.record_outcomes(sent, failed, dropped)

    async def tick(self) -> None:
        """Record finished attempts, plan, then start sending one due message of each
        recipient with none in flight (`NotifyStore.ready`; no await in between: a finished
        message is never picked again before its outcome is recorded)."""
        self.activity.clear()
        self._record_outcomes()
        self.plan()
        free = self.policy.concurrency - len(self._in_flight)
        if free <= 0:
            return
        for message in self.store.ready(self.clock(), self._in_flight, free):
            key = (message.person_id, message.channel)
            task = asyncio.create_task(self._deliver(message))
            self._in_flight[key] = task
            task.add_done_callback(partial(self._done, key))

    def _done(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        # `tick` starts no message for a key still in flight: the task is the key's own.
        del self._in_flight[key]
        self.activity.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for the messages in flight (tests, shutdown)."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
        self._record_outcomes()
        self._publish_counts()

    def outgoing(self, message: StoredMessage) -> Outgoing | None:
        person = self.book.people.get(message.person_id)
        if person is None:
            return None
        rendered = render(
            message.kind, message.alerts,
            person_name=person.name, lang=person.language, message_id=message.message_id,
            catalog=self.catalog, unit_code=message.unit_code,
        )
        return Outgoing(message.message_id, message.kind, person, rendered, message.alerts,
                        message.unit_code)

    @staticmethod
    async def _send(sender: Sender, outgoing: Outgoing) -> None:
        """A sender's unexpected exception is a failed attempt like any other: retried with
        backoff, never a tight loop of immediate retries."""
        try:
            await sender.send(outgoing)
        except DeliveryError:
            raise
        except Exception as exc:
            log.exception("unexpected error in the %s sender", type(sender).__name__)
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc

    def _drop(self, message: StoredMessage, who: str, why: str) -> None:
        """No retry can deliver it: counted and logged once."""
        self._dropped.append((message.message_id, why))
        metrics.DELIVERIES.labels(message.channel, "dropped").inc()
        log.error("message %s to %s dropped: %s", message.message_id, who, why)

    async def _deliver(self, message: StoredMessage) -> None:
        channel = message.channel
        outgoing = self.outgoing(message)
        sender = self.senders.get(Channel(channel))
        if outgoing is None or sender is None:
            why = "not in the recipients file" if outgoing is None else "channel not configured"
            self._drop(message, message.person_id, why)
            return
        try:
            await self._send(sender, outgoing)
        except DeliveryError as exc:
            if exc.permanent:
                self._drop(message, describe(outgoing, channel), exc.reason)
                return
            attempts = message.attempts + 1
            delay = retry_delay(attempts, self.policy.retry_base, self.policy.retry_cap, self._rng)
            self._failed.append(
                (message.message_id, self.clock() + timedelta(seconds=delay), exc.reason)
            )
            metrics.DELIVERIES.labels(channel, "failed").inc()
            log.warning(
                "message %s to %s failed (attempt %d, next in %.0f s): %s",
                message.message_id, describe(outgoing, channel), attempts, delay, exc.reason,
            )
            return
        now = self.clock()
        self._sent.append((message.message_id, now))
        metrics.DELIVERIES.labels(channel, "sent").inc()
        metrics.LATENCY.labels(channel).observe(max(0.0, now.timestamp() - message.first_alert_at))
        log.info("message %s (%s, %d alerts) sent to %s", message.message_id, message.kind,
                 len(message.alerts), describe(outgoing, channel))
