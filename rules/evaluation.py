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
from datetime import datetime

import msgspec

from dossierflow.rules.alerts import (
    Alert,
    AlertKind,
    PlannedAlert,
    overdue_at,
    planned_alerts,
    raise_alert,
    same_plan,
)
from dossierflow.rules.catalog import Catalog
from dossierflow.rules.lifecycle import DossierState, apply_event, order_history
from dossierflow.schemas.event import DossierEvent, EventType


# gc=False: an immutable value built from scalars and other immutable values cannot be part
# of a reference cycle, so the cyclic GC need not track it (replay keeps every evaluation).
class Step(msgspec.Struct, frozen=True, gc=False):
    """One event of the ordered history and the state right after it."""

    event: DossierEvent
    state: DossierState


class Evaluation(msgspec.Struct, frozen=True, gc=False):
    state: DossierState
    steps: tuple[Step, ...]
    alerts: tuple[Alert, ...]
    """Every alert fired up to the clock, in firing order."""
    next_alert_at: datetime | None
    """The earliest instant after the clock at which another alert will fire."""
    overdue: bool
    """Open or paused and past `overdue_at` at the clock."""


Timeline = dict[tuple[AlertKind, datetime, str | None], tuple[datetime, DossierState]]
"""When each alert fires and the state it reports, by (kind, deadline, step): what an
alert_id is made of; ids are built only for fired alerts."""


class Folded(msgspec.Struct, frozen=True, gc=False):
    """An ordered history folded: the state and the alerts planned after each event.

    The fold is a left fold of pure functions of (state, event, catalogue), so the folded
    prefix a history shares with a longer one is exact for it: `fold_on` goes on from there
    (the worker keeps a dossier's last one, streams/processor.py)."""

    steps: tuple[Step, ...]
    plans: tuple[tuple[PlannedAlert, ...], ...]
    """`planned_alerts` of each step's state (recomputed only where the plan changed)."""


NOTHING_FOLDED = Folded(steps=(), plans=())


def evaluate(
    dossier_id: str, history: Iterable[DossierEvent], catalog: Catalog, clock: datetime
) -> Evaluation:
    return evaluate_folded(dossier_id, fold(dossier_id, order_history(history), catalog),
                           catalog, clock)


def evaluate_folded(
    dossier_id: str, folded: Folded, catalog: Catalog, clock: datetime
) -> Evaluation:
    """`evaluate` of the history `folded` is the fold of."""
    steps = folded.steps
    state = steps[-1].state if steps else DossierState(dossier_id)
    timeline = alert_timeline(folded)
    fired = sorted(
        (
            raise_alert(fired_state, kind, deadline, at, catalog, step_id)
            for (kind, deadline, step_id), (at, fired_state) in timeline.items()
            if at <= clock
        ),
        key=_fired_at,
    )
    overdue = (
        state.is_open
        and state.due_at is not None
        and clock >= overdue_at(catalog.calendar, state.due_at)
    )
    return Evaluation(
        state=state,
        steps=steps,
        alerts=tuple(fired),
        next_alert_at=min((at for at, _ in timeline.values() if at > clock), default=None),
        overdue=overdue,
    )


def fold(
    dossier_id: str, ordered: list[DossierEvent], catalog: Catalog,
    prior: Folded = NOTHING_FOLDED,
) -> Folded:
    """The state after each event of an ordered history, and the alerts it plans; the
    steps of `prior` (a fold with the same catalogue) are kept as far as its events are
    the first of `ordered`."""
    kept = 0
    for step, event in zip(prior.steps, ordered, strict=False):
        if step.event != event:
            break
        kept += 1
    steps = list(prior.steps[:kept])
    plans = list(prior.plans[:kept])
    state = steps[-1].state if steps else DossierState(dossier_id)
    previous = state if steps else DossierState("")  # before the first: nothing planned
    planned = plans[-1] if plans else ()
    for event in ordered[kept:]:
        state = apply_event(state, event, catalog)
        if not same_plan(previous, state):
            planned = planned_alerts(state, catalog)
        previous = state
        steps.append(Step(event, state))
        plans.append(planned)
    return Folded(steps=tuple(steps), plans=tuple(plans))


def alert_timeline(folded: Folded) -> Timeline:
    """Every alert the history raises, whatever the clock: a planned alert fires if its
    instant comes before the next event, at the latest when its step happens."""
    timeline: Timeline = {}
    previous = DossierState("")  # before the first event: nothing planned
    steps = folded.steps
    for index, (step, planned) in enumerate(zip(steps, folded.plans, strict=True)):
        event, state = step.event, step.state
        as_of = state.as_of
        assert as_of is not None
        if event.type is EventType.APOLOGY_ISSUED and state.apologies > previous.apologies > 0:
            assert state.rescheduled_due_at is not None
            key = (AlertKind.RESCHEDULE_LIMIT_EXCEEDED, state.rescheduled_due_at, None)
            timeline.setdefault(key, (as_of, state))
        previous = state
        if not planned:
            continue
        until = steps[index + 1].event.occurred_at if index + 1 < len(steps) else None
        for alert in planned:
            if until is None or alert.instant <= until:
                at = max(alert.instant, as_of)
                if alert.expires is None or at < alert.expires:
                    timeline.setdefault((alert.kind, alert.deadline, alert.step_id), (at, state))
    return timeline


def _fired_at(alert: Alert) -> datetime:
    return alert.at
