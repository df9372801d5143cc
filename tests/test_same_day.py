"""Same-day procedures (giải quyết trong ngày): deadline, cut-off, alerts, catalogue checks.

Expected instants are worked out by hand from the official calendar (docs/calendar.md) and
the rule of Decree 23/2015/NĐ-CP Art. 7: due the day the request is received, or the next
working day when it is received after 15:00. Office hours 07:30–11:30 and 13:00–17:00.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, time, timedelta
from typing import Any

import jsonschema
import pytest

from dossierflow.rules.alerts import AlertKind, PlannedAlert, planned_alerts
from dossierflow.rules.calendar import VIETNAM
from dossierflow.rules.catalog import CatalogError, load_catalog, parse_catalog
from dossierflow.rules.evaluation import evaluate
from dossierflow.rules.lifecycle import DossierState, Outcome, apply_event, order_history
from dossierflow.rules.progress_index import processing_duration
from dossierflow.schemas.event import (
    DossierEvent,
    EventType,
    InvalidEvent,
    ProcessingTime,
    TimeUnit,
    decode_event,
)
from dossierflow.schemas.jsonschema import event_json_schema
from tests.fixtures import FIXTURES

SAME_DAY_CATALOG = FIXTURES / "catalog-same-day.yaml"
CATALOG = load_catalog(SAME_DAY_CATALOG)
T = EventType
K = AlertKind
_ids = itertools.count()


def vn(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=VIETNAM)


def ev(kind: EventType, at: datetime, **fields: Any) -> DossierEvent:
    fields.setdefault("event_id", f"S{next(_ids)}")
    return DossierEvent(schema_version=1, dossier_id="D1", type=kind, occurred_at=at, **fields)


def received(at: datetime, procedure: str = "SD-CT", **fields: Any) -> DossierEvent:
    return ev(T.RECEIVED, at, unit_code="X-01", procedure_code=procedure, channel="IN_PERSON",
              **fields)


def state_of(*events: DossierEvent, catalog: Any = CATALOG) -> DossierState:
    state = DossierState("D1")
    for event in order_history(events):
        state = apply_event(state, event, catalog)
    return state


# --- the deadline ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received_at", "due_at"),
    [
        # Received Monday morning: due at that day's close.
        (vn(2026, 3, 2, 8), vn(2026, 3, 2, 17)),
        # Before the office opens: the day's close still.
        (vn(2026, 3, 2, 6, 45), vn(2026, 3, 2, 17)),
        # At 15:00 itself, not "after 15 giờ": the same day.
        (vn(2026, 3, 2, 15), vn(2026, 3, 2, 17)),
        # After the cut-off: the next working day's close.
        (vn(2026, 3, 2, 15, 1), vn(2026, 3, 3, 17)),
        # After office hours: the next working day, cut-off or not.
        (vn(2026, 3, 2, 18, 30), vn(2026, 3, 3, 17)),
        # Friday after the cut-off: Monday.
        (vn(2026, 3, 6, 15, 30), vn(2026, 3, 9, 17)),
        # On a Sunday: Monday.
        (vn(2026, 3, 8, 10), vn(2026, 3, 9, 17)),
        # Tết eve: Friday 13/2/2026 after 15:00, Tết closes 16–20/2: Monday 23/2.
        (vn(2026, 2, 13, 15, 30), vn(2026, 2, 23, 17)),
        # Wednesday 29/4/2026 after 15:00: 30/4 and 1/5 are off, Monday 4/5.
        (vn(2026, 4, 29, 16), vn(2026, 5, 4, 17)),
        # Friday 2/1/2026, a day off (Công văn 12729/VPCP-KGVX): Monday 5/1.
        (vn(2026, 1, 2, 10), vn(2026, 1, 5, 17)),
        # Friday 9/1/2026 after 15:00: Saturday 10/1 is a make-up working day.
        (vn(2026, 1, 9, 16), vn(2026, 1, 10, 17)),
        # Received on that make-up Saturday: due at its close.
        (vn(2026, 1, 10, 9), vn(2026, 1, 10, 17)),
    ],
)
def test_same_day_deadline_is_the_close_of_the_day_the_clock_starts(
    received_at: datetime, due_at: datetime
) -> None:
    assert state_of(received(received_at)).due_at == due_at


def test_a_procedure_cutoff_replaces_the_same_day_default() -> None:
    # SD-16 takes requests until 16:00: 15:30 is the same day, 16:01 the next.
    assert state_of(received(vn(2026, 3, 2, 15, 30), "SD-16")).due_at == vn(2026, 3, 2, 17)
    assert state_of(received(vn(2026, 3, 2, 16, 1), "SD-16")).due_at == vn(2026, 3, 3, 17)


def test_same_day_cutoff_is_a_catalogue_setting() -> None:
    later = parse_catalog(SAME_DAY_CATALOG.read_bytes().replace(
        b"  at_risk_lead_hours: 8\n", b"  at_risk_lead_hours: 8\n  same_day_cutoff: '16:30'\n"
    ))
    none = parse_catalog(SAME_DAY_CATALOG.read_bytes().replace(
        b"  at_risk_lead_hours: 8\n", b"  at_risk_lead_hours: 8\n  same_day_cutoff: null\n"
    ))
    assert CATALOG.same_day_cutoff == time(15)
    assert state_of(received(vn(2026, 3, 2, 16)), catalog=later).due_at == vn(2026, 3, 2, 17)
    assert state_of(received(vn(2026, 3, 2, 16, 45)), catalog=later).due_at == vn(2026, 3, 3, 17)
    assert state_of(received(vn(2026, 3, 2, 16, 45)), catalog=none).due_at == vn(2026, 3, 2, 17)


def test_the_default_cutoff_is_for_same_day_only() -> None:
    # WD1 (1 working day) has no cut-off: 15:30 Monday + 8 working hours = Tuesday 15:30.
    assert state_of(received(vn(2026, 3, 2, 15, 30), "WD1")).due_at == vn(2026, 3, 3, 15, 30)


def test_an_event_processing_time_of_same_day_takes_the_same_day_cutoff() -> None:
    event = received(vn(2026, 3, 2, 15, 30), "WD1",
                     processing_time=ProcessingTime(1, TimeUnit.SAME_DAY))
    assert state_of(event).due_at == vn(2026, 3, 3, 17)


def test_same_day_close_follows_the_season() -> None:
    seasonal = parse_catalog(SAME_DAY_CATALOG.read_bytes().replace(
        b"  weekend: [sat, sun]\n",
        b"  weekend: [sat, sun]\n"
        b"  seasons: [{from: 05-01, until: 09-30, office_hours: [['07:00', '11:30'],"
        b" ['13:00', '16:30']]}]\n",
    ))
    # Monday 1/6/2026, summer hours: the office closes at 16:30.
    assert state_of(received(vn(2026, 6, 1, 9)), catalog=seasonal).due_at == vn(2026, 6, 1, 16, 30)


def test_a_restart_after_a_supplement_is_due_at_the_close_of_the_resumption_day() -> None:
    # Supplement requested Monday 10:00, resumed Tuesday 15:30 (after the cut-off): restart
    # from Wednesday's opening, due Wednesday 4/3 17:00.
    state = state_of(
        received(vn(2026, 3, 2, 8)),
        ev(T.SUPPLEMENT_REQUESTED, vn(2026, 3, 2, 10)),
        ev(T.RESUMED, vn(2026, 3, 3, 15, 30)),
    )
    assert state.due_at == vn(2026, 3, 4, 17)


@pytest.mark.parametrize(
    ("received_at", "resolved_at", "outcome"),
    [
        (vn(2026, 3, 2, 8), vn(2026, 3, 2, 16, 59), Outcome.ON_TIME),
        (vn(2026, 3, 2, 8), vn(2026, 3, 3, 8), Outcome.OVERDUE),
        # Received after the cut-off, due Tuesday, done on Monday itself: early.
        (vn(2026, 3, 2, 15, 30), vn(2026, 3, 2, 16), Outcome.EARLY),
    ],
)
def test_same_day_outcomes(received_at: datetime, resolved_at: datetime, outcome: Outcome) -> None:
    state = state_of(received(received_at), ev(T.RESOLVED, resolved_at))
    assert state.outcome is outcome


def test_average_processing_time_of_a_same_day_procedure_is_in_working_days() -> None:
    # Received Monday 08:00, resolved Monday 12:00: 3.5 working hours of 8.
    state = state_of(received(vn(2026, 3, 2, 8)), ev(T.RESOLVED, vn(2026, 3, 2, 12)))
    duration = processing_duration(state, CATALOG.calendar)
    assert duration is not None
    assert (duration.value, duration.unit, duration.days) == (0.4375, TimeUnit.SAME_DAY, 0.4375)


# --- alerts ---------------------------------------------------------------------------------


def test_no_at_risk_when_the_lead_time_is_the_whole_window() -> None:
    # The catalogue's lead is 8 working hours, the whole day: AT_RISK would fall at or before
    # the clock start (07:30), so only OVERDUE is planned, at 00:00 after the deadline's day.
    state = state_of(received(vn(2026, 3, 2, 7)))
    assert planned_alerts(state, CATALOG) == (
        PlannedAlert(K.OVERDUE, vn(2026, 3, 3, 0), vn(2026, 3, 2, 17)),
    )


def test_a_procedure_lead_time_shorter_than_the_day_raises_at_risk() -> None:
    # SD-KS warns 2 working hours before 17:00: at 15:00.
    state = state_of(received(vn(2026, 3, 2, 8), "SD-KS"))
    assert planned_alerts(state, CATALOG) == (
        PlannedAlert(K.AT_RISK, vn(2026, 3, 2, 15), vn(2026, 3, 2, 17)),
        PlannedAlert(K.OVERDUE, vn(2026, 3, 3, 0), vn(2026, 3, 2, 17)),
    )
    # Received at 15:00 itself, the moment is not after the clock start: no AT_RISK.
    late = state_of(received(vn(2026, 3, 2, 15), "SD-KS"))
    assert [p.kind for p in planned_alerts(late, CATALOG)] == [K.OVERDUE]


def test_a_dossier_given_another_deadline_takes_the_catalogues_lead() -> None:
    # SD-KS received Monday 2/3 08:00 for 5 working days, stated or only printed on the slip
    # (the portal format has no processing time): due Monday 9/3 08:00, at risk with the
    # catalogue's 8 working hours, Friday 6/3 08:00, not with SD-KS's 2 (Monday 06:00 is
    # Friday 15:00 in working time).
    five_days = ProcessingTime(value=5, unit=TimeUnit.WORKING_DAYS)
    stated = state_of(received(vn(2026, 3, 2, 8), "SD-KS", processing_time=five_days))
    printed = state_of(received(vn(2026, 3, 2, 8), "SD-KS", due_at=vn(2026, 3, 9, 8)))
    for state in (stated, printed):
        assert planned_alerts(state, CATALOG)[0] == PlannedAlert(
            K.AT_RISK, vn(2026, 3, 6, 8), vn(2026, 3, 9, 8))
    # The slip of a same-day request prints that day's close: SD-KS's own 2 hours.
    same_day = state_of(received(vn(2026, 3, 2, 8), "SD-KS", due_at=vn(2026, 3, 2, 17)))
    assert planned_alerts(same_day, CATALOG)[0].instant == vn(2026, 3, 2, 15)
    # A slip may print another hour of that day: still SD-KS's own 2 hours, not the
    # catalogue's 8, which would fall before the clock starts and plan no AT_RISK (16:30 →
    # 14:30; 17:00:59 is after the close, whose last 2 working hours start at 15:00).
    for printed_due, at_risk in ((vn(2026, 3, 2, 16, 30), vn(2026, 3, 2, 14, 30)),
                                 (vn(2026, 3, 2, 17) + timedelta(seconds=59),
                                  vn(2026, 3, 2, 15))):
        slip = state_of(received(vn(2026, 3, 2, 8), "SD-KS", due_at=printed_due))
        assert planned_alerts(slip, CATALOG)[0] == PlannedAlert(K.AT_RISK, at_risk, printed_due)


def test_a_pause_keeps_the_procedures_own_lead() -> None:
    # SD-KS received Monday 2/3 08:00 (due 17:00), waits for a payment from 09:00 to Tuesday
    # 09:00 (8 working hours, extended): due Tuesday 17:00, at risk 2 hours before, 15:00.
    state = state_of(received(vn(2026, 3, 2, 8), "SD-KS"),
                     ev(T.FINANCIAL_OBLIGATION_REQUESTED, vn(2026, 3, 2, 9)),
                     ev(T.RESUMED, vn(2026, 3, 3, 9)))
    assert state.due_at == vn(2026, 3, 3, 17)
    assert planned_alerts(state, CATALOG)[0] == PlannedAlert(
        K.AT_RISK, vn(2026, 3, 3, 15), vn(2026, 3, 3, 17))


SAMPLE = load_catalog()


@pytest.mark.parametrize("code", ["1.000894", "1.001193"])
def test_the_samples_copy_certification_and_birth_registration_are_same_day(code: str) -> None:
    # Decree 23/2015/NĐ-CP Art. 7 and Decision 1872/QĐ-BTP: received Monday 2/3 at 14:00,
    # due at 17:00 and at risk at 15:00 (the sample's 2-hour lead); received at 15:30, after
    # the cut-off, due Tuesday 3/3 at 17:00.
    state = state_of(received(vn(2026, 3, 2, 14), code), catalog=SAMPLE)
    assert planned_alerts(state, SAMPLE) == (
        PlannedAlert(K.AT_RISK, vn(2026, 3, 2, 15), vn(2026, 3, 2, 17)),
        PlannedAlert(K.OVERDUE, vn(2026, 3, 3, 0), vn(2026, 3, 2, 17)),
    )
    assert state_of(received(vn(2026, 3, 2, 15, 30), code), catalog=SAMPLE).due_at == vn(
        2026, 3, 3, 17)


def test_same_day_overdue_fires_at_midnight_and_not_before() -> None:
    # Friday 6/3 after the cut-off: due Monday 9/3 17:00, OVERDUE at Tuesday 10/3 00:00.
    history = [received(vn(2026, 3, 6, 15, 30))]
    just_before = evaluate("D1", history, CATALOG, vn(2026, 3, 10) - timedelta(microseconds=1))
    at = evaluate("D1", history, CATALOG, vn(2026, 3, 10))
    assert (just_before.alerts, just_before.overdue) == ((), False)
    assert [(a.kind, a.at) for a in at.alerts] == [(K.OVERDUE, vn(2026, 3, 10))]
    assert at.overdue


# --- validation -----------------------------------------------------------------------------


def _procedure(processing_time: str, more: str = "") -> bytes:
    return (
        "procedures:\n"
        f"  - {{code: X, name: x, processing_time: {processing_time}{more}}}\n"
    ).encode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_procedure("{value: 2, unit: same_day}"),
         "`same_day` is one day: `value` must be 1, not 2 - at `$.procedures[0].processing_time`"),
        (_procedure("{value: 0.5, unit: same_day}"), "`value` must be 1, not 0.5"),
        (_procedure("{value: 1, unit: sameday}"),
         "Invalid enum value 'sameday' - at `$.procedures[0].processing_time.unit`"),
        (_procedure("{unit: same_day}"),
         "missing required field `value` - at `$.procedures[0].processing_time`"),
        (_procedure("{value: 1, unit: same_day}", ", at_risk_lead_hours: -1"),
         "Expected `float` >= 0.0 - at `$.procedures[0].at_risk_lead_hours`"),
        (b"calendar: {same_day_cutoff: '25:00'}\n", "at `$.calendar.same_day_cutoff`"),
    ],
)
def test_bad_same_day_settings_are_refused_naming_the_field(text: bytes, message: str) -> None:
    with pytest.raises(CatalogError) as raised:
        parse_catalog(text, "bad.yaml")
    assert str(raised.value).startswith("bad.yaml: ")
    assert message in str(raised.value)


def _received_json(processing_time: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema_version": 1, "event_id": "E1", "dossier_id": "D1", "type": "RECEIVED",
        "occurred_at": "2026-03-02T08:00:00+07:00", "unit_code": "X-01",
        "procedure_code": "SD-CT", "channel": "ONLINE", "processing_time": processing_time,
    }


def test_an_event_with_a_bad_same_day_value_is_invalid_naming_the_field() -> None:
    good = _received_json({"value": 1, "unit": "same_day"})
    assert decode_event(json.dumps(good)).processing_time == ProcessingTime(1, TimeUnit.SAME_DAY)
    with pytest.raises(InvalidEvent) as raised:
        decode_event(json.dumps(_received_json({"value": 3, "unit": "same_day"})))
    assert raised.value.reason == (
        "invalid: `same_day` is one day: `value` must be 1, not 3 - at `$.processing_time`"
    )


def test_the_json_schema_accepts_same_day_with_value_one_only() -> None:
    schema = event_json_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert not list(validator.iter_errors(_received_json({"value": 1, "unit": "same_day"})))
    assert list(validator.iter_errors(_received_json({"value": 3, "unit": "same_day"})))
    assert not list(validator.iter_errors(_received_json({"value": 3, "unit": "working_days"})))


def test_an_apology_for_a_same_day_dossier_is_always_late() -> None:
    # "At the latest one day before the deadline": the last day is Friday 27/2, before the
    # Monday 2/3 reception itself, so an apology on Monday is late (docs/domain.md).
    state = state_of(
        received(vn(2026, 3, 2, 8)),
        ev(T.APOLOGY_ISSUED, vn(2026, 3, 2, 9), new_due_at=vn(2026, 3, 3, 17)),
    )
    assert state.apology_late
