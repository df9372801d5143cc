"""The notifier's engine with its SQLite store and real SMTP and webhook servers; the clock is
injected and moved over windows, nights and holidays, never slept."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from dossierflow.notify import metrics
from dossierflow.notify.channels.webhook import WebhookSender
from dossierflow.notify.recipients import Channel, RecipientsBook, parse_recipients
from dossierflow.notify.service import Notifier, Policy
from dossierflow.notify.store import HOLDING_FAILURES, NotifyStore
from dossierflow.rules.alerts import AlertKind
from tests.notify_alerts import CATALOG, make_alert, vn
from tests.notify_servers import (
    WEBHOOK_SECRET,
    SmtpInbox,
    WebhookReceiver,
    ZaloReceiver,
    dossiers_of,
)


def body_text(message: Any, kind: str) -> str:
    """The text of the message's `kind` ("plain", "html") part, which must exist."""
    part = message.get_body((kind,))
    assert part is not None, f"the message has no {kind} part"
    return str(part.get_content())



def book_text(webhook_url: str, x01_email: str = "head@x01.example.gov.vn") -> str:
    return f"""\
province_operations:
  - id: ops
    name: Trực ban
    webhook: {{url: "{webhook_url}/ops", secret: {WEBHOOK_SECRET}, allow_http: true}}
    channels: [webhook]
    hours: always
units:
  P:
    heads: [{{id: p-head, name: Chánh Văn phòng, email: p@example.gov.vn}}]
  X-01:
    heads:
      - id: x01-head
        name: Lê Văn Cường
        email: {x01_email}
"""


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rig:
    notifier: Notifier
    clock: Clock
    inbox: SmtpInbox
    receiver: WebhookReceiver

    async def tick_at(self, when: datetime) -> None:
        self.clock.now = when
        await self.notifier.tick()
        await self.notifier.drain()

    def book(self, **kwargs: str) -> RecipientsBook:
        return parse_recipients(book_text(self.receiver.url, **kwargs), "book", CATALOG.units)


@pytest.fixture
async def rig(tmp_path: Path, inbox: SmtpInbox) -> AsyncIterator[Rig]:
    receiver = WebhookReceiver()
    await receiver.start()
    smtp = inbox.sender()
    webhook = WebhookSender()
    clock = Clock(vn("2026-03-02 10:00"))
    policy = Policy(morning_digest=False, retry_base=1.0, retry_cap=8.0)
    store = NotifyStore(tmp_path / "notify.sqlite")
    book = parse_recipients(book_text(receiver.url), "book", CATALOG.units)
    notifier = Notifier(store, book, CATALOG, {Channel.EMAIL: smtp, Channel.WEBHOOK: webhook},
                        clock, policy, random.Random(11))
    yield Rig(notifier, clock, inbox, receiver)
    await webhook.close()
    await receiver.stop()
    store.close()


def dossiers(message: object) -> list[str]:
    text = body_text(message, "plain")
    return sorted(word for word in text.replace("(", " ").split() if word.startswith("HS-"))


async def test_alerts_to_one_person_within_the_window_leave_as_one_message(rig: Rig) -> None:
    rig.notifier.accept([make_alert(AlertKind.AT_RISK, "HS-1", "X-01")])
    rig.clock.now = vn("2026-03-02 10:00:20")
    rig.notifier.accept([make_alert(AlertKind.AT_RISK, "HS-2", "X-01")])
    await rig.tick_at(vn("2026-03-02 10:00:29"))
    assert rig.inbox.messages == []
    await rig.tick_at(vn("2026-03-02 10:00:30"))
    [message] = rig.inbox.messages
    assert message["Subject"] == "[Cảnh báo hồ sơ] 2 hồ sơ cần xử lý"
    assert dossiers(message) == ["HS-1", "HS-2"]


async def test_overdue_silences_the_waiting_at_risk_of_the_same_dossier(rig: Rig) -> None:
    at_risk = make_alert(AlertKind.AT_RISK, "HS-1", "X-01")
    overdue = make_alert(AlertKind.OVERDUE, "HS-1", "X-01")
    rig.notifier.accept([at_risk, make_alert(AlertKind.AT_RISK, "HS-2", "X-01")])
    rig.notifier.accept([overdue])
    await rig.tick_at(vn("2026-03-02 10:00:30"))
    [to_head] = rig.inbox.to("head@x01.example.gov.vn")
    text = body_text(to_head, "plain")
    assert "Quá hạn" in text and "HS-2" in text
    assert text.count("HS-1") == 1
    assert rig.notifier.store.deliveries(at_risk.alert_id) == [
        ("x01-head", "email", "inhibited")
    ]
    # An AT_RISK read after the OVERDUE of the same deadline (the topics' order is not the
    # alerts' order) is moot too.
    rig.notifier.accept([make_alert(AlertKind.OVERDUE, "HS-3", "X-01")])
    late = make_alert(AlertKind.AT_RISK, "HS-3", "X-01")
    rig.notifier.accept([late])
    assert rig.notifier.store.deliveries(late.alert_id) == [("x01-head", "email", "inhibited")]


async def test_an_at_risk_after_its_overdue_in_the_same_batch_is_moot(rig: Rig) -> None:
    overdue = make_alert(AlertKind.OVERDUE, "HS-1", "X-01")
    at_risk = make_alert(AlertKind.AT_RISK, "HS-1", "X-01")
    rig.notifier.accept([overdue, at_risk, make_alert(AlertKind.AT_RISK, "HS-2", "X-01")])
    assert ("x01-head", "email", "waiting") in rig.notifier.store.deliveries(overdue.alert_id)
    assert rig.notifier.store.deliveries(at_risk.alert_id) == [("x01-head", "email", "inhibited")]
    await rig.tick_at(vn("2026-03-02 10:00:30"))
    [to_head] = rig.inbox.to("head@x01.example.gov.vn")
    assert dossiers(to_head) == ["HS-1", "HS-2"]


async def test_an_at_risk_of_a_later_deadline_after_an_overdue_is_news(rig: Rig) -> None:
    # Overdue on 2 March, then a supplement request and a restart: a new deadline.
    overdue = make_alert(AlertKind.OVERDUE, "HS-1", "X-01", deadline=vn("2026-02-27 17:00"))
    at_risk = make_alert(AlertKind.AT_RISK, "HS-1", "X-01", deadline=vn("2026-03-09 17:00"))
    rig.notifier.accept([overdue])
    rig.notifier.accept([at_risk])
    await rig.tick_at(vn("2026-03-02 10:00:30"))
    assert rig.notifier.store.deliveries(at_risk.alert_id) == [("x01-head", "email", "sent")]
    text = body_text(rig.inbox.to("head@x01.example.gov.vn")[0], "plain")
    assert "Quá hạn" in text and "Sắp đến hạn" in text


async def test_alerts_of_a_friday_evening_wait_over_tet_and_leave_as_one_digest(rig: Rig) -> None:
    rig.clock.now = vn("2026-02-13 17:30")
    rig.notifier.accept([make_alert(AlertKind.AT_RISK, "HS-1", "X-01")])
    rig.clock.now = vn("2026-02-15 20:00")
    rig.notifier.accept([make_alert(AlertKind.OVERDUE, "HS-2", "X-01")])
    for day in ("2026-02-13 18:00", "2026-02-16 08:00", "2026-02-20 10:00", "2026-02-23 07:29"):
        await rig.tick_at(vn(day))
    assert rig.inbox.messages == []
    await rig.tick_at(vn("2026-02-23 07:30"))
    # The head of X-01 gets both; the OVERDUE also escalated to P's head.
    [digest] = rig.inbox.to("head@x01.example.gov.vn")
    assert digest["Subject"] == "[Cảnh báo hồ sơ] Tổng hợp 2 cảnh báo ngoài giờ hành chính"
    assert dossiers(digest) == ["HS-1", "HS-2"]
    assert [dossiers(m) for m in rig.inbox.to("p@example.gov.vn")] == [["HS-2"]]


async def test_each_morning_unit_heads_get_their_open_at_risk_and_overdue_dossiers(
    rig: Rig,
) -> None:
    rig.notifier.policy = replace(rig.notifier.policy, morning_digest=True)
    await rig.tick_at(vn("2026-03-02 10:00"))  # Monday's morning digest: nothing open yet
    rig.notifier.accept([
        make_alert(AlertKind.AT_RISK, "HS-1", "X-01"),
        make_alert(AlertKind.OVERDUE, "HS-2", "X-01"),
        make_alert(AlertKind.AT_RISK, "HS-3", "X-01"),
        make_alert(AlertKind.AT_RISK, "HS-4", "X-02"),  # X-02 lists nobody: P's head
    ])
    rig.notifier.close_dossiers(["HS-3"])
    await rig.tick_at(vn("2026-03-02 10:00:30"))
    sent_before = len(rig.inbox.messages)
    await rig.tick_at(vn("2026-03-03 07:29"))
    assert len(rig.inbox.messages) == sent_before
    await rig.tick_at(vn("2026-03-03 07:30"))
    await rig.tick_at(vn("2026-03-03 07:31"))
    mornings = rig.inbox.messages[sent_before:]
    assert sorted(m["Subject"] for m in mornings) == [
        "[Cảnh báo hồ sơ] UBND phường Hạc Thành: 1 hồ sơ sắp đến hạn hoặc quá hạn",
        "[Cảnh báo hồ sơ] UBND xã Đông Tiến: 2 hồ sơ sắp đến hạn hoặc quá hạn",
    ]
    [x01] = [m for m in mornings if "x01" in str(m["To"])]
    assert dossiers(x01) == ["HS-1", "HS-2"]
    [x02] = [m for m in mornings if "p@example" in str(m["To"])]
    assert dossiers(x02) == ["HS-4"]


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_webhook_failing_three_times_is_retried_with_the_same_id_without_blocking_email(
    rig: Rig,
) -> None:
    rig.receiver.fail_next = 3
    failed = _sample("dossierflow_notify_deliveries_total", channel="webhook", result="failed")
    sent = _sample("dossierflow_notify_deliveries_total", channel="webhook", result="sent")
    alert = make_alert(AlertKind.RESCHEDULED_OVERDUE, "HS-1", "X-01")
    rig.notifier.accept([alert])
    await rig.tick_at(vn("2026-03-02 10:00:30"))
    assert len(rig.inbox.to("head@x01.example.gov.vn")) == 1, "e-mail waited for the webhook"
    when = rig.clock.now
    for _ in range(10):
        when += timedelta(seconds=8)  # the backoff's cap: every retry is due
        await rig.tick_at(when)
    calls = rig.receiver.calls
    assert len(calls) == 4
    assert len({c.headers["webhook-id"] for c in calls}) == 1
    assert all(c.payload is not None for c in calls)
    assert ("ops", "webhook", "sent") in rig.notifier.store.deliveries(alert.alert_id)
    assert _sample("dossierflow_notify_deliveries_total", channel="webhook",
                   result="failed") - failed == 3
    assert _sample("dossierflow_notify_deliveries_total", channel="webhook",
                   result="sent") - sent == 1


async def test_reloaded_recipients_apply_to_deliveries_already_waiting(rig: Rig) -> None:
    rig.notifier.accept([make_alert(AlertKind.AT_RISK, "HS-1", "X-01")])
    rig.notifier.reload(rig.book(x01_email="new.head@x01.example.gov.vn"))
    await rig.tick_at(vn("2026-03-02 10:00:30"))
    assert [m["To"] for m in rig.inbox.messages] == ["Lê Văn Cường <new.head@x01.example.gov.vn>"]


async def test_an_alert_read_twice_is_delivered_once(rig: Rig) -> None:
    alert = make_alert(AlertKind.AT_RISK, "HS-1", "X-01")
    assert rig.notifier.accept([alert]) == 1
    await rig.tick_at(vn("2026-03-02 10:00:30"))
    assert rig.notifier.accept([alert]) == 0
    await rig.tick_at(vn("2026-03-02 10:05"))
    assert len(rig.inbox.messages) == 1


async def test_a_long_burst_is_split_into_messages_of_at_most_the_limit(rig: Rig) -> None:
    rig.notifier.policy = replace(rig.notifier.policy, max_alerts_per_message=2)
    rig.notifier.accept([make_alert(AlertKind.AT_RISK, f"HS-{n}", "X-01") for n in range(5)])
    # One message at a time to a recipient: one pass of the outbox each.
    for second in (30, 31, 32):
        await rig.tick_at(vn(f"2026-03-02 10:00:{second}"))
    assert sorted(len(dossiers(m)) for m in rig.inbox.messages) == [1, 2, 2]
    assert sorted(d for m in rig.inbox.messages for d in dossiers(m)) == [
        f"HS-{n}" for n in range(5)
    ]


async def test_start_of_day_forgets_sent_deliveries_older_than_the_retention(rig: Rig) -> None:
    rig.notifier.policy = replace(rig.notifier.policy, retention=timedelta(days=100))
    old = make_alert(AlertKind.AT_RISK, "HS-1", "X-01")
    rig.notifier.accept([old])
    await rig.tick_at(vn("2026-03-02 10:00:30"))
    rig.clock.now = vn("2026-06-09 16:00")  # 99 days later: still a dedup key
    fresh = make_alert(AlertKind.AT_RISK, "HS-2", "X-01")
    rig.notifier.accept([fresh])
    # Accepted at 10:00 on 2 March: 100 days later is 10:00 on 10 June, so the first
    # opening past it is Thursday 11 June, 07:30.
    await rig.tick_at(vn("2026-06-10 07:30"))
    assert rig.notifier.store.deliveries(old.alert_id) == [("x01-head", "email", "sent")]
    await rig.tick_at(vn("2026-06-11 07:30"))
    assert rig.notifier.store.deliveries(old.alert_id) == []
    assert rig.notifier.store.deliveries(fresh.alert_id) == [("x01-head", "email", "sent")]


async def test_an_alert_that_reaches_nobody_is_counted_and_logged(
    rig: Rig, caplog: pytest.LogCaptureFixture,
) -> None:
    rig.notifier.reload(parse_recipients("units: {}\n", "book", CATALOG.units))
    before = _sample("dossierflow_notify_unrouted_alerts_total")
    assert rig.notifier.accept([make_alert(AlertKind.AT_RISK, "HS-9", "X-03")]) == 0
    assert _sample("dossierflow_notify_unrouted_alerts_total") - before == 1
    assert "reaches nobody" in caplog.text and "X-03" in caplog.text


async def test_a_refused_email_is_logged_with_the_address_masked_and_the_recipient_counted(
    rig: Rig, caplog: pytest.LogCaptureFixture,
) -> None:
    inbox = rig.inbox
    rig.notifier.senders = {Channel.EMAIL: inbox.sender(password="wrong")}
    rig.notifier.accept([make_alert(AlertKind.AT_RISK, "HS-1", "X-01")])
    await rig.tick_at(vn("2026-03-02 10:00:30"))
    assert _sample("dossierflow_notify_failing_recipients") == 1
    assert "x01-head via email (h***@x01.example.gov.vn)" in caplog.text
    assert "head@x01.example.gov.vn" not in caplog.text
    rig.notifier.senders = {Channel.EMAIL: inbox.sender()}
    await rig.tick_at(vn("2026-03-02 10:10"))
    assert len(inbox.messages) == 1
    assert _sample("dossierflow_notify_failing_recipients") == 0


async def test_zalo_person_gets_the_alert_with_the_message_id_as_tracking_id(
    rig: Rig, zalo: ZaloReceiver,
) -> None:
    sender = zalo.sender()
    rig.notifier.senders = {Channel.ZALO: sender}
    rig.notifier.reload(parse_recipients(
        "units:\n  X-01:\n    heads: [{id: x01-head, name: H, phone: '84912345678', "
        "channels: [zalo]}]\n", "book", CATALOG.units))
    alert = make_alert(AlertKind.AT_RISK, "HS-1", "X-01")
    rig.notifier.accept([alert])
    try:
        await rig.tick_at(vn("2026-03-02 10:00:30"))
    finally:
        await sender.close()
    [request] = zalo.accepted
    assert request["phone"] == "84912345678" and request["template_id"] == "301001"
    assert request["template_data"]["dossier_id"] == "HS-1"
    with sqlite3.connect(rig.notifier.store.path) as db:
        [(stored_id,)] = db.execute(
            "SELECT message_id FROM deliveries WHERE alert_id = ?", (alert.alert_id,)
        ).fetchall()
    assert request["tracking_id"] == stored_id


async def test_a_hanging_recipient_holds_one_slot_and_never_blocks_the_others(rig: Rig) -> None:
    # The operations webhook hangs with three messages due; two slots in all. The head's
    # e-mail must still leave, and the webhook gets all three once it answers again.
    hanging = WebhookSender(timeout=300)
    rig.notifier.senders = {**rig.notifier.senders, Channel.WEBHOOK: hanging}
    rig.notifier.policy = replace(rig.notifier.policy, concurrency=2, max_alerts_per_message=1)
    hold = rig.receiver.hold = asyncio.Event()
    try:
        await _hanging_webhook_scenario(rig, hold)
    finally:
        hold.set()
        await rig.notifier.drain()
        await hanging.close()


async def _hanging_webhook_scenario(rig: Rig, hold: asyncio.Event) -> None:
    to_ops = [make_alert(AlertKind.RESCHEDULE_LIMIT_EXCEEDED, f"HS-{n}", "X-01") for n in range(3)]
    rig.notifier.accept(to_ops)
    rig.clock.now = vn("2026-03-02 10:00:30")
    await rig.notifier.tick()
    await rig.receiver.wait_for(lambda calls: len(calls) >= 1)
    rig.notifier.accept([make_alert(AlertKind.AT_RISK, "HS-9", "X-01")])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not rig.inbox.messages:
        assert loop.time() < deadline, "the head's e-mail waited for the hanging webhook"
        rig.clock.now += timedelta(seconds=30)
        await rig.notifier.tick()
        await asyncio.sleep(0.1)
    assert len(rig.receiver.calls) == 1, "the hanging webhook was offered a second message"
    hold.set()
    rig.receiver.hold = None
    for _ in range(3):
        await rig.tick_at(rig.clock.now + timedelta(seconds=1))
    payloads = [call.payload for call in rig.receiver.calls if call.payload is not None]
    delivered = [dossier for payload in payloads for dossier in dossiers_of(payload)]
    assert sorted(delivered) == ["HS-0", "HS-1", "HS-2"]


async def test_metrics_count_digests_waiting_and_the_alert_to_delivery_latency(rig: Rig) -> None:
    count = _sample("dossierflow_notify_alert_to_delivery_seconds_count", channel="email")
    total = _sample("dossierflow_notify_alert_to_delivery_seconds_sum", channel="email")
    fired = vn("2026-02-13 17:00")  # Friday before Tết
    rig.clock.now = vn("2026-02-13 17:30")
    rig.notifier.accept([make_alert(AlertKind.AT_RISK, "HS-1", "X-01", at=fired),
                         make_alert(AlertKind.OVERDUE, "HS-2", "X-01", at=fired)])
    await rig.tick_at(vn("2026-02-13 18:00"))
    # The head of X-01 and, for the escalated OVERDUE, P's head: two digests wait.
    assert _sample("dossierflow_notify_digests_waiting") == 2
    await rig.tick_at(vn("2026-02-23 07:30"))
    assert _sample("dossierflow_notify_digests_waiting") == 0
    assert len(rig.inbox.messages) == 2
    assert _sample("dossierflow_notify_alert_to_delivery_seconds_count", channel="email") \
        - count == 2
    # Friday 13 February 17:00 to Monday 23 February 07:30: 9 days 14 h 30 min, per message.
    assert _sample("dossierflow_notify_alert_to_delivery_seconds_sum", channel="email") \
        - total == 2 * (9 * 24 + 14.5) * 3600


async def test_an_email_resent_after_a_crash_before_its_sent_mark_keeps_its_message_id(
    rig: Rig, tmp_path: Path,
) -> None:
    rig.notifier.accept([make_alert(AlertKind.AT_RISK, "HS-1", "X-01")])
    rig.clock.now = vn("2026-03-02 10:00:30")
    await rig.notifier.tick()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not rig.inbox.messages:
        assert loop.time() < deadline, "the e-mail never arrived"
        await asyncio.sleep(0.05)
    # The server accepted it, but the process dies before the sent mark is written: a new
    # notifier on the same state file sends it again, as the same message.
    store = NotifyStore(tmp_path / "notify.sqlite")
    restarted = Notifier(store, rig.notifier.book, CATALOG, rig.notifier.senders, rig.clock,
                         rig.notifier.policy)
    try:
        await restarted.tick()
        await restarted.drain()
    finally:
        store.close()
    first, again = rig.inbox.messages
    assert again["Message-ID"] == first["Message-ID"]
    assert dossiers(again) == dossiers(first) == ["HS-1"]


async def test_a_failing_recipient_dropped_from_the_file_is_no_longer_counted_as_failing(
    rig: Rig,
) -> None:
    rig.notifier.senders = {Channel.EMAIL: rig.inbox.sender(password="wrong")}
    rig.notifier.accept([make_alert(AlertKind.AT_RISK, "HS-1", "X-01")])
    await rig.tick_at(vn("2026-03-02 10:00:30"))
    assert _sample("dossierflow_notify_failing_recipients") == 1
    rig.notifier.reload(parse_recipients("units: {}\n", "book", CATALOG.units))
    await rig.tick_at(vn("2026-03-02 10:10"))  # past the backoff: the message is dropped
    assert _sample("dossierflow_notify_failing_recipients") == 0


async def test_alerts_for_a_recipient_that_is_down_wait_and_leave_together_when_it_is_back(
    rig: Rig,
) -> None:
    rig.receiver.fail_next = 1000  # the operations webhook is down
    rig.notifier.accept([make_alert(AlertKind.RESCHEDULE_LIMIT_EXCEEDED, "HS-1", "X-01")])
    await rig.tick_at(vn("2026-03-02 10:00:30"))
    rig.clock.now = vn("2026-03-02 10:00:40")
    rig.notifier.accept([make_alert(AlertKind.RESCHEDULE_LIMIT_EXCEEDED, "HS-2", "X-01")])
    await rig.tick_at(vn("2026-03-02 10:01:10"))
    rig.clock.now = vn("2026-03-02 10:01:20")
    rig.notifier.accept([make_alert(AlertKind.RESCHEDULE_LIMIT_EXCEEDED, "HS-3", "X-01")])
    await rig.tick_at(vn("2026-03-02 10:01:50"))
    # While down, only the first message was tried (once per backoff), nothing queued up.
    assert len({call.headers["webhook-id"] for call in rig.receiver.calls}) == 1
    rig.receiver.fail_next = 0
    for minute in (15, 16, 17):
        await rig.tick_at(vn(f"2026-03-02 10:{minute}:00"))
    by_id: dict[str, list[str]] = {}
    for call in rig.receiver.calls:
        assert call.payload is not None
        by_id[call.headers["webhook-id"]] = sorted(dossiers_of(call.payload))
    assert sorted(by_id.values()) == [["HS-1"], ["HS-2", "HS-3"]]


async def test_a_message_the_receiver_refuses_for_ever_does_not_silence_the_recipient(
    rig: Rig,
) -> None:
    # The operations webhook answers 422 to any message carrying HS-1, and only to those.
    rig.receiver.refuse_dossiers = {"HS-1"}
    refused = make_alert(AlertKind.RESCHEDULE_LIMIT_EXCEEDED, "HS-1", "X-01")
    rig.notifier.accept([refused])
    await rig.tick_at(vn("2026-03-02 10:00:30"))
    rig.clock.now = vn("2026-03-02 10:00:40")
    rig.notifier.accept([make_alert(AlertKind.RESCHEDULED_OVERDUE, "HS-2", "X-01")])
    when = rig.clock.now
    for _ in range(3 * HOLDING_FAILURES):
        when += timedelta(seconds=8)  # the backoff's cap: every retry is due
        await rig.tick_at(when)
    to_ops = [call for call in rig.receiver.calls if call.path == "/ops"]
    assert all(call.payload is not None for call in to_ops)
    carrying = [dossiers_of(call.payload) for call in to_ops if call.payload is not None]
    hs1 = [n for n, dossiers in enumerate(carrying) if "HS-1" in dossiers]
    hs2 = [n for n, dossiers in enumerate(carrying) if "HS-2" in dossiers]
    assert len(hs2) == 1, "the alert after the refused message never reached the recipient"
    assert carrying[hs2[0]] == ["HS-2"]
    # HS-2 waited behind HS-1 for its first failures (an outage gathers alerts), no longer.
    assert hs1[HOLDING_FAILURES - 1] < hs2[0] < hs1[HOLDING_FAILURES + 1]
    # HS-1 is still retried after HS-2 went out, always as the same message, never dropped.
    assert hs1[-1] > hs2[0]
    assert len({to_ops[n].headers["webhook-id"] for n in hs1}) == 1
    assert rig.notifier.store.deliveries(refused.alert_id) == [("ops", "webhook", "claimed")]


async def test_a_recipient_counts_as_failing_while_any_of_its_messages_fails(rig: Rig) -> None:
    rig.notifier.senders = {Channel.EMAIL: rig.inbox.sender(password="wrong")}
    rig.notifier.policy = replace(rig.notifier.policy, max_alerts_per_message=1)
    rig.notifier.accept([make_alert(AlertKind.AT_RISK, f"HS-{n}", "X-01") for n in (1, 2)])
    # Two messages to the head's e-mail, one attempt per pass: both have failed after two.
    await rig.tick_at(vn("2026-03-02 10:00:30"))
    await rig.tick_at(vn("2026-03-02 10:00:38"))
    assert rig.notifier.store.counts()["unsent"] == 2
    assert _sample("dossierflow_notify_failing_recipients") == 1
    rig.notifier.reload(parse_recipients("units: {}\n", "book", CATALOG.units))
    await rig.tick_at(vn("2026-03-02 10:00:46"))  # one message dropped, the other still failing
    assert rig.notifier.store.counts()["unsent"] == 1
    assert _sample("dossierflow_notify_failing_recipients") == 1
    await rig.tick_at(vn("2026-03-02 10:00:54"))
    assert _sample("dossierflow_notify_failing_recipients") == 0


async def test_the_failing_recipients_gauge_reads_the_state_file_after_a_restart(
    rig: Rig, tmp_path: Path,
) -> None:
    rig.notifier.senders = {Channel.EMAIL: rig.inbox.sender(password="wrong")}
    rig.notifier.accept([make_alert(AlertKind.AT_RISK, "HS-1", "X-01")])
    await rig.tick_at(vn("2026-03-02 10:00:30"))
    assert _sample("dossierflow_notify_failing_recipients") == 1
    metrics.FAILING.set(0)  # a new process starts with the gauge at 0
    store = NotifyStore(tmp_path / "notify.sqlite")
    restarted = Notifier(store, rig.notifier.book, CATALOG, rig.notifier.senders, rig.clock,
                         rig.notifier.policy)
    try:
        await restarted.tick()  # the same instant: the failed message is not due yet
        await restarted.drain()
    finally:
        store.close()
    assert len(rig.inbox.messages) == 0
    assert _sample("dossierflow_notify_failing_recipients") == 1
