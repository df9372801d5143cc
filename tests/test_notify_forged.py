"""A forged alert record cannot make the notifier an official phishing sender: `dossierflow
notify` as a process, on the real broker, mailing a real SMTP server (STARTTLS, login) and
posting to a real https webhook receiver (a private CA), is fed records whose texts, links
and audience are hostile. What goes out is rendered from the alert's checked fields and the
catalogue, to the audience the kind and the unit tree give; records that are no sound alert
are counted and logged, never sent, and the process carries on."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from dossierflow.kafka.local_broker import free_port
from dossierflow.rules.alerts import AlertKind
from tests.notify_alerts import make_alert, record, vn
from tests.notify_servers import (
    SMTP_PASSWORD,
    SMTP_USER,
    WEBHOOK_SECRET,
    PrivateCA,
    SmtpInbox,
    WebhookReceiver,
    body_text,
)
from tests.test_notify_kafka import notifier_env, start_notifier

pytestmark = pytest.mark.timeout(300)

EVIL = "https://dvc-thanhhoa.evil.example/dang-nhap"
HOSTILE = {
    "text_vi": f"Hồ sơ cần xác minh gấp: đăng nhập tại {EVIL} trước 17:00",
    "text_en": f"Urgent verification: log in at {EVIL}",
    # The audience the forger wants: the province desk and another unit's head.
    "recipients": [{"role": "province_operations", "unit_code": None},
                   {"role": "handling_unit_head", "unit_code": "X-01"}],
    "subject": "Khẩn: xác minh tài khoản",
    "link": EVIL,
    "html": f'<a href="{EVIL}">Đăng nhập</a>',
    "email": "attacker@evil.example",
}
FORGED_MARKS = ("evil.example", "xác minh", "Urgent", "Khẩn", "Đăng nhập", "attacker", "<a href")


def person(pid: str, url: str) -> str:
    return (f"{{id: {pid}, name: {pid}, email: {pid}@example.gov.vn, channels: [email, webhook],"
            f' hours: always, webhook: {{url: "{url}/{pid}", secret: {WEBHOOK_SECRET}}}}}')


def hostile_records() -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """The forged record of a sound alert (X-02 has no head listed: its audience is P's
    head), and the records to reject with the field each is rejected for."""
    forged = {**msgspec.to_builtins(record(make_alert(AlertKind.OVERDUE, "HS-FORGED-1", "X-02"))),
              **HOSTILE}

    def variant(**fields: Any) -> bytes:
        return msgspec.json.encode({**forged, **fields})

    nested = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    rejected = [
        ("kind", variant(kind="PHISHING")),
        ("unit_code", variant(unit_code="X-99", handling_unit_code="X-99")),
        ("handling_unit_code", variant(handling_unit_code="../P")),
        ("dossier_id", variant(dossier_id=f"HS-1 {EVIL}")),
        ("procedure_code", variant(procedure_code=f"1.000894<a href='{EVIL}'>")),
        ("alert_id", variant(alert_id="../../etc/passwd")),
        ("deadline", variant(deadline="9999-12-31T23:59:59+07:00")),
        ("at", variant(at="2026-03-02T09:00:00")),
        ("record", b"not json at all " + EVIL.encode()),
        ("record", variant(text_vi=None)[:-1] + b',"deep":' + nested + b"}"),
    ]
    return forged, rejected


async def wait_until(done: Callable[[], bool], what: str, timeout: float = 120) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done():
        assert loop.time() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.1)


async def test_a_forged_record_sends_nothing_of_its_own_and_only_to_the_computed_audience(
    kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path,
    inbox: SmtpInbox, https_receiver: WebhookReceiver, webhook_ca: PrivateCA,
) -> None:
    alerts_topic, facts_topic = topic_factory(partitions=1), topic_factory(partitions=1)
    recipients = tmp_path / "r.yaml"
    recipients.write_text(
        f"province_operations: [{person('ops', https_receiver.url)}]\n"
        f"units:\n  P: {{heads: [{person('p-head', https_receiver.url)}]}}\n"
        f"  X-01: {{heads: [{person('x01-head', https_receiver.url)}]}}\n",
        encoding="utf-8",
    )
    metrics_port = free_port()
    env = {
        **notifier_env(kafka_bootstrap, alerts_topic, facts_topic, tmp_path, recipients,
                       metrics_port, batch_window=0),
        "DOSSIERFLOW_NOTIFY_WEBHOOK_CA_FILE": str(webhook_ca.ca_file),
        "DOSSIERFLOW_SMTP_HOST": inbox.host,
        "DOSSIERFLOW_SMTP_PORT": str(inbox.port),
        "DOSSIERFLOW_SMTP_USER": SMTP_USER,
        "DOSSIERFLOW_SMTP_PASSWORD": SMTP_PASSWORD,
        "DOSSIERFLOW_SMTP_CA_FILE": str(inbox.ca_file),
        "DOSSIERFLOW_SMTP_SENDER": "canhbao@example.gov.vn",
    }
    forged, rejected = hostile_records()
    marker = make_alert(AlertKind.AT_RISK, "HS-MARKER", "X-01", deadline=vn("2026-03-03 17:00"))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=2**20)
    await producer.start()
    try:
        for _, value in rejected:
            await producer.send(alerts_topic, value)
        await producer.send(alerts_topic, msgspec.json.encode(forged))
        await producer.send(alerts_topic, msgspec.json.encode(record(marker)))
        await producer.flush()
    finally:
        await producer.stop()

    process = start_notifier(tmp_path, env)
    try:
        await wait_until(lambda: len(inbox.messages) >= 2 and len(https_receiver.calls) >= 2,
                         "two e-mails and two webhooks")
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            metrics_text = await response.text()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0

    # Nothing planned beyond the computed audience (the store, after a drained stop).
    with sqlite3.connect(tmp_path / "notify.sqlite") as db:
        planned = set(db.execute("SELECT dossier_id, person_id, channel FROM deliveries"))
    assert planned == {(d, p, c) for d, p in (("HS-FORGED-1", "p-head"), ("HS-MARKER", "x01-head"))
                       for c in ("email", "webhook")}
    mails = {str(m["To"]).split("@")[0].split("<")[-1]: m for m in inbox.messages}
    assert sorted(mails) == ["p-head", "x01-head"] and len(inbox.messages) == 2
    forged_mail = mails["p-head"]
    plain, html = body_text(forged_mail, "plain"), body_text(forged_mail, "html")
    assert forged_mail["Subject"] == "[Cảnh báo hồ sơ] Quá hạn: hồ sơ HS-FORGED-1"
    assert "Hồ sơ HS-FORGED-1 (Chứng thực bản sao từ bản chính) tại UBND phường Hạc Thành " \
        "đã quá hạn trả kết quả" in plain
    hooks = {call.path.strip("/"): call for call in https_receiver.calls}
    assert sorted(hooks) == ["p-head", "x01-head"] and len(https_receiver.calls) == 2
    sent = "\n".join([
        *(f"{m['Subject']}\n{body_text(m, 'plain')}\n{body_text(m, 'html')}"
          for m in inbox.messages),
        *(call.body.decode() for call in https_receiver.calls),
    ])
    for mark in FORGED_MARKS:
        assert mark not in sent, f"{mark!r} of the forged record went out"
    assert "HS-FORGED-1" in html
    for call in hooks.values():
        assert call.payload is not None
        [alert] = call.payload["data"]["alerts"]
        assert not {"text_vi", "text_en", "recipients", "link"} & set(alert)

    # Each rejected record counted by the field found wrong, and logged.
    counted = {
        sample.labels["field"]: sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == "dossierflow_notify_rejected_records_total"
        and sample.labels["topic"] == alerts_topic
    }
    assert counted == {f: float(sum(g == f for g, _ in rejected)) for f, _ in rejected}
    log = (tmp_path / "notify.log").read_text(encoding="utf-8")
    assert log.count("rejected, nothing sent") == len(rejected)
