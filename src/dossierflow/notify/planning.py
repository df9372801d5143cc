"""When a delivery goes out, which waiting deliveries a new alert silences, and message ids.

Pure functions on the project's working calendar (`dossierflow.rules.calendar`):

- In office hours a delivery waits a short window (default 30 s) so that the alerts one
  person gets in a burst leave as one message; a delivery joining a person's waiting ones
  takes their instant, so the first one's window closes the batch.
- Outside office hours, on public holidays and days off (make-up Saturdays are working days)
  a delivery to an `office` person waits for the next opening, where everything waiting for
  that person leaves as one digest.
- Inhibition, as Alertmanager's: an alert that makes another one moot silences it while that
  one still waits (an OVERDUE makes the same dossier's AT_RISK moot).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from dossierflow.notify.recipients import Hours
from dossierflow.rules.alerts import AlertKind, uuid5_text
from dossierflow.rules.calendar import WorkingCalendar

_MESSAGE_NAMESPACE = uuid.UUID("a3c7f0e2-5b1d-4c8e-9f2a-1d6e4b7c9a05")

INHIBITS: dict[str, frozenset[str]] = {
    AlertKind.OVERDUE: frozenset({AlertKind.AT_RISK, AlertKind.APOLOGY_DUE}),
    AlertKind.RESCHEDULED_OVERDUE: frozenset(
        {AlertKind.AT_RISK, AlertKind.APOLOGY_DUE, AlertKind.OVERDUE}
    ),
}
"""kind -> the kinds it silences for the same dossier while they still wait."""


def inhibited_kinds(kind: str) -> frozenset[str]:
    return INHIBITS.get(kind, frozenset())


def send_at(
    now: datetime,
    calendar: WorkingCalendar,
    hours: Hours,
    window: timedelta,
    waiting_since: datetime | None = None,
) -> datetime:
    """When a delivery planned at `now` leaves. `waiting_since` is the instant of the
    person's deliveries already waiting on the same channel, if any: joining them keeps
    one message per burst."""
    if waiting_since is not None:
        return waiting_since
    if hours is Hours.ALWAYS:
        return now + window
    opening = calendar.next_opening(now)
    if opening == now:
        return now + window
    return opening


def is_digest(first_planned: datetime, send_instant: datetime, window: timedelta) -> bool:
    """Whether a message held deliveries over a closed period (more than the batch window)."""
    return send_instant - first_planned > window


def morning_digest_due(now: datetime, calendar: WorkingCalendar, last_sent: date | None) -> bool:
    """Whether today's opening digest of open at-risk and overdue dossiers is due: today is a
    working day, the office has opened, and today's has not been sent."""
    local = calendar.local(now)
    today = local.date()
    windows = calendar.windows(today)
    return bool(windows) and local >= windows[0][0] and last_sent != today


def message_id(person_id: str, channel: str, keys: Iterable[str]) -> str:
    """Deterministic id of the message carrying `keys` (alert ids, or a digest's name) to one
    person on one channel: a re-send after a crash carries the same id (Message-ID, webhook-id,
    Zalo tracking_id), so the receiver can discard the repeat."""
    joined = "|".join(sorted(keys))
    digest = hashlib.sha256(joined.encode()).hexdigest()
    return uuid5_text(_MESSAGE_NAMESPACE, f"{person_id}|{channel}|{digest}")


def retry_delay(
    failures: int, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Exponential backoff with "equal jitter": a uniform draw in [c/2, c] for
    c = min(cap, base * 2^(failures-1)), so failing senders do not retry in lockstep and
    never retry at once."""
    ceiling = min(cap, base * 2 ** max(0, failures - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)
