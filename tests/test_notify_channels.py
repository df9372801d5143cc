"""Each channel against a real server in the test process: what the receiver gets and how it
checks it (STARTTLS and AUTH LOGIN; Standard Webhooks signature; ZNS shape and token)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from dossierflow.notify.channels.base import DeliveryError, Outgoing
from dossierflow.notify.channels.webhook import WebhookSender
from dossierflow.notify.intake import read_alert
from dossierflow.notify.recipients import Person, WebhookTarget
from dossierflow.notify.render import render
from dossierflow.notify.settings import NotifySettings
from dossierflow.rules.alerts import AlertKind
from tests.notify_alerts import CATALOG, make_alert, record, vn
from tests.notify_servers import (
    SMTP_USER,
    WEBHOOK_SECRET,
    SmtpInbox,
    WebhookReceiver,
    ZaloReceiver,
    body_text,
)

ALERT = make_alert(AlertKind.OVERDUE, "HS-2026-000123", "X-01",
                   deadline=vn("2026-03-03 17:00"))



def _outgoing(person: Person, alerts: tuple[Any, ...] = (ALERT,), kind: str = "batch") -> Outgoing:
    mid = "4f2a0c1e-0000-5000-8000-000000000001"
    rendered = render(kind, alerts, person_name=person.name, lang=person.language,
                      message_id=mid, catalog=CATALOG)
    return Outgoing(mid, kind, person, rendered, alerts)


HEAD = Person(id="x01-head", name="Lê Văn Cường", email="cuong@x01.example.gov.vn")


async def test_email_goes_over_starttls_with_login_in_vietnamese_text_and_html(
    inbox: SmtpInbox,
) -> None:
    await inbox.sender().send(_outgoing(HEAD))
    [message] = inbox.messages
    assert inbox.tls_sessions == [True]
    assert inbox.logins == [("LOGIN", SMTP_USER)]
    assert message["Message-ID"] == "<4f2a0c1e-0000-5000-8000-000000000001@example.gov.vn>"
    assert message["Subject"] == "[Cảnh báo hồ sơ] Quá hạn: hồ sơ HS-2026-000123"
    assert "cuong@x01.example.gov.vn" in message["To"]
    plain = body_text(message, "plain")
    html = body_text(message, "html")
    assert plain.startswith("Kính gửi Lê Văn Cường,")
    assert "Hồ sơ HS-2026-000123 (Chứng thực bản sao từ bản chính) tại UBND xã Đông Tiến " \
        "đã quá hạn trả kết quả (17:00 03/03/2026)." in plain
    assert html.lstrip().startswith('<!DOCTYPE html><html lang="vi">')
    assert "<p>Kính gửi Lê Văn Cường,</p>" in html
    assert "Hồ sơ HS-2026-000123 (Chứng thực bản sao từ bản chính) tại UBND xã Đông Tiến " \
        "đã quá hạn trả kết quả (17:00 03/03/2026)." in html


async def test_resent_email_carries_the_same_message_id(inbox: SmtpInbox) -> None:
    sender = inbox.sender()
    await sender.send(_outgoing(HEAD))
    await sender.send(_outgoing(HEAD))
    assert len({m["Message-ID"] for m in inbox.messages}) == 1


async def test_refused_login_is_a_delivery_error(inbox: SmtpInbox) -> None:
    with pytest.raises(DeliveryError, match="login refused"):
        await inbox.sender(password="wrong").send(_outgoing(HEAD))
    assert inbox.messages == []


async def test_english_digest_lists_every_dossier_in_a_table(inbox: SmtpInbox) -> None:
    other = make_alert(AlertKind.AT_RISK, "HS-2026-000124", "X-01")
    person = Person(id="x01-head", name="Head", email="h@x01.example.gov.vn", language="en")
    await inbox.sender().send(_outgoing(person, (ALERT, other), kind="digest"))
    [message] = inbox.messages
    assert message["Subject"] == "[Dossier alert] Digest of 2 alerts from outside office hours"
    html = body_text(message, "html")
    assert html.count("<tr>") == 3 and "HS-2026-000124" in html and "At risk" in html


async def test_webhook_is_signed_as_standard_webhooks_and_carries_the_alerts(
    receiver: WebhookReceiver,
) -> None:
    person = Person(id="ops", name="Ops", channels=(),
                    webhook=WebhookTarget(f"{receiver.url}/hook", WEBHOOK_SECRET, allow_http=True))
    sender = WebhookSender()
    try:
        await sender.send(_outgoing(person))
    finally:
        await sender.close()
    [call] = receiver.calls
    assert call.payload is not None, "the reference library refused the signature"
    assert call.headers["webhook-id"] == "4f2a0c1e-0000-5000-8000-000000000001"
    assert call.headers["webhook-signature"].startswith("v1,")
    data = call.payload["data"]
    assert call.payload["type"] == "dossier.alerts.alert"
    assert [a["alert_id"] for a in data["alerts"]] == [ALERT.alert_id]
    assert data["recipient"] == {"id": "ops", "name": "Ops"}


async def test_webhook_signed_with_another_secret_is_refused_by_the_receiver(
    receiver: WebhookReceiver,
) -> None:
    person = Person(id="ops", name="Ops", channels=(), webhook=WebhookTarget(
        f"{receiver.url}/hook", "whsec_" + "QUJD" * 8, allow_http=True))
    sender = WebhookSender()
    try:
        with pytest.raises(DeliveryError, match="401"):
            await sender.send(_outgoing(person))
    finally:
        await sender.close()
    assert receiver.verified() == []


async def test_zalo_zns_request_has_phone_template_data_tracking_id_and_token(
    zalo: ZaloReceiver,
) -> None:
    person = Person(id="x01-head", name="Head", phone="84912345678", channels=())
    sender = zalo.sender()
    try:
        await sender.send(_outgoing(person))
        other = make_alert(AlertKind.AT_RISK, "HS-2026-000124", "X-01")
        await sender.send(_outgoing(person, (ALERT, other), kind="digest"))
    finally:
        await sender.close()
    assert zalo.refused == []
    single, digest = zalo.accepted
    assert single == {
        "phone": "84912345678",
        "template_id": "301001",
        "template_data": {
            "dossier_id": "HS-2026-000123", "alert": "Quá hạn", "procedure": "1.000894",
            "unit": "X-01", "deadline": "17:00 03/03/2026",
        },
        "tracking_id": "4f2a0c1e-0000-5000-8000-000000000001",
    }
    assert digest["template_id"] == "301002"
    assert digest["template_data"]["count"] == "2"


async def test_zalo_with_a_wrong_token_is_a_delivery_error(zalo: ZaloReceiver) -> None:
    person = Person(id="x01-head", name="Head", phone="84912345678", channels=())
    sender = zalo.sender(access_token="expired")
    try:
        with pytest.raises(DeliveryError, match="error -124"):
            await sender.send(_outgoing(person))
    finally:
        await sender.close()
    assert zalo.refused == ["access_token"]


async def test_applicant_details_slipped_into_an_alert_record_reach_no_message(
    inbox: SmtpInbox, receiver: WebhookReceiver,
) -> None:
    # A producer that adds personal data to the alerts topic: the notifier decodes only the
    # alert's fields, so neither the e-mail nor the webhook carries them.
    forged = {**msgspec.to_builtins(record(ALERT)), "applicant_name": "Nguyễn Thị Hoa",
              "applicant_phone": "84987654321", "applicant_address": "12 Lê Lợi"}
    alert = read_alert(msgspec.json.encode(forged), CATALOG, NotifySettings().identifier)
    person = Person(id="x01-head", name="Lê Văn Cường", email="cuong@x01.example.gov.vn",
                    channels=(), webhook=WebhookTarget(f"{receiver.url}/hook", WEBHOOK_SECRET,
                                                       allow_http=True))
    await inbox.sender().send(_outgoing(person, (alert,)))
    sender = WebhookSender()
    try:
        await sender.send(_outgoing(person, (alert,)))
    finally:
        await sender.close()
    [message], [call] = inbox.messages, receiver.calls
    received = "\n".join([str(message["Subject"]), body_text(message, "plain"),
                          body_text(message, "html"), call.body.decode()])
    assert "HS-2026-000123" in received
    for detail in ("Hoa", "84987654321", "Lê Lợi", "applicant"):
        assert detail not in received
