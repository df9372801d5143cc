"""Dossier lifecycle: the state one event at a time (pure; no clock, no I/O).

`apply_event` is a total function: an event that does not fit the current state (a pause
of a dossier not yet received, a second RECEIVED, anything after a terminal state but
RETURNED after RESOLVED) changes nothing. Out-of-order arrival and duplicates are handled by
`order_history`, so the state is always the fold of the ordered, de-duplicated history.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, time, timedelta
from types import MappingProxyType
from typing import Final

import msgspec
from msgspec.structs import replace

from dossierflow.rules.calendar import WorkingCalendar
from dossierflow.rules.catalog import Catalog, PauseKind, PausePolicy, Procedure
from dossierflow.rules.compliance import (
    after_the_day_of,
    apology_late,
    supplement_request_limit,
)
from dossierflow.rules.readings import OutcomeReading
from dossierflow.rules.steps import ProcessingStep, ended, restated, started, with_pause
from dossierflow.schemas.event import DossierEvent, EventType, ProcessingTime, TimeUnit


class Status(enum.StrEnum):
    PENDING = "PENDING"
    """Events but no RECEIVED yet."""
    SUBMITTED = "SUBMITTED"
    OPEN = "OPEN"
    PAUSED = "PAUSED"
    RESOLVED = "RESOLVED"
    RETURNED = "RETURNED"
    WITHDRAWN = "WITHDRAWN"
    STOPPED = "STOPPED"
    NOT_ACCEPTED = "NOT_ACCEPTED"


class Outcome(enum.StrEnum):
    EARLY = "EARLY"
    ON_TIME = "ON_TIME"
    OVERDUE = "OVERDUE"


OPEN_STATUSES: Final = frozenset({Status.OPEN, Status.PAUSED})
NOT_RECEIVED: Final = frozenset({Status.PENDING, Status.SUBMITTED})
_PAUSE_KINDS: Final = {
    EventType.SUPPLEMENT_REQUESTED: PauseKind.SUPPLEMENT,
    EventType.FINANCIAL_OBLIGATION_REQUESTED: PauseKind.FINANCIAL,
}


# gc=False: an immutable value built from scalars and other immutable values cannot be part
# of a reference cycle, so the cyclic GC need not track it (replay keeps every evaluation).
class DossierState(msgspec.Struct, frozen=True, gc=False):
    """What the ordered history of one dossier says about it after its last event."""

    dossier_id: str
    status: Status = Status.PENDING
    as_of: datetime | None = None
    """`occurred_at` of the last event applied."""
    unit_code: str | None = None
    handling_unit_code: str | None = None
    procedure_code: str | None = None
    sector_code: str | None = None
    channel: str | None = None
    online_level: str | None = None
    processing_time: ProcessingTime | None = None
    received_at: datetime | None = None
    clock_start: datetime | None = None
    due_at: datetime | None = None
    rescheduled_due_at: datetime | None = None
    paused_since: datetime | None = None
    pause_kind: PauseKind | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: Outcome | None = None
    apologies: int = 0
    procedure_unknown: bool = False
    """Received for a procedure the catalogue does not know, with neither `due_at` nor
    `processing_time` on the event: no deadline, so no alert, until the catalogue knows it."""
    # --- compliance (rules/compliance.py) ---
    late_supplement_requests: int = 0
    """SUPPLEMENT_REQUESTED applied on a local date after the limit counted from reception
    (`_supplement_request_late`)."""
    apology_late: bool = False
    """The first apology came after the last day to apologise for the deadline in force."""
    # --- what the Decision 766 progress index needs (rules/progress_index.py) -------------
    appointment_at: datetime | None = None
    """The appointment of the receipt (ngày hẹn trả, `NgayHenTra`): the deadline set at
    RECEIVED, never moved by a pause (766 subtracts supplement waits from the end instead)."""
    supplement_requests: int = 0
    """SUPPLEMENT_REQUESTED events that paused the dossier."""
    supplement_wait: timedelta = timedelta(0)
    """Elapsed time of the finished supplement waits (a wait still under way is the time
    since `paused_since` while `pause_kind` is SUPPLEMENT)."""
    # --- processing steps (rules/steps.py) -------------------------------------------------
    open_step: ProcessingStep | None = None
    ended_steps: tuple[ProcessingStep, ...] = ()
    """The steps that ended, in the order they ended."""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


def order_history(events: Iterable[DossierEvent]) -> list[DossierEvent]:
    """De-duplicate by `event_id` (first arrival wins) and order by occurred_at, sequence,
    then arrival; an event without `sequence` sorts after those with one at the same instant.
    """
    seen: set[str] = set()
    unique: list[DossierEvent] = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            unique.append(event)
    unique.sort(key=_history_order)  # stable: ties stay in arrival order
    return unique


def _history_order(event: DossierEvent) -> tuple[datetime, bool, int]:
    return event.occurred_at, event.sequence is None, event.sequence or 0


def clock_start(calendar: WorkingCalendar, instant: datetime, cutoff: time | None) -> datetime:
    """Office hours start the clock; received after the cut-off, the next working day does."""
    local = calendar.local(instant)
    if cutoff is not None and calendar.is_working_day(local.date()) and local.time() > cutoff:
        return calendar.next_working_day_opening(local)
    return calendar.next_opening(local)


def deadline(calendar: WorkingCalendar, start: datetime, processing: ProcessingTime) -> datetime:
    """The deadline of a clock started at `start` (working time, as `clock_start` gives)."""
    if processing.unit is TimeUnit.SAME_DAY:
        # "Ngay trong ngày": the day the clock starts, to its close; the cut-off has moved a
        # late reception's start to the next working day already.
        return calendar.close_of_day(start)
    if processing.unit is TimeUnit.WORKING_DAYS:
        return calendar.add(start, calendar.office_hours.per_day * processing.value)
    if processing.unit is TimeUnit.WORKING_HOURS:
        return calendar.add(start, timedelta(hours=processing.value))
    return calendar.add_calendar_days(start, processing.value)


def outcome_of(calendar: WorkingCalendar, resolved_at: datetime, due_at: datetime) -> Outcome:
    """Compare local dates, as provincial report forms print the three classes (the
    Decision 766 index compares instants instead: docs/domain.md, "Two readings")."""
    resolved_day, due_day = calendar.local(resolved_at).date(), calendar.local(due_at).date()
    if resolved_day < due_day:
        return Outcome.EARLY
    return Outcome.ON_TIME if resolved_day == due_day else Outcome.OVERDUE


def outcome_under(
    calendar: WorkingCalendar, resolved_at: datetime, appointment: datetime,
    reading: OutcomeReading,
) -> Outcome:
    """The class under a report's reading (rules/readings.py): with `instant`, resolved after
    the appointment instant is overdue even on its date."""
    if reading is OutcomeReading.INSTANT and resolved_at > appointment:
        return Outcome.OVERDUE
    return outcome_of(calendar, resolved_at, appointment)


# --- transitions: the state after an event at local instant `at`, given the state before it
# with `as_of` already set to `at` ---------------------------------------------------------

_Transition = Callable[[DossierState, DossierEvent, datetime, Catalog], DossierState]


def _received(
    state: DossierState, event: DossierEvent, at: datetime, catalog: Catalog
) -> DossierState:
    if state.status not in NOT_RECEIVED:
        return state
    calendar = catalog.calendar
    procedure = catalog.procedure(event.procedure_code)
    processing = event.processing_time or procedure.processing_time
    start = clock_start(calendar, at, catalog.cutoff(procedure, processing))
    if event.due_at is not None:
        due: datetime | None = calendar.local(event.due_at)
        if processing is None:
            # The slip's appointment defines the allowance a restart re-applies.
            allowance = calendar.working_time_between(start, event.due_at)
            processing = ProcessingTime(allowance / timedelta(hours=1), TimeUnit.WORKING_HOURS)
    else:
        due = deadline(calendar, start, processing) if processing else None
    return replace(
        state,
        status=Status.OPEN,
        unit_code=event.unit_code,
        handling_unit_code=event.unit_code,
        procedure_code=event.procedure_code,
        sector_code=event.sector_code or procedure.sector,
        channel=event.channel,
        online_level=event.online_level,
        processing_time=processing,
        received_at=at,
        clock_start=start,
        due_at=due,
        appointment_at=due,
        procedure_unknown=due is None and event.procedure_code not in catalog.procedures,
    )


def _submitted(
    state: DossierState, event: DossierEvent, at: datetime, catalog: Catalog
) -> DossierState:
    return replace(state, status=Status.SUBMITTED) if state.status is Status.PENDING else state


def _not_accepted(
    state: DossierState, event: DossierEvent, at: datetime, catalog: Catalog
) -> DossierState:
    if state.status in NOT_RECEIVED:
        state = _end_step(state, at, catalog.calendar)
        return replace(state, status=Status.NOT_ACCEPTED, closed_at=at)
    return state


def _transferred(
    state: DossierState, event: DossierEvent, at: datetime, catalog: Catalog
) -> DossierState:
    if state.status in NOT_RECEIVED or state.is_open:
        return replace(state, handling_unit_code=event.unit_code)
    return state


def _ended(
    state: DossierState, event: DossierEvent, at: datetime, catalog: Catalog
) -> DossierState:
    """WITHDRAWN or STOPPED."""
    if state.status in NOT_RECEIVED or state.is_open:
        status = Status(event.type.value)
        state = _end_supplement_wait(_end_step(state, at, catalog.calendar), at)
        return replace(state, status=status, closed_at=at, paused_since=None, pause_kind=None)
    return state


def _end_supplement_wait(state: DossierState, at: datetime) -> DossierState:
    """Add a supplement wait that ends at `at` (resumed, resolved, withdrawn or stopped)."""
    if state.pause_kind is not PauseKind.SUPPLEMENT or state.paused_since is None:
        return state
    return replace(state, supplement_wait=state.supplement_wait + (at - state.paused_since))


def _resolve(state: DossierState, at: datetime, status: Status, catalog: Catalog) -> DossierState:
    outcome = outcome_of(catalog.calendar, at, state.due_at) if state.due_at else None
    state = _end_step(state, at, catalog.calendar)
    return replace(
        _end_supplement_wait(state, at), status=status, resolved_at=at, closed_at=at,
        outcome=outcome, paused_since=None, pause_kind=None,
    )


def _returned(
    state: DossierState, event: DossierEvent, at: datetime, catalog: Catalog
) -> DossierState:
    if state.status is Status.RESOLVED:
        return replace(state, status=Status.RETURNED)
    # Handing over a result nobody marked RESOLVED resolves it at hand-over.
    return _resolve(state, at, Status.RETURNED, catalog) if state.is_open else state


def _resolved(
    state: DossierState, event: DossierEvent, at: datetime, catalog: Catalog
) -> DossierState:
    return _resolve(state, at, Status.RESOLVED, catalog) if state.is_open else state


def _paused(
    state: DossierState, event: DossierEvent, at: datetime, catalog: Catalog
) -> DossierState:
    if state.status is not Status.OPEN:
        return state
    kind = _PAUSE_KINDS[event.type]
    late = kind is PauseKind.SUPPLEMENT and _supplement_request_late(state, at, catalog)
    return replace(
        state, status=Status.PAUSED, paused_since=at, pause_kind=kind,
        late_supplement_requests=state.late_supplement_requests + late,
        supplement_requests=state.supplement_requests + (kind is PauseKind.SUPPLEMENT),
    )


def _supplement_request_late(state: DossierState, at: datetime, catalog: Catalog) -> bool:
    """Whether a supplement request at `at` comes on a local date after the limit counted
    from the clock's start at reception (a restart does not move it). Computed at the
    request, not at reception: most dossiers have none."""
    assert state.received_at is not None  # open: received
    calendar = catalog.calendar
    procedure = catalog.procedure(state.procedure_code)
    start = clock_start(
        calendar, state.received_at, catalog.cutoff(procedure, state.processing_time)
    )
    limit = supplement_request_limit(calendar, start, catalog.compliance)
    return after_the_day_of(calendar, at, limit)


def _resumed(
    state: DossierState, event: DossierEvent, at: datetime, catalog: Catalog
) -> DossierState:
    if state.status is not Status.PAUSED:
        return state
    calendar = catalog.calendar
    procedure: Procedure = catalog.procedure(state.procedure_code)
    assert state.pause_kind is not None and state.paused_since is not None
    policy = procedure.pause_policy(state.pause_kind)
    resumed = replace(
        _end_supplement_wait(_step_waited(state, at, calendar), at), status=Status.OPEN,
        paused_since=None, pause_kind=None,
    )
    if state.due_at is None or policy is PausePolicy.IGNORE:
        return resumed
    if policy is PausePolicy.EXTEND:
        paused = calendar.working_time_between(state.paused_since, at)
        return replace(resumed, due_at=calendar.add(state.due_at, paused))
    assert state.processing_time is not None
    start = clock_start(calendar, at, catalog.cutoff(procedure, state.processing_time))
    due = deadline(calendar, start, state.processing_time)
    return replace(resumed, clock_start=start, due_at=due)


def _apology(
    state: DossierState, event: DossierEvent, at: datetime, catalog: Catalog
) -> DossierState:
    if not state.is_open:
        return state
    if state.apologies == 0:
        assert event.new_due_at is not None
        calendar = catalog.calendar
        late = state.due_at is not None and apology_late(
            calendar, at, state.due_at, catalog.compliance
        )
        return replace(
            state, apologies=1, rescheduled_due_at=calendar.local(event.new_due_at),
            apology_late=late,
        )
    return replace(state, apologies=state.apologies + 1)


def _step_waited(state: DossierState, at: datetime, calendar: WorkingCalendar) -> DossierState:
    """The open step with the wait for the applicant under way counted up to `at`."""
    step, since = state.open_step, state.paused_since
    if step is None or since is None:
        return state
    return replace(state, open_step=with_pause(step, calendar, since, at))


def _end_step(state: DossierState, at: datetime, calendar: WorkingCalendar) -> DossierState:
    """The open step, if any, ended at `at` (its wait for the applicant so far counted)."""
    state = _step_waited(state, at, calendar)
    if state.open_step is None:
        return state
    return replace(
        state, open_step=None, ended_steps=(*state.ended_steps, ended(state.open_step, at))
    )


def _takes_steps(state: DossierState) -> bool:
    """Steps are recorded until processing ends (before RECEIVED too: a dossier's first
    step may be sent at the instant of its reception, in either order)."""
    return state.status in NOT_RECEIVED or state.is_open


def _step_started(
    state: DossierState, event: DossierEvent, at: datetime, catalog: Catalog
) -> DossierState:
    assert event.step_id and event.step_unit_code and event.step_due_at
    step_id, calendar = event.step_id, catalog.calendar
    if not _takes_steps(state) or any(s.step_id == step_id for s in state.ended_steps):
        return state  # an ended step sent again changes nothing
    due = calendar.local(event.step_due_at)
    if state.open_step is not None and state.open_step.step_id == step_id:
        step = restated(state.open_step, event.step_unit_code, due, event.step_name)
        return replace(state, open_step=step)
    state = _end_step(state, at, calendar)
    return replace(
        state, open_step=started(step_id, event.step_unit_code, at, due, event.step_name)
    )


def _step_completed(
    state: DossierState, event: DossierEvent, at: datetime, catalog: Catalog
) -> DossierState:
    step = state.open_step
    if step is None or step.step_id != event.step_id or not _takes_steps(state):
        return state
    return _end_step(state, at, catalog.calendar)


_TRANSITIONS: Final[Mapping[EventType, _Transition]] = MappingProxyType({
    EventType.SUBMITTED: _submitted,
    EventType.RECEIVED: _received,
    EventType.NOT_ACCEPTED: _not_accepted,
    EventType.TRANSFERRED: _transferred,
    EventType.SUPPLEMENT_REQUESTED: _paused,
    EventType.FINANCIAL_OBLIGATION_REQUESTED: _paused,
    EventType.RESUMED: _resumed,
    EventType.WITHDRAWN: _ended,
    EventType.STOPPED: _ended,
    EventType.RESOLVED: _resolved,
    EventType.RETURNED: _returned,
    EventType.APOLOGY_ISSUED: _apology,
    EventType.STEP_STARTED: _step_started,
    EventType.STEP_COMPLETED: _step_completed,
})


def apply_event(state: DossierState, event: DossierEvent, catalog: Catalog) -> DossierState:
    """The state after `event` (events must come in history order)."""
    at = catalog.calendar.local(event.occurred_at)
    return _TRANSITIONS[event.type](replace(state, as_of=at), event, at, catalog)
