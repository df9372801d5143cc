"""Zalo ZNS (Zalo Notification Service): template messages to a phone number.

`POST <endpoint>` with header `access_token` and a JSON body `{phone, template_id,
template_data, tracking_id}`; the answer is JSON whose `error` is 0 on success. Templates are
registered with Zalo beforehand, so only their parameters travel: one template for a single
alert and one for several (a batch or digest). `tracking_id` is the message id, so a re-send
is recognisable in Zalo's delivery reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
import msgspec

from dossierflow.config import setting
from dossierflow.notify.channels.base import DeliveryError, Outgoing, not_followed
from dossierflow.notify.render import KIND_LABELS

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class ZaloSettings:
    """Zalo ZNS channel of `dossierflow notify`."""

    ENV_PREFIX: ClassVar[str] = "DOSSIERFLOW_ZALO_"

    endpoint: str = setting("https://business.openapi.zalo.me/message/template",
                            "ZNS template-message endpoint")
    access_token: str | None = setting(None, "Zalo Official Account access token",
                                       secret=True)
    template_alert: str | None = setting(
        None, "ZNS template id for one alert (parameters dossier_id, alert, procedure, unit, "
        "deadline)",
    )
    template_digest: str | None = setting(
        None, "ZNS template id for several alerts (parameters count, first_dossier_id, "
        "summary)",
    )
    timeout: float = setting(10.0, "seconds one request may take", minimum=0.1)

    def missing(self) -> list[str]:
        """The variables a Zalo message cannot leave without, left unset."""
        needed = {"access_token": self.access_token, "template_alert": self.template_alert,
                  "template_digest": self.template_digest}
        return [f"{self.ENV_PREFIX}{name.upper()}" for name, value in needed.items() if not value]


def template_request(message: Outgoing, settings: ZaloSettings) -> dict[str, Any]:
    phone = message.person.phone
    if phone is None:
        raise DeliveryError("no phone number", permanent=True)
    alerts = message.alerts
    lang = message.person.language
    if len(alerts) == 1:
        alert = alerts[0]
        template_id = settings.template_alert
        data: dict[str, str] = {
            "dossier_id": alert.dossier_id,
            "alert": KIND_LABELS[lang].get(alert.kind, alert.kind),
            "procedure": alert.procedure_code or "",
            "unit": alert.handling_unit_code or alert.unit_code or "",
            "deadline": alert.deadline.strftime("%H:%M %d/%m/%Y"),
        }
    else:
        template_id = settings.template_digest
        data = {
            "count": str(len(alerts)),
            "first_dossier_id": alerts[0].dossier_id if alerts else "",
            # ZNS parameters are short strings; the full list is in the e-mail.
            "summary": "; ".join(message.rendered.lines)[:400],
        }
    if not template_id:
        raise DeliveryError("no ZNS template configured (DOSSIERFLOW_ZALO_TEMPLATE_...)",
                            permanent=True)
    return {
        "phone": phone,
        "template_id": template_id,
        "template_data": data,
        "tracking_id": message.message_id,
    }


class ZaloSender:
    def __init__(self, settings: ZaloSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def send(self, message: Outgoing) -> None:
        if not self.settings.access_token:
            raise DeliveryError("no Zalo access token (DOSSIERFLOW_ZALO_ACCESS_TOKEN)")
        body = _encode(template_request(message, self.settings))
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout)
            )
        headers = {"content-type": "application/json",
                   "access_token": self.settings.access_token}
        try:
            async with self._session.post(
                self.settings.endpoint, data=body, headers=headers, allow_redirects=False
            ) as response:
                if 300 <= response.status < 400:
                    raise DeliveryError(f"Zalo {not_followed(response)}")
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise DeliveryError(f"Zalo: {type(exc).__name__}: {exc}") from None
        if response.status >= 300 or not isinstance(answer, dict) or answer.get("error") != 0:
            error = answer.get("error") if isinstance(answer, dict) else None
            raise DeliveryError(f"Zalo answered HTTP {response.status}, error {error}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
