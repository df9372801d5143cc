"""`dossierflow notify --test UNIT`: one test message to each of a unit's recipients."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from dossierflow.notify.channels.base import DeliveryError, Outgoing, Sender
from dossierflow.notify.privacy import describe
from dossierflow.notify.recipients import Channel, Person, RecipientsBook
from dossierflow.notify.render import render
from dossierflow.notify.routing import heads_of
from dossierflow.rules.catalog import Catalog


@dataclass(frozen=True)
class ChannelCheck:
    person: str
    channel: str
    ok: bool
    detail: str


def unit_people(unit_code: str, book: RecipientsBook, catalog: Catalog) -> tuple[Person, ...]:
    """The unit's heads (or the nearest ancestor's) and its deputies."""
    _, heads = heads_of(unit_code, book, catalog.units)
    contacts = book.units.get(unit_code)
    deputies = contacts.deputies if contacts else ()
    return tuple({p.id: p for p in (*heads, *deputies)}.values())


async def send_test(
    unit_code: str, book: RecipientsBook, catalog: Catalog, senders: Mapping[Channel, Sender]
) -> list[ChannelCheck]:
    results = []
    for person in unit_people(unit_code, book, catalog):
        for channel in person.channels:
            mid = str(uuid.uuid4())  # a fresh id: every test is a new message
            rendered = render("test", (), person_name=person.name, lang=person.language,
                              message_id=mid, catalog=catalog, unit_code=unit_code)
            message = Outgoing(mid, "test", person, rendered, (), unit_code)
            try:
                await senders[channel].send(message)
            except DeliveryError as exc:
                results.append(ChannelCheck(describe(message, channel), channel, False, exc.reason))
            else:
                results.append(ChannelCheck(describe(message, channel), channel, True, mid))
    return results
