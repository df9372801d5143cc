"""Evaluate a dossier's history against a clock: its state, its facts and its alerts.

The whole of a dossier's behaviour is a function of (history, clock): the worker, its
timers and `dossierflow replay` all call `evaluate`, so they cannot disagree. Between two
events the state is constant, so a planned alert fires at its instant if that instant comes
before the next event; one whose instant had passed while it could not fire (paused, or the
deadline was only just set) fires at the event that made it possible. The clock only
decides which of these alerts have fired yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
    overdue_at: datetime | None
    """When the dossier is overdue (`rules.alerts.overdue_at` of its `due_at`)."""


TimelineKey = tuple[AlertKind, datetime, str | None]
"""What an alert_id is made of: (kind, deadline, step)."""
Timeline = dict[TimelineKey, tuple[datetime, DossierState]]
"""When each alert fires and the state it reports; ids are built only for fired alerts."""


class Folded(msgspec.Struct, frozen=True, gc=False):
    """An ordered history folded: the state and the alerts planned after each event.

    The fold is a left fold of pure functions of (state, event, catalogue), so the folded
    prefix a history shares with a longer one is exact for it: `fold_on` goes on from there
    (the worker keeps a dossier's last one, streams/processor.py)."""

    steps: tuple[Step, ...]
    plans: tuple[tuple[PlannedAlert, ...], ...]
    """`planned_alerts` of each step's state (recomputed only where the plan changed)."""
    settled: dict[TimelineKey, Alert] = {}
    """The alerts of every step but the last, raised, in timeline order: a step's alerts
    are settled once the next event is known (only the last step's depend on what comes
    next), so an evaluation raises only the last step's. Never changed once built."""
    overdue_at: datetime | None = None
    """`rules.alerts.overdue_at` of the last state's `due_at` (None without one)."""
    upcoming: tuple[tuple[TimelineKey, datetime, DossierState], ...] = ()
    """What the last step raises and `settled` does not hold, in timeline order: each
    alert's key, instant and state, whatever the clock. An evaluation raises those the
    clock has reached; the next event settles those it does not come before."""


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
    settled = folded.settled
    fired = [alert for alert in settled.values() if alert.at <= clock]
    pending = [alert.at for alert in settled.values() if alert.at > clock]
    for (kind, deadline, step_id), at, fired_state in folded.upcoming:
        if at <= clock:
            fired.append(raise_alert(fired_state, kind, deadline, at, catalog, step_id))
        else:
            pending.append(at)
    fired.sort(key=_fired_at)  # stable: ties stay in timeline order
    overdue_instant = folded.overdue_at
    return Evaluation(
        state=state,
        steps=steps,
        alerts=tuple(fired),
        next_alert_at=min(pending, default=None),
        overdue=state.is_open and overdue_instant is not None and clock >= overdue_instant,
        overdue_at=overdue_instant,
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
        if step.event is not event and step.event != event:
            break
        kept += 1
    known = len(prior.steps)
    if kept == known == len(ordered):
        return prior
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
    # Every step but the last settled: `prior`'s still hold when its steps are all kept.
    extends = kept == known > 0
    settled = dict(prior.settled) if extends else {}
    timeline: Timeline = {}
    if extends:
        # `prior`'s last step is this one's step `known - 1`: what it raises before the
        # event after it (its instant no earlier than the step's own) is in `upcoming`.
        until = steps[known].event.occurred_at
        for key, at, fired_state in prior.upcoming:
            if at <= until:
                timeline.setdefault(key, (at, fired_state))
    for index in range(known if extends else 0, len(steps) - 1):
        _add_step(timeline, steps, plans, index, steps[index + 1].event.occurred_at)
    for key, (at, fired_state) in timeline.items():
        if key not in settled:
            kind, deadline, step_id = key
            settled[key] = raise_alert(fired_state, kind, deadline, at, catalog, step_id)
    last: Timeline = {}
    if steps:
        _add_step(last, steps, plans, len(steps) - 1, None)
    upcoming = tuple((key, at, fired_state) for key, (at, fired_state) in last.items()
                     if key not in settled)
    due_at = state.due_at
    if prior.steps and due_at is prior.steps[-1].state.due_at:
        overdue_instant = prior.overdue_at  # the same deadline (states share unchanged fields)
    else:
        overdue_instant = overdue_at(catalog.calendar, due_at) if due_at is not None else None
    return Folded(steps=tuple(steps), plans=tuple(plans), settled=settled,
                  overdue_at=overdue_instant, upcoming=upcoming)


def _add_step(
    timeline: Timeline, steps: Sequence[Step], plans: Sequence[tuple[PlannedAlert, ...]],
    index: int, until: datetime | None,
) -> None:
    """Add what step `index` raises, the next event occurring at `until` (None: none yet),
    to `timeline` (an alert already in it keeps its instant)."""
    event, state = steps[index].event, steps[index].state
    previous = steps[index - 1].state if index else None
    as_of = state.as_of
    assert as_of is not None
    if (event.type is EventType.APOLOGY_ISSUED and previous is not None
            and state.apologies > previous.apologies > 0):
        assert state.rescheduled_due_at is not None
        key = (AlertKind.RESCHEDULE_LIMIT_EXCEEDED, state.rescheduled_due_at, None)
        timeline.setdefault(key, (as_of, state))
    for alert in plans[index]:
        if until is None or alert.instant <= until:
            at = max(alert.instant, as_of)
            if alert.expires is None or at < alert.expires:
                timeline.setdefault((alert.kind, alert.deadline, alert.step_id), (at, state))


def _fired_at(alert: Alert) -> datetime:
    return alert.at
