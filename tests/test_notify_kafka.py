"""End to end on the real broker: `dossierflow notify` as a process reads the alerts topic and
posts signed webhooks; SIGKILLed while deliveries are in flight and restarted, it delivers
every alert to every recipient, and a message sent twice carries the same webhook-id."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import msgspec
import pytest
from aiokafka import AIOKafkaProducer

from dossierflow.kafka.local_broker import free_port
from dossierflow.rules.alerts import Alert, AlertKind
from tests.notify_alerts import make_alert, record, vn
from tests.notify_servers import WEBHOOK_SECRET, WebhookCall, WebhookReceiver

pytestmark = pytest.mark.timeout(300)


def recipients_file(path: Path, url: str, suffix: str = "") -> Path:
    def person(pid: str) -> str:
        return (f"{{id: {pid}, name: {pid}, channels: [webhook], hours: always, "
                f'webhook: {{url: "{url}/{pid}{suffix}", secret: {WEBHOOK_SECRET}, '
                f"allow_http: true}}}}")

    path.write_text(
        f"province_operations: [{person('ops')}]\n"
        f"units:\n  P: {{heads: [{person('p-head')}]}}\n"
        f"  X-01: {{heads: [{person('x01-head')}]}}\n",
        encoding="utf-8",
    )
    return path


def notifier_env(
    bootstrap: str, alerts_topic: str, facts_topic: str, tmp: Path, recipients: Path,
    metrics_port: int, batch_window: float = 0.2,
) -> dict[str, str]:
    """The environment of a `dossierflow notify` process for a test: its own group, state
    under `tmp`, no morning digest."""
    return {
        "DOSSIERFLOW_BOOTSTRAP": bootstrap,
        "DOSSIERFLOW_ALERTS_TOPIC": alerts_topic,
        "DOSSIERFLOW_FACTS_TOPIC": facts_topic,
        "DOSSIERFLOW_NOTIFY_GROUP_ID": f"notify-{alerts_topic}",
        "DOSSIERFLOW_NOTIFY_STATE": str(tmp / "notify.sqlite"),
        "DOSSIERFLOW_NOTIFY_RECIPIENTS": str(recipients),
        "DOSSIERFLOW_NOTIFY_BATCH_WINDOW": str(batch_window),
        "DOSSIERFLOW_NOTIFY_MORNING_DIGEST": "false",
        "DOSSIERFLOW_NOTIFY_METRICS_PORT": str(metrics_port),
    }


def start_notifier(tmp: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (tmp / "notify.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "dossierflow.cli", "notify", "--loglevel", "info"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env},
    )


def received_pairs(calls: list[WebhookCall]) -> dict[tuple[str, str], set[str]]:
    """(person, alert id) -> the webhook-ids it arrived in (verified calls only)."""
    found: dict[tuple[str, str], set[str]] = {}
    for call in calls:
        if call.payload is None:
            continue
        person = call.path.strip("/")
        for alert in call.payload["data"]["alerts"]:
            found.setdefault((person, alert["alert_id"]), set()).add(call.headers["webhook-id"])
    return found


async def wait_for_log(path: Path, text: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while text not in path.read_text(encoding="utf-8"):
        assert loop.time() < deadline, f"{text!r} never appeared in {path}"
        await asyncio.sleep(0.1)


async def produce(bootstrap: str, topic: str, alerts: list[Alert]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for alert in alerts:
            await producer.send(topic, msgspec.json.encode(record(alert)),
                                key=(alert.handling_unit_code or "").encode())
        await producer.flush()
    finally:
        await producer.stop()


def alerts_batch(first: int, count: int) -> list[Alert]:
    """OVERDUE at X-01 (its head and, escalated, P's head) and every fifth a second apology
    (province operations)."""
    return [
        make_alert(
            AlertKind.RESCHEDULE_LIMIT_EXCEEDED if n % 5 == 0 else AlertKind.OVERDUE,
            f"HS-{n:04d}", "X-01", at=vn("2026-03-02 09:00"),
        )
        for n in range(first, first + count)
    ]


def expected_pairs(alerts: list[Alert]) -> set[tuple[str, str]]:
    pairs = set()
    for alert in alerts:
        people = ["ops"] if alert.kind == "RESCHEDULE_LIMIT_EXCEEDED" else ["x01-head", "p-head"]
        pairs |= {(p, alert.alert_id) for p in people}
    return pairs


async def test_sigkilled_notifier_restarts_and_delivers_everything_once_per_key(
    kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path,
    receiver: WebhookReceiver,
) -> None:
    alerts_topic, facts_topic = topic_factory(partitions=3), topic_factory(partitions=3)
    metrics_port = free_port()
    env = notifier_env(kafka_bootstrap, alerts_topic, facts_topic, tmp_path,
                       recipients_file(tmp_path / "r.yaml", receiver.url), metrics_port)
    first, second = alerts_batch(0, 40), alerts_batch(40, 20)
    await produce(kafka_bootstrap, alerts_topic, first)
    receiver.hold = asyncio.Event()  # deliveries hang: the kill finds them in flight
    process = start_notifier(tmp_path, env)
    try:
        await receiver.wait_for(lambda calls: len(calls) >= 2, timeout=120)
        await asyncio.sleep(0.5)  # let more of the outbox leave
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        in_flight = received_pairs(receiver.calls)
        assert in_flight, "nothing was in flight when the notifier was killed"
        receiver.hold.set()
        receiver.hold = None
        await produce(kafka_bootstrap, alerts_topic, second)
        process = start_notifier(tmp_path, env)
        wanted = expected_pairs(first + second)
        await receiver.wait_for(
            lambda calls: wanted <= set(received_pairs(calls)), timeout=180
        )
        await asyncio.sleep(1.0)  # a repeat, if any, would arrive now
        received = received_pairs(receiver.calls)
        # SIGHUP with a broken file keeps the old one; with a good one, new addresses apply.
        (tmp_path / "r.yaml").write_text("units: [", encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        await wait_for_log(tmp_path / "notify.log", "not reloaded, the previous one stays")
        recipients_file(tmp_path / "r.yaml", receiver.url, suffix="-new")
        process.send_signal(signal.SIGHUP)
        late = alerts_batch(61, 1)  # an OVERDUE: to x01-head
        await produce(kafka_bootstrap, alerts_topic, late)
        await receiver.wait_for(
            lambda calls: ("x01-head-new", late[0].alert_id) in received_pairs(calls),
            timeout=60,
        )
        probes = {}
        async with aiohttp.ClientSession() as session:
            for path in ("metrics", "healthz", "readyz"):
                url = f"http://127.0.0.1:{metrics_port}/{path}"
                async with session.get(url) as response:
                    probes[path] = (response.status, await response.text())
        metrics_text = probes["metrics"][1]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    assert set(received) == wanted
    # Each (person, alert) came in one message id: a re-send repeated the id it had.
    assert {pair: ids for pair, ids in received.items() if len(ids) > 1} == {}
    resent = [c for c in receiver.calls
              if sum(d.headers["webhook-id"] == c.headers["webhook-id"]
                     for d in receiver.calls) > 1]
    assert resent, "no message was re-sent after the kill: the test did not exercise it"
    assert all(c.payload is not None for c in receiver.calls)
    for served in ('dossierflow_notify_deliveries_total{channel="webhook",result="sent"}',
                   'dossierflow_notify_alert_to_delivery_seconds_count{channel="webhook"}',
                   "dossierflow_notify_digests_waiting ", "dossierflow_notify_failing_recipients "):
        assert served in metrics_text, f"{served} is not on /metrics"
    assert probes["healthz"] == (200, "alive\n")
    assert probes["readyz"] == (200, "ready\n")
    assert process.returncode == 0


async def test_closing_fact_read_before_its_alert_keeps_the_dossier_off_the_digest(
    kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path,
) -> None:
    from dossierflow.notify.consumer import AlertConsumer, make_consumer
    from dossierflow.notify.recipients import parse_recipients
    from dossierflow.notify.service import Notifier
    from dossierflow.notify.settings import notify_settings
    from dossierflow.notify.store import NotifyStore
    from tests.notify_alerts import CATALOG

    alerts_topic, facts_topic = topic_factory(), topic_factory()
    settings = notify_settings({}, bootstrap=kafka_bootstrap, alerts_topic=alerts_topic,
                               facts_topic=facts_topic, group_id=f"g-{alerts_topic}")
    store = NotifyStore(tmp_path / "n.sqlite")
    book = parse_recipients("units:\n  X-01: {heads: [{id: h, name: H, email: h@x.vn}]}\n",
                            "book", CATALOG.units)
    notifier = Notifier(store, book, CATALOG, {}, lambda: vn("2026-03-02 10:00"))
    consumer = make_consumer(settings)
    runner = AlertConsumer(consumer, notifier, settings)
    consumer.subscribe(runner.topics)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await consumer.start()
    await producer.start()
    loop = asyncio.get_running_loop()

    async def poll_until(done: Callable[[], bool]) -> None:
        deadline = loop.time() + 60
        while not done():
            assert loop.time() < deadline, "the consumer did not read it"
            await runner.poll_once()

    try:
        closing = {"dossier_id": "HS-2", "closed_at": "2026-03-02T09:30:00+07:00",
                   "type": "RESOLVED", "event_id": "e1"}
        await producer.send_and_wait(facts_topic, msgspec.json.encode(closing), key=b"HS-2")
        await producer.send_and_wait(facts_topic, b"not a fact", key=b"HS-3")
        await poll_until(lambda: runner.rejected == 1)
        at_risk = make_alert(AlertKind.AT_RISK, "HS-2")
        await produce(kafka_bootstrap, alerts_topic,
                      [make_alert(AlertKind.OVERDUE, "HS-1", "X-01"), at_risk])
        await poll_until(lambda: bool(store.deliveries(at_risk.alert_id)))
        committed = [await consumer.committed(tp) for tp in sorted(
            consumer.assignment(), key=lambda tp: tp.topic != facts_topic)]
    finally:
        await producer.stop()
        await consumer.stop()
    assert committed == [2, 2]  # both facts (one undecodable, skipped) and both alerts
    assert [a.dossier_id for a in store.open_alerts_by_unit()["X-01"]] == ["HS-1"]
    assert store.deliveries(at_risk.alert_id) == [("h", "email", "waiting")]
    store.close()
