"""Processing steps: each department's time against the time allotted to it (pure).

The control sheet (phiếu kiểm soát quá trình giải quyết hồ sơ) follows a dossier from
department to department and records, for each, when it received the dossier, the time it
was allotted and when it handed it on: Circular 01/2018/TT-VPCP Art. 13(2) as issue 20 cites
it (its text not found; docs/domain.md, "Sources of the control sheet"); the form in force is
No. 06 of Annex I to Circular 03/2025/TT-VPCP. One-stop systems send the same to the portal
as the steps of `CapNhatTienDoHoSoMC` (`PhongBanXuLy`, `NgayBatDau`,
`NgayKetThucTheoQuyDinh`), which the events STEP_STARTED and STEP_COMPLETED carry.

Steps follow one another: a dossier has at most one open step, and a new step, the end of
processing (resolved, returned, withdrawn, stopped) or STEP_COMPLETED ends it. Times are
working times of the official calendar; the applicant's waits (a supplement or a payment
requested during the step) are not the department's and are left out of its actual time,
and move the instant its allotted time runs out by as much. Which overrunning step "caused"
an overdue dossier is a setting (`DelayCause`): the texts found say the unit at fault
apologises, not how to choose among several (docs/domain.md, "Processing steps").

An open dossier overdue at an instant T is attributed by the same rule, its open step judged
as if it ended at T (`delay_causes_at`): late once its allotted time has run out (the instant
STEP_OVERDUE fires), by the working time it has held the dossier beyond its allotment. While
the dossier waits for the applicant the department's clock stands still, so the step is
judged at the start of the wait. `open_delay` gives the answer for every T after the last
event in three values a store can pick from without the calendar.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from dossierflow.rules.calendar import WorkingCalendar


class DelayCause(enum.StrEnum):
    """Which units an overdue dossier's delay is attributed to, among its overrun steps."""

    FIRST = "first"
    """The department of the first step that overran: the later ones started late."""
    LARGEST = "largest"
    """The department of the step with the largest overrun (the first of equals)."""
    EVERY = "every"
    """Every department with a step that overran, in the order of the steps."""


@dataclass(frozen=True)
class StepRules:
    """The catalogue's `steps:` section."""

    at_risk_lead: timedelta = timedelta(hours=4)
    """STEP_AT_RISK this much working time before the step's allotted time runs out. Ours:
    no source sets it; a step is often one working day or less, so half of one."""
    delay_cause: DelayCause = DelayCause.FIRST


# gc=False: an immutable value of scalars cannot be part of a reference cycle.
class ProcessingStep(msgspec.Struct, frozen=True, gc=False):
    """One step of a dossier's processing, in a department (`PhongBanXuLy`)."""

    step_id: str
    unit_code: str
    started_at: datetime
    due_at: datetime
    """The step's own deadline as the source gave it (`NgayKetThucTheoQuyDinh`)."""
    name: str | None = None
    ended_at: datetime | None = None
    paused: timedelta = timedelta(0)
    """Working time the dossier waited for the applicant during the step."""


def started(
    step_id: str, unit_code: str, at: datetime, due_at: datetime, name: str | None
) -> ProcessingStep:
    return ProcessingStep(step_id, unit_code, at, due_at, name)


def restated(step: ProcessingStep, unit_code: str, due_at: datetime,
             name: str | None) -> ProcessingStep:
    """The open step sent again (a re-sync) with what it says now; it began when it began."""
    return msgspec.structs.replace(step, unit_code=unit_code, due_at=due_at, name=name)


def ended(step: ProcessingStep, at: datetime) -> ProcessingStep:
    return msgspec.structs.replace(step, ended_at=max(at, step.started_at))


def with_pause(
    step: ProcessingStep, calendar: WorkingCalendar, since: datetime, until: datetime
) -> ProcessingStep:
    """The step after a wait for the applicant from `since` to `until` (the part of it
    after the step began)."""
    waited = calendar.working_time_between(max(since, step.started_at), until)
    if waited <= timedelta(0):
        return step
    return msgspec.structs.replace(step, paused=step.paused + waited)


def allotted(step: ProcessingStep, calendar: WorkingCalendar) -> timedelta:
    """Working time from the step's start to its deadline (none if the deadline is before)."""
    return max(calendar.working_time_between(step.started_at, step.due_at), timedelta(0))


def actual(step: ProcessingStep, calendar: WorkingCalendar) -> timedelta | None:
    """Working time the department held the ended step, waits for the applicant left out."""
    if step.ended_at is None:
        return None
    held = calendar.working_time_between(step.started_at, step.ended_at) - step.paused
    return max(held, timedelta(0))


def overrun(step: ProcessingStep, calendar: WorkingCalendar) -> timedelta | None:
    """How much longer than allotted the ended step took (zero when in time)."""
    spent = actual(step, calendar)
    return None if spent is None else max(spent - allotted(step, calendar), timedelta(0))


def runs_out_at(step: ProcessingStep, calendar: WorkingCalendar) -> datetime:
    """When the step's allotted time runs out: its deadline, later by the waits so far."""
    return calendar.add(step.due_at, step.paused) if step.paused else step.due_at


def delay_causes(
    steps: tuple[ProcessingStep, ...], calendar: WorkingCalendar, rule: DelayCause
) -> tuple[str, ...]:
    """The departments an overdue dossier's delay is attributed to, from its ended steps;
    none when no step overran (the dossier's time was too short for its steps' sum)."""
    return _attributed(_overrun_steps(steps, calendar), rule)


_Late = list[tuple[ProcessingStep, timedelta]]
"""Steps that overran, in their order, each with its overrun."""


def _overrun_steps(steps: tuple[ProcessingStep, ...], calendar: WorkingCalendar) -> _Late:
    return [(step, spent) for step in steps if (spent := overrun(step, calendar))]


def _attributed(late: _Late, rule: DelayCause) -> tuple[str, ...]:
    if not late:
        return ()
    if rule is DelayCause.FIRST:
        return (late[0][0].unit_code,)
    if rule is DelayCause.LARGEST:  # max() keeps the first of equals
        return (max(late, key=lambda pair: pair[1])[0].unit_code,)
    return tuple(dict.fromkeys(step.unit_code for step, _ in late))


def judged_at(step: ProcessingStep, waiting_since: datetime | None, at: datetime) -> datetime:
    """When the open step counts as ended if the dossier is judged at `at`: then, or, while
    the dossier waits for the applicant since `waiting_since`, when the wait began (not
    before the step began): the wait is the applicant's time, not the department's."""
    if waiting_since is None:
        return at
    return max(min(waiting_since, at), step.started_at)


def delay_causes_at(
    ended_steps: tuple[ProcessingStep, ...],
    open_step: ProcessingStep | None,
    waiting_since: datetime | None,
    calendar: WorkingCalendar,
    rule: DelayCause,
    at: datetime,
) -> tuple[str, ...]:
    """The departments an open dossier overdue at `at` owes its delay to: the rule of
    `delay_causes` over the ended steps and the open step judged at `at`. The open step is
    late once its allotted time ran out before it was judged (`runs_out_at`, as STEP_OVERDUE
    fires), even with no working time past it yet (a deadline of 17:00 judged at midnight);
    its overrun is the working time it held the dossier beyond its allotment."""
    late = _overrun_steps(ended_steps, calendar)
    if open_step is not None:
        judged = judged_at(open_step, waiting_since, at)
        if judged > runs_out_at(open_step, calendar):
            spent = overrun(ended(open_step, judged), calendar)
            assert spent is not None
            late.append((open_step, spent))
    return _attributed(late, rule)


class OpenDelay(msgspec.Struct, frozen=True, gc=False):
    """Who caused the delay of an open dossier judged at any instant T after its last event
    while nothing else happens: `caused_by` until `changes_at` (for ever when None), then
    `caused_by_later`. The open step only gains time, so the answer changes once at most."""

    caused_by: tuple[str, ...] = ()
    caused_by_later: tuple[str, ...] = ()
    changes_at: datetime | None = None

    def at(self, instant: datetime) -> tuple[str, ...]:
        if self.changes_at is not None and instant > self.changes_at:
            return self.caused_by_later
        return self.caused_by


_TICK = timedelta(milliseconds=1)
"""The store's resolution: the open step judged this long after the change has changed."""


def open_delay(
    ended_steps: tuple[ProcessingStep, ...],
    open_step: ProcessingStep | None,
    waiting_since: datetime | None,
    calendar: WorkingCalendar,
    rule: DelayCause,
    as_of: datetime,
) -> OpenDelay:
    """`delay_causes_at` for every instant after `as_of`, the last event. Waiting for the
    applicant, or without an open step, nothing moves. Otherwise the answer changes when the
    open step becomes late (its allotted time runs out), or, under `largest` once a step has
    overrun, when its overrun passes the largest (the first of equals wins: strictly more)."""
    def judged(at: datetime) -> tuple[str, ...]:
        return delay_causes_at(ended_steps, open_step, waiting_since, calendar, rule, at)

    now = judged(as_of)
    if open_step is None or waiting_since is not None:
        return OpenDelay(now)
    largest = max((spent for _, spent in _overrun_steps(ended_steps, calendar)), default=None)
    if rule is DelayCause.LARGEST and largest is not None:
        held = allotted(open_step, calendar) + open_step.paused + largest
        changes_at = calendar.next_opening(calendar.add(open_step.started_at, held))
    else:
        changes_at = runs_out_at(open_step, calendar)
    later = judged(max(changes_at, as_of) + _TICK)
    return OpenDelay(now) if later == now else OpenDelay(now, later, changes_at)
