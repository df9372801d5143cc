"""Supplement and apology compliance, and the APOLOGY_DUE alert (rules/compliance.py).

Every instant is worked out by hand on the official calendar of spring 2026: Monday 27/4 is
the Hùng Kings' day off (10/3 lunar fell on Sunday 26/4), Thursday 30/4 and Friday 1/5 are
holidays, so from Friday 24/4 the next working days are Tue 28/4, Wed 29/4, Mon 4/5, Tue 5/5.
Office hours 07:30–11:30 and 13:00–17:00.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime
from typing import Any

import pytest

from dossierflow.rules.alerts import ROLES_BY_KIND, AlertKind, Role
from dossierflow.rules.calendar import VIETNAM
from dossierflow.rules.catalog import CatalogError, load_catalog, parse_catalog
from dossierflow.rules.compliance import (
    ComplianceRules,
    apology_late,
    last_apology_day,
    supplement_request_limit,
)
from dossierflow.rules.evaluation import Evaluation, evaluate
from dossierflow.rules.lifecycle import Outcome, outcome_under
from dossierflow.rules.readings import Appointment, OutcomeReading, ReportReadings
from dossierflow.rules.records import alert_record, fact_records
from dossierflow.schemas.event import DossierEvent, EventType

T = EventType
K = AlertKind
CATALOG_TEXT = """
calendar: {overrides_file: default}
compliance: {apology_due_alert: true}
procedures:
  - {code: P3, name: three days, processing_time: {value: 3, unit: working_days}}
  - {code: P1, name: one day, processing_time: {value: 1, unit: working_days}}
  - {code: IGNORE, name: pauses ignored, processing_time: {value: 3, unit: working_days},
     pause_policy: {supplement: ignore}}
units:
  - {code: X-01, name: UBND xã Đông Tiến, level: commune}
""".encode()
CATALOG = parse_catalog(CATALOG_TEXT, "compliance-catalog")
CAL = CATALOG.calendar
_ids = itertools.count()


def vn(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=VIETNAM)


def ev(kind: EventType, at: datetime, **fields: Any) -> DossierEvent:
    fields.setdefault("event_id", f"C{next(_ids)}")
    return DossierEvent(schema_version=1, dossier_id="D1", type=kind, occurred_at=at, **fields)


def received(at: datetime, procedure: str = "P3") -> DossierEvent:
    return ev(T.RECEIVED, at, unit_code="X-01", procedure_code=procedure, channel="IN_PERSON")


FRI_24_APRIL = vn(2026, 4, 24, 9)
"""P3 received then is due Mon 4/5 09:00 (Tue 28/4, Wed 29/4, Mon 4/5)."""


LATER = vn(2026, 6, 1)


def run(events: list[DossierEvent], clock: datetime = LATER) -> Evaluation:
    return evaluate("D1", events, CATALOG, clock)


def kinds_at(evaluation: Evaluation) -> list[tuple[AlertKind, datetime]]:
    return [(a.kind, a.at) for a in evaluation.alerts]


# --- supplement requests ---------------------------------------------------------------------


def test_the_supplement_limit_is_three_working_days_after_reception_across_holidays() -> None:
    assert run([received(FRI_24_APRIL)]).state.due_at == vn(2026, 5, 4, 9)
    assert supplement_request_limit(CAL, FRI_24_APRIL, ComplianceRules()) == vn(2026, 5, 4, 9)


@pytest.mark.parametrize(
    ("requested_at", "late"),
    [
        (vn(2026, 5, 4, 16, 59), False),  # Mon 4/5: the 3rd working day after reception
        (vn(2026, 5, 5, 7, 30), True),  # Tue 5/5: the 4th
        (vn(2026, 4, 29, 10), False),  # Wed 29/4: the 2nd
    ],
)
def test_a_supplement_request_on_the_fourth_working_day_is_flagged(
    requested_at: datetime, late: bool
) -> None:
    events = [received(FRI_24_APRIL), ev(T.SUPPLEMENT_REQUESTED, requested_at)]
    evaluation = run(events)
    assert evaluation.state.late_supplement_requests == int(late)
    facts = fact_records(evaluation, CATALOG)
    assert [(f.type, f.supplement_request_late) for f in facts] == [
        ("RECEIVED", False), ("SUPPLEMENT_REQUESTED", late),
    ]


def test_only_the_late_request_event_carries_the_flag() -> None:
    """A request in time, the applicant supplements, a second request on Tue 5/5 (late):
    the RESUMED in between and the later facts carry no flag of their own."""
    events = [
        received(FRI_24_APRIL),
        ev(T.SUPPLEMENT_REQUESTED, vn(2026, 4, 28, 9)),
        ev(T.RESUMED, vn(2026, 4, 29, 9)),
        ev(T.SUPPLEMENT_REQUESTED, vn(2026, 5, 5, 9)),
        ev(T.RESUMED, vn(2026, 5, 6, 9)),
    ]
    facts = fact_records(run(events), CATALOG)
    assert [f.supplement_request_late for f in facts] == [False, False, False, True, False]


def test_the_limit_is_a_catalogue_setting() -> None:
    two = parse_catalog(CATALOG_TEXT.replace(b"apology_due_alert: true",
                                             b"supplement_request_days: 2"), "two-days")
    assert two.compliance == ComplianceRules(supplement_request_days=2)
    events = [received(FRI_24_APRIL), ev(T.SUPPLEMENT_REQUESTED, vn(2026, 5, 4, 9))]
    assert evaluate("D1", events, two, vn(2026, 6, 1)).state.late_supplement_requests == 1
    assert load_catalog().compliance == ComplianceRules()  # 3 days, 1 day, no alert


def test_a_negative_limit_is_refused_with_its_field() -> None:
    with pytest.raises(CatalogError, match=r"\$\.compliance\.supplement_request_days"):
        parse_catalog(b"compliance: {supplement_request_days: -1}", "bad")


# --- apologies -------------------------------------------------------------------------------


def test_the_last_day_to_apologise_is_the_working_day_before_the_deadline() -> None:
    # Due Mon 4/5: Sun 3/5, Sat 2/5, Fri 1/5 and Thu 30/4 are days off, so Wed 29/4.
    assert last_apology_day(CAL, vn(2026, 5, 4, 9), ComplianceRules()) == date(2026, 4, 29)
    assert last_apology_day(CAL, vn(2026, 5, 6, 9), ComplianceRules()) == date(2026, 5, 5)
    two = ComplianceRules(apology_lead_days=2)
    assert last_apology_day(CAL, vn(2026, 5, 4, 9), two) == date(2026, 4, 28)


@pytest.mark.parametrize(
    ("issued_at", "late"),
    [
        (vn(2026, 4, 29, 16, 30), False),  # Wed 29/4, the last day allowed
        (vn(2026, 5, 4, 8), True),  # Mon 4/5, the deadline's day: one working day late
        (vn(2026, 5, 5, 8), True),  # after the deadline
    ],
)
def test_an_apology_after_the_last_day_is_late(issued_at: datetime, late: bool) -> None:
    assert apology_late(CAL, issued_at, vn(2026, 5, 4, 9), ComplianceRules()) is late
    events = [
        received(FRI_24_APRIL),
        ev(T.APOLOGY_ISSUED, issued_at, new_due_at=vn(2026, 5, 8, 9)),
        ev(T.APOLOGY_ISSUED, vn(2026, 5, 7, 9), new_due_at=vn(2026, 5, 11, 9)),
    ]
    evaluation = run(events)
    assert evaluation.state.apology_late is late
    # the flag is the first apology's; the second one is another violation
    assert [f.apology_late for f in fact_records(evaluation, CATALOG)] == [False, late, False]


# --- the APOLOGY_DUE alert -------------------------------------------------------------------


def test_apology_due_fires_at_the_opening_of_the_last_day_to_apologise() -> None:
    """Due Mon 4/5 09:00: APOLOGY_DUE Wed 29/4 07:30; AT_RISK 8 working hours before the
    deadline, Mon 07:30–09:00 (1 h 30) and Wed 17:00 back to 09:00 (6 h 30): Wed 29/4 09:00;
    OVERDUE Tue 5/5 00:00."""
    evaluation = run([received(FRI_24_APRIL)])
    assert kinds_at(evaluation) == [
        (K.APOLOGY_DUE, vn(2026, 4, 29, 7, 30)),
        (K.AT_RISK, vn(2026, 4, 29, 9)),
        (K.OVERDUE, vn(2026, 5, 5)),
    ]
    before = run([received(FRI_24_APRIL)], clock=vn(2026, 4, 29, 7, 29))
    assert before.alerts == () and before.next_alert_at == vn(2026, 4, 29, 7, 30)
    alert = evaluation.alerts[0]
    assert alert.deadline == vn(2026, 5, 4, 9) and not alert.apology_issued
    assert ROLES_BY_KIND[K.APOLOGY_DUE] == (Role.HANDLING_UNIT_HEAD,)


def test_apology_due_text_names_the_day_and_the_deadline() -> None:
    record = alert_record(run([received(FRI_24_APRIL)]).alerts[0], CATALOG)
    assert record.kind == "APOLOGY_DUE"
    assert [r.role for r in record.recipients] == ["handling_unit_head"]
    assert "hôm nay (29/04/2026) là ngày cuối cùng" in record.text_vi
    assert "09:00 04/05/2026" in record.text_vi and "UBND xã Đông Tiến" in record.text_vi
    assert "today (29/04/2026) is the last day" in record.text_en


@pytest.mark.parametrize(
    "later",
    [
        ev(T.RESOLVED, vn(2026, 4, 28, 10)),
        ev(T.APOLOGY_ISSUED, vn(2026, 4, 28, 10), new_due_at=vn(2026, 5, 8, 9)),
        ev(T.WITHDRAWN, vn(2026, 4, 28, 10)),
    ],
    ids=["resolved", "already-apologised", "withdrawn"],
)
def test_no_apology_due_once_resolved_closed_or_apologised(later: DossierEvent) -> None:
    assert K.APOLOGY_DUE not in {a.kind for a in run([received(FRI_24_APRIL), later]).alerts}


def test_no_apology_due_while_paused_nor_after_the_day_ended() -> None:
    """Pauses ignored by the procedure, so the deadline stays Mon 4/5 09:00. Paused over Wed
    29/4: nothing fires that day; resumed Mon 4/5 the day to apologise in time has passed, so
    APOLOGY_DUE never fires while AT_RISK, held back, fires at the resumption."""
    events = [
        received(FRI_24_APRIL, "IGNORE"),
        ev(T.SUPPLEMENT_REQUESTED, vn(2026, 4, 28, 15)),
        ev(T.RESUMED, vn(2026, 5, 4, 8)),
    ]
    assert run(events[:2], clock=vn(2026, 4, 30)).alerts == ()
    assert kinds_at(run(events)) == [(K.AT_RISK, vn(2026, 5, 4, 8)), (K.OVERDUE, vn(2026, 5, 5))]


def test_resumed_on_the_last_day_apology_due_fires_at_the_resumption() -> None:
    events = [
        received(FRI_24_APRIL, "IGNORE"),
        ev(T.SUPPLEMENT_REQUESTED, vn(2026, 4, 28, 15)),
        ev(T.RESUMED, vn(2026, 4, 29, 14)),
    ]
    # both held back by the pause, both fire at the resumption
    assert set(kinds_at(run(events))[:2]) == {
        (K.APOLOGY_DUE, vn(2026, 4, 29, 14)), (K.AT_RISK, vn(2026, 4, 29, 14)),
    }


def test_no_apology_due_when_received_on_the_last_day_itself() -> None:
    """P1 received Wed 29/4 08:00 is due Mon 4/5 08:00: its last day to apologise is the day
    of receipt, whose opening came before the clock start."""
    evaluation = run([received(vn(2026, 4, 29, 8), "P1")])
    assert evaluation.state.due_at == vn(2026, 5, 4, 8)
    assert K.APOLOGY_DUE not in {a.kind for a in evaluation.alerts}


def test_apology_due_is_off_unless_the_catalogue_turns_it_on() -> None:
    off = parse_catalog(CATALOG_TEXT.replace(b"apology_due_alert: true", b""), "off")
    kinds = {a.kind for a in evaluate("D1", [received(FRI_24_APRIL)], off, vn(2026, 6, 1)).alerts}
    assert kinds == {K.AT_RISK, K.OVERDUE}


# --- the report's readings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resolved_at", "by_date", "by_instant"),
    [
        (vn(2026, 5, 4, 8, 59), Outcome.ON_TIME, Outcome.ON_TIME),  # due Mon 4/5 09:00
        (vn(2026, 5, 4, 9), Outcome.ON_TIME, Outcome.ON_TIME),  # at the instant itself
        (vn(2026, 5, 4, 16), Outcome.ON_TIME, Outcome.OVERDUE),  # same day, after it
        (vn(2026, 4, 29, 16), Outcome.EARLY, Outcome.EARLY),
        (vn(2026, 5, 5, 8), Outcome.OVERDUE, Outcome.OVERDUE),
    ],
)
def test_the_instant_reading_differs_only_after_the_hour_on_the_due_date(
    resolved_at: datetime, by_date: Outcome, by_instant: Outcome
) -> None:
    due = vn(2026, 5, 4, 9)
    assert outcome_under(CAL, resolved_at, due, OutcomeReading.DATE) is by_date
    assert outcome_under(CAL, resolved_at, due, OutcomeReading.INSTANT) is by_instant


def test_report_readings_come_from_the_catalogue() -> None:
    assert load_catalog().report == ReportReadings()
    chosen = parse_catalog(b"report: {outcome_reading: instant, appointment: rescheduled}")
    assert chosen.report == ReportReadings(OutcomeReading.INSTANT, Appointment.RESCHEDULED)
    with pytest.raises(CatalogError, match=r"\$\.report\.appointment"):
        parse_catalog(b"report: {appointment: latest}")


def test_the_notifier_renders_apology_due_with_its_label_and_text() -> None:
    from dossierflow.notify.render import render

    alert = run([received(FRI_24_APRIL)]).alerts[0]
    record = alert_record(alert, CATALOG)  # the texts the worker publishes
    for lang, label in (("vi", "Hạn cuối gửi phiếu xin lỗi"), ("en", "Last day to apologise")):
        message = render("alert", [alert], person_name="Trưởng phòng", lang=lang,
                         message_id="m1", catalog=CATALOG)
        assert message.subject.endswith(f"{label}: hồ sơ D1" if lang == "vi"
                                        else f"{label}: dossier D1")
        assert (record.text_vi if lang == "vi" else record.text_en) in message.text
        assert label in message.lines[0]
