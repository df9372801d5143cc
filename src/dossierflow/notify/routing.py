"""Who gets an alert, on which channels: the alert's roles resolved against the unit tree.

The alert's kind names the roles (`rules.alerts.ROLES_BY_KIND`: handling unit head, receiving
unit head, province operations) and its unit codes where they are resolved (`Alert.audience`);
the record's own `recipients` field is never read (notify.intake). A unit head role goes to the
unit's heads, or, when the file lists none for that unit, to the nearest ancestor unit that has
some (a commune without a listed chairman reaches the district or the province). The file's
per-kind rules add the unit's deputies and the parent unit's heads (escalation). A person
reached by two roles gets the alert once per channel.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from dossierflow.notify.recipients import Channel, Person, RecipientsBook
from dossierflow.rules.alerts import Alert, Role
from dossierflow.rules.catalog import Unit


class Target(msgspec.Struct, frozen=True):
    """One delivery to plan: a person on a channel, and why they get it."""

    person: Person
    channel: Channel
    reason: str
    """`handling_unit_head@X-01`, `escalation@P`, ... for logs and the message."""


def ancestors(unit_code: str, units: Mapping[str, Unit]) -> list[str]:
    """`unit_code`, its parent, its parent's parent, ... (a cycle stops the walk)."""
    chain: list[str] = []
    code: str | None = unit_code
    while code is not None and code not in chain:
        chain.append(code)
        unit = units.get(code)
        code = unit.parent if unit else None
    return chain


def heads_of(
    unit_code: str, book: RecipientsBook, units: Mapping[str, Unit]
) -> tuple[str, tuple[Person, ...]]:
    """The heads of the unit, or of its nearest ancestor that lists any: (that unit, heads)."""
    for code in ancestors(unit_code, units):
        contacts = book.units.get(code)
        if contacts is not None and contacts.heads:
            return code, contacts.heads
    return unit_code, ()


def route(
    alert: Alert, book: RecipientsBook, units: Mapping[str, Unit]
) -> tuple[Target, ...]:
    """Every (person, channel) the alert goes to, without repeats, in a stable order."""
    rule = book.rule(alert.kind)
    reached: list[tuple[Person, str]] = []
    for role, unit_code in alert.audience():
        if role is Role.PROVINCE_OPERATIONS:
            reached += [(p, "province_operations") for p in book.province_operations]
            continue
        if unit_code is None:
            continue
        found_at, heads = heads_of(unit_code, book, units)
        reached += [(p, f"{role}@{found_at}") for p in heads]
        if rule.deputies:
            contacts = book.units.get(unit_code)
            deputies = contacts.deputies if contacts else ()
            reached += [(p, f"deputy@{unit_code}") for p in deputies]
        if rule.escalate_to_parent:
            chain = ancestors(found_at, units)
            if len(chain) > 1:
                parent_at, parent_heads = heads_of(chain[1], book, units)
                reached += [(p, f"escalation@{parent_at}") for p in parent_heads]
    targets: dict[tuple[str, Channel], Target] = {}
    for person, reason in reached:
        for channel in person.channels:
            targets.setdefault((person.id, channel), Target(person, channel, reason))
    return tuple(targets.values())
