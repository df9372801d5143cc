"""Deadline alerts (cảnh báo): when each kind is due, to whom, and its deterministic id."""

from __future__ import annotations

import enum
import hashlib
import uuid
from datetime import datetime, time, timedelta

import msgspec

from dossierflow.rules.calendar import WorkingCalendar
from dossierflow.rules.catalog import Catalog, Procedure
from dossierflow.rules.compliance import apology_due_window
from dossierflow.rules.lifecycle import DossierState, Status, clock_start, deadline
from dossierflow.rules.steps import runs_out_at
from dossierflow.schemas.facts import AlertFields

_ALERT_NAMESPACE = uuid.UUID("5f0d7d52-3c1e-4d4e-9a57-6f1c2b8e0a11")


class AlertKind(enum.StrEnum):
    AT_RISK = "AT_RISK"
    APOLOGY_DUE = "APOLOGY_DUE"
    """Last day to send an apology in time (rules/compliance.py)."""
    OVERDUE = "OVERDUE"
    RESCHEDULED_OVERDUE = "RESCHEDULED_OVERDUE"
    RESCHEDULE_LIMIT_EXCEEDED = "RESCHEDULE_LIMIT_EXCEEDED"
    STEP_AT_RISK = "STEP_AT_RISK"
    """The open processing step's allotted time runs out soon (rules/steps.py)."""
    STEP_OVERDUE = "STEP_OVERDUE"
    """The open processing step's allotted time ran out."""


STEP_KINDS = frozenset({AlertKind.STEP_AT_RISK, AlertKind.STEP_OVERDUE})


class Role(enum.StrEnum):
    HANDLING_UNIT_HEAD = "handling_unit_head"
    RECEIVING_UNIT_HEAD = "receiving_unit_head"
    PROVINCE_OPERATIONS = "province_operations"
    STEP_UNIT_HEAD = "step_unit_head"
    """The head of the department of the open step (`Alert.step_unit_code`)."""


ROLES_BY_KIND: dict[AlertKind, tuple[Role, ...]] = {
    AlertKind.AT_RISK: (Role.HANDLING_UNIT_HEAD,),
    AlertKind.APOLOGY_DUE: (Role.HANDLING_UNIT_HEAD,),
    AlertKind.OVERDUE: (Role.HANDLING_UNIT_HEAD, Role.RECEIVING_UNIT_HEAD),
    AlertKind.RESCHEDULED_OVERDUE: (
        Role.HANDLING_UNIT_HEAD,
        Role.RECEIVING_UNIT_HEAD,
        Role.PROVINCE_OPERATIONS,
    ),
    AlertKind.RESCHEDULE_LIMIT_EXCEEDED: (Role.PROVINCE_OPERATIONS,),
    AlertKind.STEP_AT_RISK: (Role.STEP_UNIT_HEAD,),
    AlertKind.STEP_OVERDUE: (Role.STEP_UNIT_HEAD,),
}


# gc=False: an immutable value built from scalars and other immutable values cannot be part
# of a reference cycle, so the cyclic GC need not track it (replay keeps every evaluation).
class PlannedAlert(msgspec.Struct, frozen=True, gc=False):
    """An alert the current state will raise at `instant` unless the state changes first."""

    kind: AlertKind
    instant: datetime
    deadline: datetime
    expires: datetime | None = None
    """Held back (paused, or the deadline only just set) until this instant, the alert no
    longer fires: its message would be false by then."""
    step_id: str | None = None
    """The step of a step alert (two steps may share a deadline)."""


class Alert(AlertFields, frozen=True, kw_only=True, gc=False):
    """An alert that fired at `at` (its instant, or later when a pause held it back);
    `rules.records.alert_record` makes it the published `DossierAlert`."""

    kind: AlertKind

    @property
    def roles(self) -> tuple[Role, ...]:
        return ROLES_BY_KIND[self.kind]

    def audience(self) -> tuple[tuple[Role, str | None], ...]:
        """Each role the kind reaches and the unit it is resolved at (none: the province's
        operations desk), from the alert's kind and unit codes alone: what the worker
        publishes as `recipients`, and what the notifier routes by."""
        unit_of_role = {
            Role.HANDLING_UNIT_HEAD: self.handling_unit_code,
            Role.RECEIVING_UNIT_HEAD: self.unit_code,
            Role.PROVINCE_OPERATIONS: None,
            Role.STEP_UNIT_HEAD: self.step_unit_code,
        }
        return tuple((role, unit_of_role[role]) for role in self.roles)


def alert_id(
    dossier_id: str, kind: AlertKind, deadline: datetime, step_id: str | None = None
) -> str:
    """Deterministic from dossier, kind, deadline (and a step alert's step), so a re-sent
    alert keeps its id."""
    name = f"{dossier_id}|{kind}|{deadline.timestamp():.3f}"
    return uuid5_text(_ALERT_NAMESPACE, name if step_id is None else f"{name}|{step_id}")


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))` without building a UUID object (the slow part)."""
    digest = bytearray(hashlib.sha1(namespace.bytes + name.encode()).digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50  # version 5
    digest[8] = digest[8] & 0x3F | 0x80  # RFC 4122 variant
    hex_ = digest.hex()
    return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"


def midnight_after(calendar: WorkingCalendar, instant: datetime) -> datetime:
    """00:00 of the day after the local date of `instant`."""
    day_after = calendar.local(instant).date() + timedelta(days=1)
    return datetime.combine(day_after, time(0), calendar.tz)


def overdue_at(calendar: WorkingCalendar, due_at: datetime) -> datetime:
    return midnight_after(calendar, due_at)


def at_risk_lead(state: DossierState, catalog: Catalog) -> timedelta:
    """The AT_RISK lead of a dossier: its procedure's own when the dossier was given the
    procedure's own time, else the catalogue's. A lead is chosen for a length of time: a
    same-day procedure's 2 hours would warn too late of a copy certification extended by
    agreement to 5 working days (Decree 23/2015/NĐ-CP Art. 7). Judged on the slip's date,
    not on a stated processing time, which the portal's format does not carry; a pause or a
    restart keeps the lead, since the time allowed has not changed."""
    procedure = catalog.procedure(state.procedure_code)
    own = procedure.at_risk_lead
    if own is None:
        return catalog.at_risk_lead
    return own if _given_its_procedures_time(state, catalog, procedure) else catalog.at_risk_lead


def _given_its_procedures_time(state: DossierState, catalog: Catalog, procedure: Procedure) -> bool:
    """The slip's deadline (the appointment at reception, before any pause, restart or
    apology) falls on the day the procedure's processing time gives, however it was stated:
    the day, not the instant, since a slip may print any hour of it (16:30 for a same-day
    request due at the close)."""
    processing = procedure.processing_time
    if processing is None:
        return True
    if state.received_at is None:
        return False
    calendar = catalog.calendar
    start = clock_start(calendar, state.received_at, catalog.cutoff(procedure, processing))
    given = deadline(calendar, start, processing)
    return (state.appointment_at is not None
            and calendar.local(state.appointment_at).date() == calendar.local(given).date())


def planned_alerts(state: DossierState, catalog: Catalog) -> tuple[PlannedAlert, ...]:
    """Time-driven alerts of an open, unpaused dossier (none while paused or closed)."""
    if state.status is not Status.OPEN:
        return ()
    calendar = catalog.calendar
    planned: list[PlannedAlert] = []
    if state.due_at is not None:
        at_risk = calendar.subtract(state.due_at, at_risk_lead(state, catalog))
        if state.clock_start is not None and at_risk > state.clock_start:
            planned.append(PlannedAlert(AlertKind.AT_RISK, at_risk, state.due_at))
        apology_due = _apology_due(state, catalog)
        if apology_due is not None:
            planned.append(apology_due)
        planned.append(
            PlannedAlert(AlertKind.OVERDUE, overdue_at(calendar, state.due_at), state.due_at)
        )
    if state.rescheduled_due_at is not None:
        planned.append(
            PlannedAlert(
                AlertKind.RESCHEDULED_OVERDUE,
                midnight_after(calendar, state.rescheduled_due_at),
                state.rescheduled_due_at,
            )
        )
    return (*planned, *_step_alerts(state, catalog))


def _step_alerts(state: DossierState, catalog: Catalog) -> tuple[PlannedAlert, ...]:
    """STEP_AT_RISK (none when that moment is not after the step's start) and STEP_OVERDUE
    of the open step: when its allotted time runs out, to the minute (a department's time
    is hours, not report days)."""
    step = state.open_step
    if step is None:
        return ()
    calendar = catalog.calendar
    try:
        runs_out = runs_out_at(step, calendar)
        at_risk = calendar.subtract(runs_out, catalog.steps.at_risk_lead)
    except ValueError:
        # Decades of waiting moved the end beyond the calendar's ten-year search: a moment
        # no clock will reach, so no alert (the event must not fail: docs/domain.md, Bounds).
        return ()
    overdue = PlannedAlert(AlertKind.STEP_OVERDUE, runs_out, runs_out, step_id=step.step_id)
    if at_risk <= step.started_at:
        return (overdue,)
    return (PlannedAlert(AlertKind.STEP_AT_RISK, at_risk, runs_out, step_id=step.step_id),
            overdue)


def _apology_due(state: DossierState, catalog: Catalog) -> PlannedAlert | None:
    """APOLOGY_DUE: at the opening of the last working day on which an apology is still in
    time, for a dossier without one, open and not paused then (whether the deadline will be
    missed nobody knows yet: the text says "if"). None when that opening is not after the
    clock start (received on that day or later: the unit knew it on receipt), and it fires
    at the latest before that day ends: resumed after it, an apology can only be late."""
    rules = catalog.compliance
    if not rules.apology_due_alert or state.apologies or state.due_at is None:
        return None
    opening, day_end = apology_due_window(catalog.calendar, state.due_at, rules)
    if state.clock_start is None or opening <= state.clock_start:
        return None
    return PlannedAlert(AlertKind.APOLOGY_DUE, opening, state.due_at, expires=day_end)


def same_plan(before: DossierState, after: DossierState) -> bool:
    """Whether `planned_alerts` plans the same for both states (it reads nothing else)."""
    return (
        after.status is before.status
        and after.due_at is before.due_at
        and after.clock_start is before.clock_start
        and after.rescheduled_due_at is before.rescheduled_due_at
        and after.apologies == before.apologies
        and after.open_step is before.open_step
    )


def raise_alert(
    state: DossierState, kind: AlertKind, deadline: datetime, at: datetime, catalog: Catalog,
    step_id: str | None = None,
) -> Alert:
    """The alert `state` raises; a step alert names the department of its step, `state`'s
    open step (the state that planned it), and goes to the department's head when the
    catalogue lists the department as a unit, else to the handling unit's, whose department
    it is (one-stop systems send departments the unit tree need not hold)."""
    department = state.open_step.unit_code if step_id and state.open_step else None
    addressee = department if department in catalog.units else state.handling_unit_code
    return Alert(
        alert_id=alert_id(state.dossier_id, kind, deadline, step_id),
        kind=kind,
        dossier_id=state.dossier_id,
        at=at,
        deadline=deadline,
        unit_code=state.unit_code,
        handling_unit_code=state.handling_unit_code,
        procedure_code=state.procedure_code,
        apology_issued=state.apologies > 0,
        step_id=step_id,
        step_department=department,
        step_unit_code=addressee if department else None,
    )
