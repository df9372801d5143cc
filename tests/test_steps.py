"""Processing steps: allotted and actual working time, step alerts, who caused the delay.

Hand-worked on the official calendar (07:30-11:30, 13:00-17:00, Monday to Friday; no
holiday in the week of 2 March 2026). Dossier D1, procedure P3 (three working days),
received Monday 2 March 08:00: due Thursday 5 March 08:00; resolved Friday 6 March 09:00, a
day after the deadline's day: overdue.

| step | unit | started | its deadline | ended (3: resolved) | allotted | actual | overrun |
|---|---|---|---|---|---|---|---|
| 1 | PB-A | Mon 08:00 | Mon 16:30 | Mon 16:00 | 3.5 + 3.5 = 7 h | 3.5 + 3 = 6.5 h | 0 |
| 2 | PB-B | Mon 16:00 | Tue 16:00 | Thu 10:00 | 1 + 7 = 8 h | 1 + 8 + 8 + 2.5 = 19.5 h | 11.5 h |
| 3 | PB-X | Thu 10:00 | Fri 11:00 | Fri 09:00 | 1.5 + 4 + 3.5 = 9 h | 1.5 + 4 + 1.5 = 7 h | 0 |

Step alerts (lead 4 working hours): step 1 at risk Mon 11:00 (16:30 less 3.5 h of afternoon
and 0.5 h of morning), its overdue (16:30) never comes; step 2 at risk Tue 10:30 (16:00 less
3 h and 1 h), overdue Tue 16:00; step 3 at risk Thu 16:30 (11:00 less 3.5 h of Friday
morning and 0.5 h of Thursday), overdue Fri 11:00 never comes. PB-X is not a unit of the
catalogue: its alert goes to the head of the handling unit X-01.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from dossierflow.rules.alerts import AlertKind, Role
from dossierflow.rules.calendar import VIETNAM
from dossierflow.rules.catalog import parse_catalog
from dossierflow.rules.evaluation import evaluate
from dossierflow.rules.records import fact_records
from dossierflow.rules.steps import DelayCause, ProcessingStep, delay_causes
from dossierflow.schemas.event import Channel, DossierEvent, EventType
from dossierflow.streams.processor import DossierProcessor

CATALOG_YAML = """
calendar: {overrides_file: default}
procedures:
  - {code: P3, name: three days, processing_time: {value: 3, unit: working_days}}
units:
  - {code: X-01, name: UBND xã Một, level: commune}
  - {code: PB-A, name: Bộ phận một cửa, level: department, parent: X-01}
  - {code: PB-B, name: Công chức địa chính, level: department, parent: X-01}
""".encode()
CATALOG = parse_catalog(CATALOG_YAML, "steps-catalog")
T = EventType
K = AlertKind
HOUR_MS = 3_600_000


def vn(d: int, h: int, mi: int = 0) -> datetime:
    return datetime(2026, 3, d, h, mi, tzinfo=VIETNAM)


def ev(event_id: str, kind: EventType, at: datetime, sequence: int = 0,
       **fields: Any) -> DossierEvent:
    return DossierEvent(schema_version=1, event_id=event_id, dossier_id="D1", type=kind,
                        occurred_at=at, sequence=sequence, **fields)


def step_started(event_id: str, step: str, unit: str, at: datetime, due: datetime,
                 sequence: int = 1) -> DossierEvent:
    return ev(event_id, T.STEP_STARTED, at, sequence, step_id=step, step_unit_code=unit,
              step_due_at=due)


HISTORY = [
    ev("e0", T.RECEIVED, vn(2, 8), unit_code="X-01", procedure_code="P3",
       channel=Channel.IN_PERSON),
    step_started("e1", "1", "PB-A", vn(2, 8), vn(2, 16, 30)),
    ev("e2", T.STEP_COMPLETED, vn(2, 16), step_id="1"),
    step_started("e3", "2", "PB-B", vn(2, 16), vn(3, 16)),
    step_started("e4", "3", "PB-X", vn(5, 10), vn(6, 11)),
    ev("e5", T.RESOLVED, vn(6, 9)),
]
AFTER = vn(7, 0)


def step_rows(facts: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (f.event_id, f.ended_step_id, f.ended_step_unit_code, f.ended_step_allotted_ms,
         f.ended_step_actual_ms, f.ended_step_overrun_ms)
        for f in facts if f.ended_step_id is not None
    ]


EXPECTED_STEPS = [
    ("e2", "1", "PB-A", 7 * HOUR_MS, int(6.5 * HOUR_MS), 0),
    ("e4", "2", "PB-B", 8 * HOUR_MS, int(19.5 * HOUR_MS), int(11.5 * HOUR_MS)),
    ("e5", "3", "PB-X", 9 * HOUR_MS, 7 * HOUR_MS, 0),
]


def test_three_steps_one_late_give_each_its_allotted_actual_and_overrun_time() -> None:
    evaluation = evaluate("D1", HISTORY, CATALOG, AFTER)
    assert evaluation.state.outcome is not None and evaluation.state.outcome.value == "OVERDUE"
    facts = fact_records(evaluation, CATALOG)
    assert step_rows(facts) == EXPECTED_STEPS
    assert [f.delay_caused_by for f in facts] == [(), (), (), (), (), ("PB-B",)]
    assert evaluation.state.open_step is None


def test_step_alerts_fire_at_their_hand_worked_instants_to_the_steps_department() -> None:
    evaluation = evaluate("D1", HISTORY, CATALOG, AFTER)
    step_alerts = [
        (a.kind, a.at, a.step_id, a.step_department, a.audience())
        for a in evaluation.alerts if a.kind in (K.STEP_AT_RISK, K.STEP_OVERDUE)
    ]
    assert step_alerts == [
        (K.STEP_AT_RISK, vn(2, 11), "1", "PB-A", ((Role.STEP_UNIT_HEAD, "PB-A"),)),
        (K.STEP_AT_RISK, vn(3, 10, 30), "2", "PB-B", ((Role.STEP_UNIT_HEAD, "PB-B"),)),
        (K.STEP_OVERDUE, vn(3, 16), "2", "PB-B", ((Role.STEP_UNIT_HEAD, "PB-B"),)),
        # PB-X is no unit of the catalogue: the head of the handling unit gets it.
        (K.STEP_AT_RISK, vn(5, 16, 30), "3", "PB-X", ((Role.STEP_UNIT_HEAD, "X-01"),)),
    ]


def test_the_next_alert_instant_of_the_worker_timer_includes_the_open_steps() -> None:
    """The worker's timer is `Evaluation.next_alert_at`: no code of its own for steps."""
    so_far = HISTORY[:4]  # step 2 open since Monday 16:00
    assert evaluate("D1", so_far, CATALOG, vn(2, 17)).next_alert_at == vn(3, 10, 30)
    assert evaluate("D1", so_far, CATALOG, vn(3, 10, 30)).next_alert_at == vn(3, 16)


def test_the_worker_processor_publishes_a_step_alert_on_its_timer() -> None:
    processor = DossierProcessor(CATALOG)
    record = None
    for event in HISTORY[:4]:
        record = processor.on_event(record, event, partition=0, clock=event.occurred_at).record
    assert record is not None and record.next_timer_at == vn(3, 10, 30)
    effects = processor.on_timer(record, vn(3, 16))
    published = [(a.kind, a.step_unit_code, [r.role for r in a.recipients]) for a in effects.alerts]
    assert published == [  # step 1's fired at the event of Monday 16:00
        ("STEP_AT_RISK", "PB-B", ["step_unit_head"]),
        ("STEP_OVERDUE", "PB-B", ["step_unit_head"]),
    ]
    assert "Công chức địa chính" in effects.alerts[1].text_vi


def test_a_late_step_event_reissues_the_steps_it_changes() -> None:
    """Step 3's start arrives after the resolution: until then step 2 ran to the end
    (Mon 16:00 to Fri 09:00: 1 + 8 + 8 + 8 + 1.5 = 26.5 h, overrun 18.5 h); the late event
    re-issues the facts from its place on, and step 2 ends at Thursday 10:00 again."""
    processor = DossierProcessor(CATALOG)
    late = HISTORY[4]
    record = None
    for event in [e for e in HISTORY if e is not late]:
        record = processor.on_event(record, event, partition=0, clock=AFTER).record
    before = fact_records(evaluate("D1", record.history, CATALOG, AFTER), CATALOG) if record else []
    assert step_rows(before) == [
        EXPECTED_STEPS[0], ("e5", "2", "PB-B", 8 * HOUR_MS, int(26.5 * HOUR_MS),
                            int(18.5 * HOUR_MS)),
    ]
    effects = processor.on_event(record, late, partition=0, clock=AFTER, late=True)
    assert [(f.event_id, f.version) for f in effects.facts] == [("e4", 6), ("e5", 6)]
    assert step_rows(effects.facts) == EXPECTED_STEPS[1:]


def test_a_step_sent_again_changes_nothing_and_a_restated_open_step_keeps_its_start() -> None:
    # Step 1, ended Monday 16:00, sent again at 17:00 (a re-sync): ignored.
    again = step_started("e1-again", "1", "PB-A", vn(2, 17), vn(2, 16, 30))
    history = [*HISTORY[:4], again, *HISTORY[4:]]
    assert step_rows(fact_records(evaluate("D1", history, CATALOG, AFTER), CATALOG)) == (
        EXPECTED_STEPS
    )
    # The open step 2 re-sent with a later deadline (Wednesday 16:00: 8 h more allotted).
    restated = step_started("e3-again", "2", "PB-B", vn(3, 9), vn(4, 16))
    history = [*HISTORY[:4], restated, *HISTORY[4:]]
    rows = step_rows(fact_records(evaluate("D1", history, CATALOG, AFTER), CATALOG))
    assert rows[1] == ("e4", "2", "PB-B", 16 * HOUR_MS, int(19.5 * HOUR_MS), int(3.5 * HOUR_MS))


def test_a_wait_for_the_applicant_is_not_the_departments_time() -> None:
    """Supplement requested Tue 09:00, resumed Wed 09:00 (8 working hours): step 2 held the
    dossier 19.5 - 8 = 11.5 h, overrun 3.5 h; its time ran out 8 h later, Wed 16:00."""
    pause = [ev("p1", T.SUPPLEMENT_REQUESTED, vn(3, 9)), ev("p2", T.RESUMED, vn(4, 9))]
    history = [*HISTORY[:4], *pause, *HISTORY[4:]]
    evaluation = evaluate("D1", history, CATALOG, AFTER)
    rows = step_rows(fact_records(evaluation, CATALOG))
    assert rows[1] == ("e4", "2", "PB-B", 8 * HOUR_MS, int(11.5 * HOUR_MS), int(3.5 * HOUR_MS))
    overdue = [a.at for a in evaluation.alerts if a.kind is K.STEP_OVERDUE]
    assert overdue == [vn(4, 16)]


def _step(unit: str, overrun_hours: float) -> ProcessingStep:
    start = vn(2, 8)
    return ProcessingStep(unit, unit, start, start + timedelta(hours=1), ended_at=CATALOG
                          .calendar.add(start, timedelta(hours=1 + overrun_hours)))


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (DelayCause.FIRST, ("A",)),
        (DelayCause.LARGEST, ("B",)),
        (DelayCause.EVERY, ("A", "B")),
    ],
)
def test_who_caused_the_delay_follows_the_catalogues_rule(
    rule: DelayCause, expected: tuple[str, ...]
) -> None:
    """A overran by 1 h, B by 2 h, C not at all (all from Mon 08:00, 1 h allotted)."""
    steps = (_step("A", 1), _step("C", 0), _step("B", 2))
    assert delay_causes(steps, CATALOG.calendar, rule) == expected


def test_the_catalogue_sets_the_step_lead_and_the_rule() -> None:
    catalog = parse_catalog(
        CATALOG_YAML + b"steps: {at_risk_lead_hours: 1, delay_cause: largest}\n", "c"
    )
    assert catalog.steps.at_risk_lead == timedelta(hours=1)
    assert catalog.steps.delay_cause is DelayCause.LARGEST
    at_risk = [a.at for a in evaluate("D1", HISTORY, catalog, AFTER).alerts
               if a.kind is K.STEP_AT_RISK and a.step_id == "2"]
    assert at_risk == [vn(3, 15)]


def test_steps_of_a_dossier_without_steps_change_nothing() -> None:
    """Old histories (no step events) give the facts and alerts they gave before."""
    plain = [HISTORY[0], HISTORY[-1]]
    evaluation = evaluate("D1", plain, CATALOG, AFTER)
    assert [a.kind for a in evaluation.alerts] == [K.AT_RISK, K.OVERDUE]
    assert step_rows(fact_records(evaluation, CATALOG)) == []
    assert fact_records(evaluation, CATALOG)[-1].delay_caused_by == ()


def test_a_century_of_waiting_during_a_step_computes() -> None:
    """The schema's widest instants: a supplement wait of 2000-2099 during step 1; the event
    must not fail (docs/domain.md, Bounds). The step was allotted no working time (Monday
    3/1/2000 is the calendar's day off for New Year's Day, a Saturday), so it is overdue as
    soon as its clock runs again, at the resumption."""
    first, last = datetime(2000, 1, 3, 8, tzinfo=VIETNAM), datetime(2099, 12, 30, 8, tzinfo=VIETNAM)
    history = [
        ev("c0", T.RECEIVED, first, unit_code="X-01", procedure_code="P3",
           channel=Channel.IN_PERSON),
        step_started("c1", "1", "PB-A", first, first + timedelta(hours=2)),
        ev("c2", T.SUPPLEMENT_REQUESTED, first + timedelta(hours=1)),
        ev("c3", T.RESUMED, last),
    ]
    evaluation = evaluate("D1", history, CATALOG, last)
    assert evaluation.state.open_step is not None
    step_alerts = [(a.kind, a.at) for a in evaluation.alerts
                   if a.kind in (K.STEP_AT_RISK, K.STEP_OVERDUE)]
    assert step_alerts == [(K.STEP_AT_RISK, last), (K.STEP_OVERDUE, last)]
