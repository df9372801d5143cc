"""What every channel gets and what it raises."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from dossierflow.config import ConfigError
from dossierflow.notify.recipients import Person
from dossierflow.notify.render import Rendered
from dossierflow.rules.alerts import Alert


class DeliveryError(Exception):
    """The channel did not accept the message; it is retried later. `permanent` marks a
    message no retry can deliver (e.g. the person has no address for the channel)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Outgoing:
    """One message to one person on one channel. `message_id` is the idempotency key: the
    same on every retry and after a restart."""

    message_id: str
    kind: str
    """alert, batch, digest, morning or test."""
    person: Person
    rendered: Rendered
    alerts: tuple[Alert, ...]
    unit_code: str | None = None


class Sender(Protocol):
    async def send(self, message: Outgoing) -> None:
        """Deliver, or raise DeliveryError."""

    async def close(self) -> None: ...


def not_followed(response: aiohttp.ClientResponse) -> str:
    """Why a redirect answer failed an attempt, and where it pointed. HTTP channels never
    follow one: it would re-send the (signed) body to a host nobody configured."""
    location = response.headers.get("Location", "")
    return (f"answered HTTP {response.status} redirecting to {location[:200]!r}; redirects "
            "are never followed: configure the final URL")


def tls_context(ca_file: str | None, variable: str) -> ssl.SSLContext:
    """Certificates and host names verified, against `ca_file` (a private CA) or the
    system's; a file that cannot be read is a start-up error naming its variable."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{variable}={ca_file!r}: not a readable CA bundle (PEM): "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
