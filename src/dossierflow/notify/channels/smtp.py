"""E-mail over SMTP: STARTTLS, login, a plain-text and an HTML part, a deterministic
Message-ID (`<message id@domain>`) so that a re-sent message is recognisably the same one.

smtplib runs in a worker thread: it is the standard library's, handles STARTTLS and AUTH
LOGIN/PLAIN itself, and one message per connection is plenty for alert volumes.
"""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import ClassVar

from dossierflow.config import setting
from dossierflow.notify.channels.base import DeliveryError, Outgoing, tls_context


@dataclass(frozen=True)
class SmtpSettings:
    """E-mail channel of `dossierflow notify`."""

    ENV_PREFIX: ClassVar[str] = "DOSSIERFLOW_SMTP_"

    host: str = setting("localhost", "SMTP server (relay)")
    port: int = setting(587, "its port (587: submission with STARTTLS)", minimum=1)
    user: str | None = setting(None, "login user name (none: no login)")
    password: str | None = setting(None, "login password", secret=True)
    sender: str = setting("dossierflow@localhost",
                          "From address; its domain ends every Message-ID")
    sender_name: str = setting("Hệ thống cảnh báo hồ sơ", "From display name")
    starttls: bool = setting(True, "upgrade the connection with STARTTLS before login")
    allow_plaintext_auth: bool = setting(
        False, "with STARTTLS off, log in anyway, the password crossing the network in clear: "
        "only for a relay on this host (localhost) or a closed segment",
    )
    ca_file: str | None = setting(
        None, "CA bundle (PEM) to trust for STARTTLS, a private relay's (default: the system's)"
    )
    timeout: float = setting(20.0, "seconds one SMTP conversation may take", minimum=0.1)

    def __post_init__(self) -> None:
        if self.user and not self.starttls and not self.allow_plaintext_auth:
            raise ValueError(
                f"{self.ENV_PREFIX}STARTTLS=false with {self.ENV_PREFIX}USER set would send "
                f"the SMTP password in clear: keep STARTTLS on, or set "
                f"{self.ENV_PREFIX}ALLOW_PLAINTEXT_AUTH=true for a relay on this host only"
            )

    @property
    def domain(self) -> str:
        return self.sender.rpartition("@")[2] or "dossierflow"


def build_email(message: Outgoing, settings: SmtpSettings) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = message.rendered.subject
    email["From"] = formataddr((settings.sender_name, settings.sender))
    email["To"] = formataddr((message.person.name, message.person.email or ""))
    email["Message-ID"] = f"<{message.message_id}@{settings.domain}>"
    email["Date"] = formatdate(localtime=False, usegmt=True)
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.rendered.text, charset="utf-8")
    email.add_alternative(message.rendered.html, subtype="html", charset="utf-8")
    return email


class SmtpSender:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._tls = tls_context(settings.ca_file, f"{settings.ENV_PREFIX}CA_FILE")

    def _send(self, email: EmailMessage) -> None:
        settings = self.settings
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as client:
            if settings.starttls:
                client.starttls(context=self._tls)
            if settings.user:
                client.login(settings.user, settings.password or "")
            client.send_message(email)

    async def send(self, message: Outgoing) -> None:
        if not message.person.email:
            raise DeliveryError("no e-mail address", permanent=True)
        email = build_email(message, self.settings)
        try:
            await asyncio.to_thread(self._send, email)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP login refused ({exc.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError("SMTP server refused the recipient") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP: {type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        return None
