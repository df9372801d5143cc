"""Masks for logs: an operator sees whom a failure concerns without the full address."""

from __future__ import annotations

from dossierflow.notify.channels.base import Outgoing


def mask_email(address: str) -> str:
    """`nguyen.van.a@sotp.gov.vn` -> `n***@sotp.gov.vn`."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(phone: str) -> str:
    """`84912345678` -> `84*****678`."""
    return phone[:2] + "*" * max(0, len(phone) - 5) + phone[-3:] if len(phone) > 5 else "***"


def describe(message: Outgoing, channel: str) -> str:
    """`person-id via channel (masked address)` for log lines."""
    person = message.person
    if channel == "email" and person.email:
        where = mask_email(person.email)
    elif channel == "zalo" and person.phone:
        where = mask_phone(person.phone)
    elif channel == "webhook" and person.webhook:
        where = person.webhook.url.split("?")[0]
    else:
        where = "-"
    return f"{person.id} via {channel} ({where})"
