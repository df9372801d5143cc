"""Real receivers for the notifier's tests: an SMTP server (aiosmtpd) that requires STARTTLS
and AUTH LOGIN with a certificate made by trustme, and aiohttp servers for webhooks (verified
with the Standard Webhooks reference library) and for the Zalo ZNS API (checks the request
shape and the access_token header as Zalo's API does), and their fixtures (`inbox`,
`receiver`, `zalo`; registered for every test by tests/conftest.py)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from standardwebhooks import Webhook

from dossierflow.kafka.local_broker import free_port
from dossierflow.notify.channels.smtp import SmtpSender, SmtpSettings
from dossierflow.notify.channels.zalo import ZaloSender, ZaloSettings

SMTP_USER, SMTP_PASSWORD = "notifier", "s3cret-for-tests"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ZALO_TOKEN = "zalo-test-token"


@dataclass
class SmtpInbox:
    host: str
    port: int
    ca_file: Path
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    tls_sessions: list[bool] = field(default_factory=list)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]

    def sender(self, password: str = SMTP_PASSWORD) -> SmtpSender:
        """The notifier's SMTP channel logged in as the test user, trusting this server's CA."""
        return SmtpSender(SmtpSettings(
            host=self.host, port=self.port, user=SMTP_USER, password=password,
            sender="canhbao@example.gov.vn", ca_file=str(self.ca_file),
        ))


def body_text(message: Any, kind: str) -> str:
    """The text of the message's `kind` ("plain", "html") part, which must exist."""
    part = message.get_body((kind,))
    assert part is not None, f"the message has no {kind} part"
    return str(part.get_content())


class _Handler:
    def __init__(self, inbox: SmtpInbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.inbox.tls_sessions.append(session.ssl is not None)
        self.inbox.messages.append(message)
        return "250 OK"


@contextmanager
def smtp_server(tmp: Path, tls: bool = True) -> Iterator[SmtpInbox]:
    """SMTP on 127.0.0.1 that refuses mail before STARTTLS and without AUTH LOGIN; with
    `tls=False`, a relay without TLS that takes AUTH LOGIN in clear (as one on localhost)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_tls)
    ca_file = tmp / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    inbox = SmtpInbox("127.0.0.1", free_port(), ca_file)

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                     data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = (data.login.decode(), data.password.decode())
        inbox.logins.append((mechanism, login[0]))
        return AuthResult(success=login == (SMTP_USER, SMTP_PASSWORD), handled=False)

    controller = Controller(
        _Handler(inbox), hostname=inbox.host, port=inbox.port,
        tls_context=server_tls if tls else None, require_starttls=tls, auth_required=True,
        auth_require_tls=tls, auth_exclude_mechanism=["PLAIN"], authenticator=authenticate,
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@dataclass
class WebhookCall:
    path: str
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any] | None
    """The verified payload, or None when the signature did not verify."""


class _PostServer:
    """An aiohttp server on 127.0.0.1 (over TLS when started with a context) that hands
    every POST to `_handle`."""

    def __init__(self) -> None:
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        raise NotImplementedError

    async def start(self, tls: ssl.SSLContext | None = None) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner, self.url = await _serve(app, tls)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class WebhookReceiver(_PostServer):
    """POST /<anything>: records every call, verifies its signature; answers 503 while
    `fail_next` > 0, 422 to every message carrying a dossier of `refuse_dossiers` (a
    receiver that refuses one message for ever), and holds its answer while `hold` is set
    (a slow receiver)."""

    def __init__(self, secret: str = WEBHOOK_SECRET) -> None:
        super().__init__()
        self.webhook = Webhook(secret)
        self.calls: list[WebhookCall] = []
        self.fail_next = 0
        self.refuse_dossiers: set[str] = set()
        self.hold: asyncio.Event | None = None
        self.arrived = asyncio.Condition()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            payload = self.webhook.verify(body, headers)
        except Exception:
            payload = None
        self.calls.append(WebhookCall(request.path, headers, body, payload))
        async with self.arrived:
            self.arrived.notify_all()
        if self.hold is not None:
            await self.hold.wait()
        if payload is None:
            return web.Response(status=401, text="bad signature")
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503, text="try later")
        if self.refuse_dossiers & set(dossiers_of(payload)):
            return web.Response(status=422, text="unprocessable")
        return web.Response(status=204)

    async def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        await super().stop()

    async def wait_for(self, predicate: Any, timeout: float = 60.0) -> None:
        async def check() -> None:
            async with self.arrived:
                await self.arrived.wait_for(lambda: predicate(self.calls))

        await asyncio.wait_for(check(), timeout)

    def verified(self) -> list[WebhookCall]:
        return [c for c in self.calls if c.payload is not None]


def dossiers_of(payload: dict[str, Any]) -> list[str]:
    """The dossier codes of a webhook message's alerts, in its order."""
    return [alert["dossier_id"] for alert in payload["data"]["alerts"]]


class ZaloReceiver:
    """POST /message/template as Zalo's ZNS API: answers error -124 without the right
    access_token header, -100 for a body of another shape, 0 otherwise."""

    FIELDS = frozenset({"phone", "template_id", "template_data", "tracking_id"})

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        if request.headers.get("access_token") != ZALO_TOKEN:
            self.refused.append("access_token")
            return web.json_response({"error": -124, "message": "Access token is invalid"})
        body = json.loads(await request.read())
        if (
            set(body) != self.FIELDS
            or not isinstance(body["template_data"], dict)
            or not all(isinstance(v, str) for v in body["template_data"].values())
            or not str(body["phone"]).startswith("84")
        ):
            self.refused.append(f"shape {sorted(body)}")
            return web.json_response({"error": -100, "message": "Invalid parameter"})
        self.accepted.append(body)
        return web.json_response(
            {"error": 0, "message": "Success", "data": {"msg_id": f"z{len(self.accepted)}"}}
        )

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/message/template", self._handle)
        self._runner, base_url = await _serve(app)
        self.url = f"{base_url}/message/template"
        return self.url

    def sender(self, access_token: str = ZALO_TOKEN) -> ZaloSender:
        """The notifier's ZNS channel aimed at this receiver: template 301001 for one alert,
        301002 for several."""
        return ZaloSender(ZaloSettings(
            endpoint=self.url, access_token=access_token,
            template_alert="301001", template_digest="301002",
        ))

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class Redirector(_PostServer):
    """Answers every POST with `status` and `Location: <target>` (a receiver moved, or
    one that tries to bounce the signed body elsewhere), recording each call's path."""

    def __init__(self, target: str, status: int = 307) -> None:
        super().__init__()
        self.target, self.status = target, status
        self.calls: list[str] = []

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.calls.append(request.path)
        return web.Response(status=self.status, headers={"Location": self.target})


@dataclass(frozen=True)
class PrivateCA:
    """A private CA (trustme) with its PEM file, and a server context for 127.0.0.1."""

    ca_file: Path
    server: ssl.SSLContext


def private_ca(tmp: Path) -> PrivateCA:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    ca_file = tmp / "private-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return PrivateCA(ca_file, server)


async def _serve(
    app: web.Application, tls: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, str]:
    """`app` on 127.0.0.1 at a port the system picks (over TLS with `tls`): its runner and
    base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"{'https' if tls else 'http'}://127.0.0.1:{port}"


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[SmtpInbox]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    server = WebhookReceiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def webhook_ca(tmp_path: Path) -> PrivateCA:
    return private_ca(tmp_path)


@pytest.fixture
async def https_receiver(webhook_ca: PrivateCA) -> AsyncIterator[WebhookReceiver]:
    """A webhook receiver over https, its certificate from `webhook_ca` (a private CA)."""
    server = WebhookReceiver()
    await server.start(webhook_ca.server)
    yield server
    await server.stop()


@pytest.fixture
async def zalo() -> AsyncIterator[ZaloReceiver]:
    server = ZaloReceiver()
    await server.start()
    yield server
    await server.stop()
