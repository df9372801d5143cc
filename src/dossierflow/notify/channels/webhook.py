"""Webhooks signed as the Standard Webhooks specification says, with its reference library
(`standardwebhooks`, no dependencies).

Headers `webhook-id` (the message id: the same on every retry, the receiver's idempotency
key), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, the secret being the base64 after
`whsec_`).

A redirect is never followed (an answer 3xx is a failed attempt, logged with where it
pointed): following it would re-send the signed body to a host the recipients file does not
name. `http://` URLs are refused unless the file allows them for that recipient
(`allow_http`), and a private CA can be trusted (`DOSSIERFLOW_NOTIFY_WEBHOOK_CA_FILE`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import msgspec
from standardwebhooks import Webhook

from dossierflow.notify.channels.base import (
    DeliveryError,
    Outgoing,
    not_followed,
    tls_context,
)

_encode = msgspec.json.Encoder().encode


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    return Webhook(secret).sign(webhook_id, datetime.fromtimestamp(timestamp, UTC), body.decode())


def payload(message: Outgoing, timestamp: int) -> dict[str, Any]:
    """The body: `type`, `timestamp`, `data` as the spec recommends. The alerts are the
    checked fields the notifier keeps (notify.intake): no applicant data, no record text."""
    return {
        "type": f"dossier.alerts.{message.rendered.kind}",
        "timestamp": timestamp,
        "data": {
            "message_id": message.message_id,
            "recipient": {"id": message.person.id, "name": message.person.name},
            "unit_code": message.unit_code,
            "subject": message.rendered.subject,
            "summary": list(message.rendered.lines),
            "alerts": [msgspec.to_builtins(alert) for alert in message.alerts],
        },
    }


class WebhookSender:
    def __init__(
        self,
        timeout: float = 10.0,
        ca_file: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._tls = tls_context(ca_file, "DOSSIERFLOW_NOTIFY_WEBHOOK_CA_FILE")
        self._session: aiohttp.ClientSession | None = None
        self._clock = clock

    async def send(self, message: Outgoing) -> None:
        target = message.person.webhook
        if target is None:
            raise DeliveryError("no webhook", permanent=True)
        if target.plain_http and not target.allow_http:
            raise DeliveryError("http:// webhook without `allow_http: true` in the recipients "
                                "file", permanent=True)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(ssl=self._tls)
            )
        try:
            secret = target.signing_secret()
        except ValueError as exc:
            raise DeliveryError(str(exc)) from None
        timestamp = int(self._clock())
        body = _encode(payload(message, timestamp))
        headers = {
            "content-type": "application/json",
            "webhook-id": message.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, message.message_id, timestamp, body),
        }
        try:
            async with self._session.post(
                target.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                if 300 <= response.status < 400:
                    raise DeliveryError(not_followed(response))
                if response.status >= 300:
                    # 4xx other than 408/429 will not heal by itself, but the receiver may be
                    # fixed (a secret rotated): keep retrying with backoff rather than drop.
                    raise DeliveryError(f"webhook answered HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"webhook: {type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
