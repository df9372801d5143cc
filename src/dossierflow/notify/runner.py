"""The `dossierflow notify` process: consumer loop, outbox ticker, /healthz, /readyz and
/metrics, SIGHUP reload."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping
from datetime import datetime, timedelta

from dossierflow.config import named
from dossierflow.health import start_health_server
from dossierflow.kafka.consumer import start_or_refused
from dossierflow.notify.channels.base import Sender
from dossierflow.notify.channels.smtp import SmtpSender, SmtpSettings
from dossierflow.notify.channels.webhook import WebhookSender
from dossierflow.notify.channels.zalo import ZaloSender, ZaloSettings
from dossierflow.notify.consumer import AlertConsumer, make_consumer
from dossierflow.notify.health import NotifierReadiness
from dossierflow.notify.recipients import (
    Channel,
    RecipientsBook,
    RecipientsError,
    load_recipients,
)
from dossierflow.notify.service import Notifier, Policy
from dossierflow.notify.settings import NotifySettings
from dossierflow.notify.store import NotifyStore
from dossierflow.rules.catalog import Catalog
from dossierflow.stopping import StopOnSignal

log = logging.getLogger(__name__)


def wall_clock(catalog: Catalog) -> datetime:
    return datetime.now(catalog.calendar.tz)


def build_senders(
    settings: NotifySettings, smtp: SmtpSettings, zalo: ZaloSettings
) -> dict[Channel, Sender]:
    return {
        Channel.EMAIL: SmtpSender(smtp),
        Channel.WEBHOOK: WebhookSender(settings.webhook_timeout, settings.webhook_ca_file),
        Channel.ZALO: ZaloSender(zalo),
    }


def build_notifier(
    settings: NotifySettings,
    catalog: Catalog,
    book: RecipientsBook,
    senders: Mapping[Channel, Sender],
    store: NotifyStore,
) -> Notifier:
    policy = Policy(
        batch_window=timedelta(seconds=settings.batch_window),
        morning_digest=settings.morning_digest,
        retry_base=settings.retry_base,
        retry_cap=settings.retry_cap,
        concurrency=settings.concurrency,
        max_alerts_per_message=settings.max_alerts_per_message,
        retention=timedelta(days=settings.retention_days),
    )
    return Notifier(store, book, catalog, senders, lambda: wall_clock(catalog), policy)


async def run(
    settings: NotifySettings,
    smtp: SmtpSettings,
    zalo: ZaloSettings,
    catalog: Catalog,
    book: RecipientsBook,
) -> int:
    """Until SIGTERM or SIGINT, with the catalogue and recipients the command loaded and
    checked; SIGHUP reloads the recipients file (a bad file is logged and the previous one
    kept). Returns the exit code for the signal that stopped it (`stopping`)."""
    senders = build_senders(settings, smtp, zalo)
    store = NotifyStore(settings.state)
    notifier = build_notifier(settings, catalog, book, senders, store)
    stopping = StopOnSignal()
    stop = stopping.event
    loop = asyncio.get_running_loop()

    def reload() -> None:
        try:
            notifier.reload(load_recipients(settings.recipients, notifier.catalog.units))
        except RecipientsError as exc:
            log.error("recipients file not reloaded, the previous one stays: %s", exc)
        else:
            log.info("recipients file reloaded: %d people", len(notifier.book.people))

    loop.add_signal_handler(signal.SIGHUP, reload)
    stopping.install(loop)
    consumer = make_consumer(settings)
    alert_consumer = AlertConsumer(consumer, notifier, settings)
    consumer.subscribe(alert_consumer.topics)
    probes = NotifierReadiness(settings.bootstrap, alert_consumer.topics)
    if settings.metrics_port:
        start_health_server(
            settings.http_host, settings.metrics_port, probes.readiness,
            named(NotifySettings, "metrics_port"),
            allowed_hosts=settings.http_allowed_hosts.split(","),
        )

    async def ticker() -> None:
        while not stop.is_set():
            await notifier.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(notifier.activity.wait(), settings.tick)

    log.info("notify: %s -> %d people; state %s", ", ".join(alert_consumer.topics),
             len(notifier.book.people), settings.state)
    try:
        await start_or_refused(consumer, settings.bootstrap, settings.group_id)
        probes.consumer = consumer
        await asyncio.gather(alert_consumer.run(stop), ticker())
        await notifier.drain()
    finally:
        await consumer.stop()
        for sender in senders.values():
            await sender.close()
        store.close()
    return stopping.exit_code
