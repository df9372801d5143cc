"""Alerts: at_risk_at / overdue_at, the four kinds, deterministic ids, pauses and the clock.

Instants are worked out by hand from docs/domain.md ("Outcomes", "Alerts and who receives
them"): at-risk lead 8 working hours, overdue from 00:00 after the date of `due_at`.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dossierflow.rules.alerts import (
    ROLES_BY_KIND,
    AlertKind,
    PlannedAlert,
    Role,
    alert_id,
    midnight_after,
    overdue_at,
    planned_alerts,
    same_plan,
    uuid5_text,
)
from dossierflow.rules.calendar import VIETNAM
from dossierflow.rules.catalog import load_catalog, parse_catalog
from dossierflow.rules.evaluation import Evaluation, evaluate
from dossierflow.rules.lifecycle import DossierState, apply_event, order_history
from dossierflow.schemas.event import DossierEvent, EventType, ProcessingTime, TimeUnit

SAMPLE = load_catalog()
CATALOG = parse_catalog(
    b"""
calendar: {overrides_file: default}
procedures:
  - {code: P5, name: five days, processing_time: {value: 5, unit: working_days}}
  - {code: P3, name: three days, processing_time: {value: 3, unit: working_days}}
  - {code: P1, name: one day, processing_time: {value: 1, unit: working_days}}
  - {code: H4, name: four hours, processing_time: {value: 4, unit: working_hours}}
  - {code: IGNORE, name: i, processing_time: {value: 5, unit: working_days},
     pause_policy: {supplement: ignore, financial: ignore}}
""",
    "alerts-catalog",
)
T = EventType
K = AlertKind
_ids = itertools.count()


def vn(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=VIETNAM)


def ev(kind: EventType, at: datetime, **fields: Any) -> DossierEvent:
    fields.setdefault("event_id", f"A{next(_ids)}")
    return DossierEvent(schema_version=1, dossier_id="D1", type=kind, occurred_at=at, **fields)


def received(at: datetime, procedure: str = "P5", **fields: Any) -> DossierEvent:
    fields.setdefault("unit_code", "X-01")
    return ev(T.RECEIVED, at, procedure_code=procedure, channel="IN_PERSON", **fields)


def run(events: list[DossierEvent], clock: datetime) -> Evaluation:
    return evaluate("D1", [e for e in events if e.occurred_at <= clock], CATALOG, clock)


def kinds_at(evaluation: Evaluation) -> list[tuple[AlertKind, datetime]]:
    return [(a.kind, a.at) for a in evaluation.alerts]


def state_of(events: list[DossierEvent]) -> DossierState:
    state = DossierState("D1")
    for event in order_history(events):
        state = apply_event(state, event, CATALOG)
    return state


# --- instants ------------------------------------------------------------------------------


def test_at_risk_at_and_overdue_at() -> None:
    # 3 working days from Monday 2/3 08:00: due Thursday 5/3 08:00; at risk 8 working hours
    # before: Wednesday 4/3 08:00; overdue from Friday 6/3 00:00.
    state = state_of([received(vn(2026, 3, 2, 8), "P3")])
    assert state.due_at == vn(2026, 3, 5, 8)
    assert planned_alerts(state, CATALOG) == (
        PlannedAlert(K.AT_RISK, vn(2026, 3, 4, 8), vn(2026, 3, 5, 8)),
        PlannedAlert(K.OVERDUE, vn(2026, 3, 6, 0), vn(2026, 3, 5, 8)),
    )


def test_at_risk_across_tet() -> None:
    # Worked example 1: due Wednesday 25/2 10:00 -> at risk Tuesday 24/2 10:00.
    state = state_of([received(vn(2026, 2, 13, 10), "P3")])
    assert state.due_at == vn(2026, 2, 25, 10)
    assert planned_alerts(state, CATALOG)[0] == PlannedAlert(
        K.AT_RISK, vn(2026, 2, 24, 10), vn(2026, 2, 25, 10)
    )


def test_at_risk_on_a_make_up_saturday() -> None:
    # Received Friday 21/8/2026 15:00, 2 days: due Monday 24/8 15:00; 8 h before is
    # Saturday 22/8 15:00 (a make-up working day).
    events = [
        received(vn(2026, 8, 21, 15), processing_time=ProcessingTime(2, TimeUnit.WORKING_DAYS))
    ]
    evaluation = run(events, vn(2026, 9, 1))
    assert kinds_at(evaluation) == [
        (K.AT_RISK, vn(2026, 8, 22, 15)),
        (K.OVERDUE, vn(2026, 8, 25, 0)),
    ]
    assert evaluation.overdue


def test_overdue_at_is_midnight_after_the_local_date() -> None:
    cal = CATALOG.calendar
    assert overdue_at(cal, vn(2026, 3, 5, 17)) == vn(2026, 3, 6, 0)
    assert overdue_at(cal, vn(2026, 3, 5, 0, 0)) == vn(2026, 3, 6, 0)
    # 20:00 UTC on 5/3 is 03:00 on 6/3 in Hà Nội.
    assert overdue_at(cal, datetime.fromisoformat("2026-03-05T20:00:00+00:00")) == vn(2026, 3, 7)
    assert midnight_after(cal, vn(2026, 12, 31, 23, 59)) == vn(2027, 1, 1)


@pytest.mark.parametrize(
    ("procedure", "at", "due"),
    [
        ("P1", vn(2026, 3, 2, 8), vn(2026, 3, 3, 8)),  # at risk == clock start
        ("P1", vn(2026, 3, 2, 18, 30), vn(2026, 3, 3, 17)),  # after hours, same
        ("H4", vn(2026, 3, 2, 8), vn(2026, 3, 2, 13, 30)),  # at risk before clock start
    ],
)
def test_no_at_risk_when_not_after_the_clock_start(
    procedure: str, at: datetime, due: datetime
) -> None:
    state = state_of([received(at, procedure)])
    assert state.due_at == due
    assert [p.kind for p in planned_alerts(state, CATALOG)] == [K.OVERDUE]
    assert [a.kind for a in run([received(at, procedure)], vn(2026, 4, 1)).alerts] == [K.OVERDUE]


def test_at_risk_just_after_the_clock_start_fires() -> None:
    # 1 working day + 1 minute: at risk 1 minute after the clock start.
    events = [
        received(
            vn(2026, 3, 2, 8), processing_time=ProcessingTime(8 + 1 / 60, TimeUnit.WORKING_HOURS)
        )
    ]
    assert kinds_at(run(events, vn(2026, 3, 2, 9))) == [(K.AT_RISK, vn(2026, 3, 2, 8, 1))]


# --- firing against the clock ----------------------------------------------------------------


def test_alerts_fire_with_the_clock_without_events() -> None:
    events = [received(vn(2026, 3, 2, 8), "P3")]
    assert run(events, vn(2026, 3, 4, 7, 59)).alerts == ()
    assert run(events, vn(2026, 3, 4, 7, 59)).next_alert_at == vn(2026, 3, 4, 8)
    assert kinds_at(run(events, vn(2026, 3, 4, 8))) == [(K.AT_RISK, vn(2026, 3, 4, 8))]
    late = run(events, vn(2026, 3, 6, 0))
    assert kinds_at(late) == [(K.AT_RISK, vn(2026, 3, 4, 8)), (K.OVERDUE, vn(2026, 3, 6, 0))]
    assert late.overdue
    assert not run(events, vn(2026, 3, 5, 23, 59)).overdue


def test_resolved_before_at_risk_raises_nothing() -> None:
    events = [received(vn(2026, 3, 2, 8), "P3"), ev(T.RESOLVED, vn(2026, 3, 3, 9))]
    evaluation = run(events, vn(2026, 6, 1))
    assert evaluation.alerts == ()
    assert evaluation.next_alert_at is None
    assert not evaluation.overdue


def test_resolved_after_at_risk_keeps_that_alert_only() -> None:
    events = [received(vn(2026, 3, 2, 8), "P3"), ev(T.RESOLVED, vn(2026, 3, 5, 9))]
    assert kinds_at(run(events, vn(2026, 6, 1))) == [(K.AT_RISK, vn(2026, 3, 4, 8))]


def test_overdue_alert_goes_to_handling_and_receiving_units() -> None:
    events = [
        received(vn(2026, 3, 2, 8), "P3"),
        ev(T.TRANSFERRED, vn(2026, 3, 2, 10), unit_code="S-TNMT"),
    ]
    overdue = run(events, vn(2026, 3, 7)).alerts[-1]
    assert overdue.kind is K.OVERDUE
    assert overdue.unit_code == "X-01" and overdue.handling_unit_code == "S-TNMT"
    assert overdue.roles == (Role.HANDLING_UNIT_HEAD, Role.RECEIVING_UNIT_HEAD)
    assert not overdue.apology_issued
    assert overdue.deadline == vn(2026, 3, 5, 8)


def test_roles_by_kind() -> None:
    assert ROLES_BY_KIND[K.AT_RISK] == (Role.HANDLING_UNIT_HEAD,)
    assert Role.PROVINCE_OPERATIONS in ROLES_BY_KIND[K.RESCHEDULED_OVERDUE]
    assert ROLES_BY_KIND[K.RESCHEDULE_LIMIT_EXCEEDED] == (Role.PROVINCE_OPERATIONS,)


def test_overdue_at_receipt_fires_at_receipt() -> None:
    # A slip whose appointment already passed: the OVERDUE instant (2/3 00:00) came before
    # the deadline existed, so it fires at the RECEIVED that set it.
    events = [received(vn(2026, 3, 2, 8), due_at=vn(2026, 3, 1, 17))]
    assert kinds_at(run(events, vn(2026, 3, 2, 9))) == [(K.OVERDUE, vn(2026, 3, 2, 8))]


# --- pauses --------------------------------------------------------------------------------


def test_no_alerts_while_paused() -> None:
    # Due Monday 9/3 08:00, at risk Friday 6/3 08:00; paused Thursday 5/3 09:00 and never resumed.
    events = [
        received(vn(2026, 3, 2, 8), "IGNORE"),
        ev(T.SUPPLEMENT_REQUESTED, vn(2026, 3, 5, 9)),
    ]
    evaluation = run(events, vn(2026, 4, 1))
    assert evaluation.alerts == ()
    assert evaluation.next_alert_at is None
    assert evaluation.overdue  # paused dossiers still count as overdue


def test_alerts_held_back_while_paused_fire_at_resumed_with_ignore_policy() -> None:
    events = [
        received(vn(2026, 3, 2, 8), "IGNORE"),
        ev(T.SUPPLEMENT_REQUESTED, vn(2026, 3, 5, 9)),
        ev(T.RESUMED, vn(2026, 3, 10, 10)),
    ]
    assert run(events, vn(2026, 3, 10, 9)).alerts == ()
    evaluation = run(events, vn(2026, 3, 10, 10))
    assert evaluation.state.due_at == vn(2026, 3, 9, 8)
    assert kinds_at(evaluation) == [
        (K.AT_RISK, vn(2026, 3, 10, 10)),
        (K.OVERDUE, vn(2026, 3, 10, 10)),
    ]
    # Ids are from the deadline, not from the late firing instant.
    assert evaluation.alerts[0].alert_id == alert_id("D1", K.AT_RISK, vn(2026, 3, 9, 8))


def test_alert_before_pause_is_not_repeated_after_resume() -> None:
    events = [
        received(vn(2026, 3, 2, 8), "IGNORE"),
        ev(T.SUPPLEMENT_REQUESTED, vn(2026, 3, 6, 9)),  # after AT_RISK (6/3 08:00)
        ev(T.RESUMED, vn(2026, 3, 6, 10)),
    ]
    assert kinds_at(run(events, vn(2026, 3, 10))) == [
        (K.AT_RISK, vn(2026, 3, 6, 8)),
        (K.OVERDUE, vn(2026, 3, 10, 0)),
    ]


def test_restart_moves_the_alerts_with_the_deadline() -> None:
    # Worked example 3: restart gives due Thursday 12/3 14:00; the first deadline's AT_RISK
    # (Friday 6/3 08:00) fell while paused and never fires.
    events = [
        received(vn(2026, 3, 2, 8)),
        ev(T.SUPPLEMENT_REQUESTED, vn(2026, 3, 3, 9)),
        ev(T.RESUMED, vn(2026, 3, 5, 14)),
    ]
    evaluation = run(events, vn(2026, 3, 14))
    assert evaluation.state.due_at == vn(2026, 3, 12, 14)
    assert kinds_at(evaluation) == [
        (K.AT_RISK, vn(2026, 3, 11, 14)),
        (K.OVERDUE, vn(2026, 3, 13, 0)),
    ]


# --- apologies ------------------------------------------------------------------------------


def example_6(*more: DossierEvent) -> list[DossierEvent]:
    return [
        received(vn(2026, 3, 2, 8), "P3"),
        ev(T.APOLOGY_ISSUED, vn(2026, 3, 4, 16), new_due_at=vn(2026, 3, 10, 17)),
        *more,
    ]


def test_rescheduled_overdue() -> None:
    evaluation = run(example_6(), vn(2026, 3, 12))
    assert kinds_at(evaluation) == [
        (K.AT_RISK, vn(2026, 3, 4, 8)),
        (K.OVERDUE, vn(2026, 3, 6, 0)),
        (K.RESCHEDULED_OVERDUE, vn(2026, 3, 11, 0)),
    ]
    overdue, rescheduled = evaluation.alerts[1], evaluation.alerts[2]
    assert overdue.apology_issued
    assert rescheduled.deadline == vn(2026, 3, 10, 17)
    assert rescheduled.roles == (
        Role.HANDLING_UNIT_HEAD,
        Role.RECEIVING_UNIT_HEAD,
        Role.PROVINCE_OPERATIONS,
    )


def test_no_rescheduled_overdue_when_resolved_by_the_new_date() -> None:
    evaluation = run(example_6(ev(T.RESOLVED, vn(2026, 3, 10, 16))), vn(2026, 4, 1))
    assert [a.kind for a in evaluation.alerts] == [K.AT_RISK, K.OVERDUE]
    assert evaluation.state.outcome is not None and evaluation.state.outcome.value == "OVERDUE"


def test_reschedule_limit_exceeded_once() -> None:
    events = example_6(
        ev(T.APOLOGY_ISSUED, vn(2026, 3, 11, 9), new_due_at=vn(2026, 3, 16, 17)),
        ev(T.APOLOGY_ISSUED, vn(2026, 3, 12, 9), new_due_at=vn(2026, 3, 18, 17)),
    )
    evaluation = run(events, vn(2026, 3, 20))
    limits = [a for a in evaluation.alerts if a.kind is K.RESCHEDULE_LIMIT_EXCEEDED]
    assert [a.at for a in limits] == [vn(2026, 3, 11, 9)]
    assert limits[0].roles == (Role.PROVINCE_OPERATIONS,)
    # The violation changes nothing else: RESCHEDULED_OVERDUE still for 10/3.
    assert evaluation.state.rescheduled_due_at == vn(2026, 3, 10, 17)
    assert kinds_at(evaluation)[2] == (K.RESCHEDULED_OVERDUE, vn(2026, 3, 11, 0))


def test_worked_example_ex06_alerts() -> None:
    events = example_6(ev(T.APOLOGY_ISSUED, vn(2026, 3, 11, 9), new_due_at=vn(2026, 3, 16, 17)))
    assert kinds_at(run(events, vn(2026, 9, 1))) == [
        (K.AT_RISK, vn(2026, 3, 4, 8)),
        (K.OVERDUE, vn(2026, 3, 6, 0)),
        (K.RESCHEDULED_OVERDUE, vn(2026, 3, 11, 0)),
        (K.RESCHEDULE_LIMIT_EXCEEDED, vn(2026, 3, 11, 9)),
    ]


def test_first_apology_raises_no_limit_alert() -> None:
    assert all(
        a.kind is not K.RESCHEDULE_LIMIT_EXCEEDED for a in run(example_6(), vn(2026, 4, 1)).alerts
    )


# --- ids ---------------------------------------------------------------------------------------


def test_alert_id_is_deterministic() -> None:
    due = vn(2026, 3, 5, 8)
    first = alert_id("D1", K.OVERDUE, due)
    assert first == alert_id("D1", K.OVERDUE, due)
    assert uuid.UUID(first).version == 5
    # The same instant written with another offset is the same deadline.
    assert first == alert_id("D1", K.OVERDUE, datetime.fromisoformat("2026-03-05T01:00:00+00:00"))
    assert first != alert_id("D2", K.OVERDUE, due)
    assert first != alert_id("D1", K.AT_RISK, due)
    assert first != alert_id("D1", K.OVERDUE, due + timedelta(minutes=1))


@given(namespace=st.uuids(), name=st.text())
def test_uuid5_text_is_the_standard_uuid5(namespace: uuid.UUID, name: str) -> None:
    assert uuid5_text(namespace, name) == str(uuid.uuid5(namespace, name))


def test_planned_alerts_follow_the_deadlines_only() -> None:
    """A transfer leaves the plan as it was; a pause empties it."""
    state = apply_event(DossierState("D1"), received(vn(2026, 3, 2, 8), "P5"), CATALOG)
    transfer = ev(T.TRANSFERRED, vn(2026, 3, 3, 9), unit_code="X-02")
    transferred = apply_event(state, transfer, CATALOG)
    assert same_plan(state, transferred)
    assert planned_alerts(transferred, CATALOG) == planned_alerts(state, CATALOG)
    paused = apply_event(transferred, ev(T.SUPPLEMENT_REQUESTED, vn(2026, 3, 3, 10)), CATALOG)
    assert not same_plan(transferred, paused)
    assert planned_alerts(paused, CATALOG) == ()
    resumed = apply_event(paused, ev(T.RESUMED, vn(2026, 3, 4, 10)), CATALOG)
    assert not same_plan(paused, resumed)
    assert planned_alerts(resumed, CATALOG) != planned_alerts(state, CATALOG)


def test_replayed_alerts_keep_their_ids() -> None:
    events = example_6()
    a = run(events, vn(2026, 3, 12))
    b = run(list(reversed(events)), vn(2026, 3, 20))
    assert [x.alert_id for x in a.alerts] == [x.alert_id for x in b.alerts]
    assert len({x.alert_id for x in a.alerts}) == len(a.alerts)


def test_sample_catalogue_lead_is_eight_hours() -> None:
    assert SAMPLE.at_risk_lead == timedelta(hours=8)
    lead4 = parse_catalog(b"calendar: {at_risk_lead_hours: 4}\nprocedures: [{code: P, name: p}]")
    state = DossierState("D1")
    state = apply_event(
        state,
        received(vn(2026, 3, 2, 8), "P", processing_time=ProcessingTime(3, TimeUnit.WORKING_DAYS)),
        lead4,
    )
    # Due Thursday 5/3 08:00; 4 working hours before: Wednesday 4/3 13:30.
    assert planned_alerts(state, lead4)[0].instant == vn(2026, 3, 4, 13, 30)
