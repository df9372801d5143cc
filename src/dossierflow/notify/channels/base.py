"""What every channel gets and what it raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from dossierflow.schemas.facts import DossierAlert

from dossierflow.notify.recipients import Person
from dossierflow.notify.render import Rendered


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
    alerts: tuple[DossierAlert, ...]
    unit_code: str | None = None


class Sender(Protocol):
    async def send(self, message: Outgoing) -> None:
        """Deliver, or raise DeliveryError."""

    async def close(self) -> None: ...
