"""The channels' transport against real local servers: no SMTP password in clear unless said
so, no redirect followed (webhook, Zalo), https webhooks unless a recipient allows http, and
a private CA trusted when configured."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dossierflow.config import ConfigError
from dossierflow.notify.channels.base import DeliveryError, Outgoing
from dossierflow.notify.channels.smtp import SmtpSender, SmtpSettings
from dossierflow.notify.channels.webhook import WebhookSender
from dossierflow.notify.channels.zalo import ZaloSender, ZaloSettings
from dossierflow.notify.recipients import Person, RecipientsError, WebhookTarget, parse_recipients
from dossierflow.notify.render import render
from dossierflow.notify.settings import smtp_settings
from dossierflow.rules.alerts import AlertKind
from tests.notify_alerts import CATALOG, make_alert
from tests.notify_servers import (
    SMTP_PASSWORD,
    SMTP_USER,
    WEBHOOK_SECRET,
    PrivateCA,
    Redirector,
    SmtpInbox,
    WebhookReceiver,
    ZaloReceiver,
    smtp_server,
)

ALERT = make_alert(AlertKind.OVERDUE, "HS-2026-000123", "X-01")
MID = "4f2a0c1e-0000-5000-8000-000000000002"


def outgoing(person: Person) -> Outgoing:
    rendered = render("alert", (ALERT,), person_name=person.name, lang=person.language,
                      message_id=MID, catalog=CATALOG)
    return Outgoing(MID, "alert", person, rendered, (ALERT,))


def hook_person(url: str, allow_http: bool = False) -> Person:
    return Person(id="ops", name="Ops", channels=(),
                  webhook=WebhookTarget(url, WEBHOOK_SECRET, allow_http=allow_http))


# --- SMTP -----------------------------------------------------------------------------


def test_a_login_without_starttls_is_refused_at_start_naming_the_settings() -> None:
    env = {"DOSSIERFLOW_SMTP_USER": SMTP_USER, "DOSSIERFLOW_SMTP_PASSWORD": SMTP_PASSWORD,
           "DOSSIERFLOW_SMTP_STARTTLS": "false"}
    with pytest.raises(ConfigError, match=r"DOSSIERFLOW_SMTP_STARTTLS=false .* password in "
                       r"clear.* DOSSIERFLOW_SMTP_ALLOW_PLAINTEXT_AUTH=true"):
        smtp_settings(env)
    allowed = smtp_settings({**env, "DOSSIERFLOW_SMTP_ALLOW_PLAINTEXT_AUTH": "true"})
    assert (allowed.starttls, allowed.allow_plaintext_auth) == (False, True)
    # Without a login there is no password to leak: STARTTLS off alone stays allowed.
    assert smtp_settings({"DOSSIERFLOW_SMTP_STARTTLS": "false"}).user is None


@pytest.fixture
def plaintext_relay(tmp_path: Path) -> Iterator[SmtpInbox]:
    with smtp_server(tmp_path, tls=False) as relay:
        yield relay


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_the_explicit_setting_lets_a_local_relay_take_a_clear_login(
    plaintext_relay: SmtpInbox,
) -> None:
    settings = SmtpSettings(host=plaintext_relay.host, port=plaintext_relay.port,
                            user=SMTP_USER, password=SMTP_PASSWORD, starttls=False,
                            allow_plaintext_auth=True)
    person = Person(id="h", name="H", email="h@x01.example.gov.vn")
    await SmtpSender(settings).send(outgoing(person))
    assert plaintext_relay.logins == [("LOGIN", SMTP_USER)]
    assert plaintext_relay.tls_sessions == [False]


def test_an_unreadable_ca_file_is_a_start_up_error_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(ConfigError, match=r"DOSSIERFLOW_SMTP_CA_FILE=.*nope\.pem"):
        SmtpSender(SmtpSettings(ca_file=missing))
    with pytest.raises(ConfigError, match=r"DOSSIERFLOW_NOTIFY_WEBHOOK_CA_FILE=.*nope\.pem"):
        WebhookSender(ca_file=missing)


# --- webhooks -------------------------------------------------------------------------


@pytest.fixture
async def bouncer(receiver: WebhookReceiver, webhook_ca: PrivateCA) -> AsyncIterator[Redirector]:
    """An https endpoint that answers 307 towards another host (the plain receiver)."""
    server = Redirector(f"{receiver.url}/stolen")
    await server.start(webhook_ca.server)
    yield server
    await server.stop()


async def test_a_redirect_is_never_followed_and_fails_the_attempt(
    bouncer: Redirector, receiver: WebhookReceiver, webhook_ca: PrivateCA,
) -> None:
    sender = WebhookSender(ca_file=str(webhook_ca.ca_file))
    try:
        with pytest.raises(DeliveryError, match=r"HTTP 307 redirecting to .*/stolen.* never "
                           r"followed") as failure:
            await sender.send(outgoing(hook_person(f"{bouncer.url}/hook")))
    finally:
        await sender.close()
    assert not failure.value.permanent  # retried: the receiver may be fixed
    assert bouncer.calls == ["/hook"]
    assert receiver.calls == []  # the signed body never reached the other host


async def test_a_private_ca_is_trusted_only_when_configured(
    https_receiver: WebhookReceiver, webhook_ca: PrivateCA,
) -> None:
    person = hook_person(f"{https_receiver.url}/hook")
    system_trust = WebhookSender()
    try:
        with pytest.raises(DeliveryError, match="certificate"):
            await system_trust.send(outgoing(person))
    finally:
        await system_trust.close()
    private = WebhookSender(ca_file=str(webhook_ca.ca_file))
    try:
        await private.send(outgoing(person))
    finally:
        await private.close()
    [call] = https_receiver.calls
    assert call.payload is not None and call.headers["webhook-id"] == MID


def test_an_http_webhook_needs_allow_http_in_the_recipients_file() -> None:
    text = ("province_operations:\n  - id: ops\n    name: Ops\n    channels: [webhook]\n"
            f"    webhook: {{url: 'http://10.0.0.5/hook', secret: {WEBHOOK_SECRET}}}\n")
    with pytest.raises(RecipientsError, match=r"^book:5: province_operations\[0\]\.webhook\.url:"
                       r" an http:// webhook .* `allow_http: true`"):
        parse_recipients(text, "book", CATALOG.units)
    allowed = parse_recipients(text.replace("}\n", ", allow_http: true}\n"), "book",
                               CATALOG.units)
    target = allowed.people["ops"].webhook
    assert target is not None and target.allow_http


async def test_the_sender_refuses_an_http_webhook_not_allowed(receiver: WebhookReceiver) -> None:
    sender = WebhookSender()
    try:
        with pytest.raises(DeliveryError, match="allow_http") as failure:
            await sender.send(outgoing(hook_person(f"{receiver.url}/hook")))
        await sender.send(outgoing(hook_person(f"{receiver.url}/hook", allow_http=True)))
    finally:
        await sender.close()
    assert failure.value.permanent
    assert len(receiver.verified()) == 1


# --- Zalo -----------------------------------------------------------------------------


async def test_zalo_does_not_follow_a_redirect(zalo: ZaloReceiver) -> None:
    bouncer = Redirector(zalo.url)
    await bouncer.start()
    sender = ZaloSender(ZaloSettings(endpoint=f"{bouncer.url}/message/template",
                                     access_token="zalo-test-token", template_alert="301001"))
    try:
        with pytest.raises(DeliveryError, match=r"Zalo answered HTTP 307 .* never followed"):
            await sender.send(outgoing(Person(id="h", name="H", phone="84912345678",
                                              channels=())))
    finally:
        await sender.close()
        await bouncer.stop()
    assert bouncer.calls == ["/message/template"]
    assert zalo.accepted == [] and zalo.refused == []
