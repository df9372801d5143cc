"""Evaluate a dossier's history against a clock: its state, its facts and its alerts.

The whole of a dossier's behaviour is a function of (history, clock): the worker, its
timers and `dossierflow replay` all call `evaluate`, so they cannot disagree. Between two
events the state is constant, so a planned alert fires at its instant if that instant comes
before the next event; one whose instant had passed while it could not fire (paused, or the
deadline was only just set) fires at the event that made it possible. The clock only
decides which of these alerts have fired yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from dossierflow.rules.alerts import Alert, AlertKind, overdue_at, planned_alerts, raise_alert
from dossierflow.rules.catalog import Catalog
from dossierflow.rules.lifecycle import DossierState, apply_event, order_history
from dossierflow.schemas.event import DossierEvent, EventType


@dataclass(frozen=True, slots=True)
class Step:
    """One event of the ordered history and the state right after it."""

    event: DossierEvent
    state: DossierState


@dataclass(frozen=True, slots=True)
class Evaluation:
    state: DossierState
    steps: tuple[Step, ...]
    alerts: tuple[Alert, ...]
    """Every alert fired up to the clock, in firing order."""
    next_alert_at: datetime | None
    """The earliest instant after the clock at which another alert will fire."""
    overdue: bool
    """Open or paused and past `overdue_at` at the clock."""


def evaluate(
    dossier_id: str, history: Iterable[DossierEvent], catalog: Catalog, clock: datetime
) -> Evaluation:
    state = DossierState(dossier_id)
    steps: list[Step] = []
    # (kind, deadline) is what an alert_id is made of; ids are built only for fired alerts.
    timeline: dict[tuple[AlertKind, datetime], tuple[datetime, DossierState]] = {}
    ordered = order_history(history)
    for index, event in enumerate(ordered):
        previous = state
        state = apply_event(state, event, catalog)
        steps.append(Step(event, state))
        as_of = state.as_of
        assert as_of is not None
        if event.type is EventType.APOLOGY_ISSUED and state.apologies > previous.apologies > 0:
            assert state.rescheduled_due_at is not None
            key = (AlertKind.RESCHEDULE_LIMIT_EXCEEDED, state.rescheduled_due_at)
            timeline.setdefault(key, (as_of, state))
        until = ordered[index + 1].occurred_at if index + 1 < len(ordered) else None
        for planned in planned_alerts(state, catalog):
            if until is None or planned.instant <= until:
                at = max(planned.instant, as_of)
                timeline.setdefault((planned.kind, planned.deadline), (at, state))
    fired = sorted(
        (
            raise_alert(fired_state, kind, deadline, at)
            for (kind, deadline), (at, fired_state) in timeline.items()
            if at <= clock
        ),
        key=lambda alert: alert.at,
    )
    overdue = (
        state.is_open
        and state.due_at is not None
        and clock >= overdue_at(catalog.calendar, state.due_at)
    )
    return Evaluation(
        state=state,
        steps=tuple(steps),
        alerts=tuple(fired),
        next_alert_at=min((at for at, _ in timeline.values() if at > clock), default=None),
        overdue=overdue,
    )
