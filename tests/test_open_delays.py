"""Who causes the delay of a dossier still open (rules/steps.py, `delay_causes_at` and
`open_delay`), hand-worked on the official calendar (07:30-11:30, 13:00-17:00, Monday to
Friday; no holiday in the week of 2 March 2026) with test_steps' dossier D1: procedure P3,
received Mon 2 March 08:00, due Thu 5 March 08:00, so overdue from Fri 6 March 00:00.

Step 1 (PB-A, Mon 08:00 to 16:00, due 16:30) is in time; step 2 (PB-B) starts Mon 16:00,
due Tue 16:00 (8 working hours: Mon 16-17 and Tue 07:30-11:30, 13:00-16:00).

| case | open step judged | late? | its overrun | `first` |
|---|---|---|---|---|
| step 2 open, judged Fri 00:00 | Fri 00:00 | ran out Tue 16:00 | 1 + 8 + 8 + 8 - 8 = 17 h | PB-B |
| step 2 open, judged Tue 15:00 | Tue 15:00 | no | - | nobody |
| supplement asked Tue 09:00, judged Fri 00:00 | Tue 09:00 (the wait's start) | no | - | nobody |
| supplement asked Wed 09:00, judged Fri 00:00 | Wed 09:00 | yes | 1 + 8 + 1.5 - 8 = 2.5 h | PB-B |
| step 2 ended Tue 15:00; step 3 (PB-X) due Thu 17:00 | Fri 00:00 | yes | 18 - 18 = 0 h | PB-X |

The last is the night rule: at midnight the step's deadline has passed though no working
minute has since; a step that ended at 17:30 would not have overrun, an open one is late.

`largest`: step 1 due Mon 10:00 instead (2 h allotted, 6.5 h held: 4.5 h over). Step 2's
overrun passes 4.5 h when it has held the dossier 8 + 4.5 = 12.5 h: Mon 1 h, Tue 8 h, Wed
07:30 + 3.5 h = 11:00. Up to Wed 11:00 PB-A (equal overruns: the first), after it PB-B.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dossierflow.rules.evaluation import evaluate
from dossierflow.rules.records import fact_records
from dossierflow.rules.steps import (
    DelayCause,
    OpenDelay,
    ProcessingStep,
    delay_causes_at,
    open_delay,
)
from dossierflow.schemas.event import DossierEvent
from tests.test_steps import CATALOG, HISTORY, T, ev, step_started, vn

CALENDAR = CATALOG.calendar
FIRST, LARGEST, EVERY = DelayCause.FIRST, DelayCause.LARGEST, DelayCause.EVERY
STEP_1 = ProcessingStep("1", "PB-A", vn(2, 8), vn(2, 16, 30), ended_at=vn(2, 16))
STEP_1_LATE = ProcessingStep("1", "PB-A", vn(2, 8), vn(2, 10), ended_at=vn(2, 16))
STEP_2 = ProcessingStep("2", "PB-B", vn(2, 16), vn(3, 16))
STEP_2_IN_TIME = ProcessingStep("2", "PB-B", vn(2, 16), vn(3, 16), ended_at=vn(3, 15))
STEP_3 = ProcessingStep("3", "PB-X", vn(3, 15), vn(4, 17))


def causes(ended: tuple[ProcessingStep, ...], open_step: ProcessingStep | None,
           at: datetime, rule: DelayCause = FIRST,
           waiting_since: datetime | None = None) -> tuple[str, ...]:
    return delay_causes_at(ended, open_step, waiting_since, CALENDAR, rule, at)


def test_an_open_step_whose_time_ran_out_caused_the_delay() -> None:
    assert causes((STEP_1,), STEP_2, vn(6, 0)) == ("PB-B",)
    assert causes((STEP_1,), STEP_2, vn(3, 15)) == ()


def test_an_open_step_past_its_deadline_is_late_at_midnight_with_no_working_time_since() -> None:
    assert causes((STEP_1, STEP_2_IN_TIME), STEP_3, vn(6, 0)) == ("PB-X",)
    # The same step ended at 17:30 on its last day has not overrun: nobody.
    ended = ProcessingStep("3", "PB-X", vn(3, 15), vn(4, 17), ended_at=vn(4, 17, 30))
    assert causes((STEP_1, STEP_2_IN_TIME, ended), None, vn(6, 0)) == ()


def test_a_wait_for_the_applicant_judges_the_step_when_the_wait_began() -> None:
    assert causes((STEP_1,), STEP_2, vn(6, 0), waiting_since=vn(3, 9)) == ()
    assert causes((STEP_1,), STEP_2, vn(6, 0), waiting_since=vn(4, 9)) == ("PB-B",)


@pytest.mark.parametrize(
    ("rule", "before", "after"),
    [
        (FIRST, ("PB-A",), ("PB-A",)),
        (LARGEST, ("PB-A",), ("PB-B",)),
        (EVERY, ("PB-A", "PB-B"), ("PB-A", "PB-B")),
    ],
)
def test_each_rule_weighs_the_open_step_against_the_ended_ones(
    rule: DelayCause, before: tuple[str, ...], after: tuple[str, ...]
) -> None:
    assert causes((STEP_1_LATE,), STEP_2, vn(4, 11), rule) == before  # 4.5 h each
    assert causes((STEP_1_LATE,), STEP_2, vn(4, 11, 1), rule) == after


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (FIRST, OpenDelay(("PB-A",))),
        (LARGEST, OpenDelay(("PB-A",), ("PB-B",), vn(4, 11))),
        (EVERY, OpenDelay(("PB-A",), ("PB-A", "PB-B"), vn(3, 16))),
    ],
)
def test_the_stored_answer_says_when_it_changes(rule: DelayCause, expected: OpenDelay) -> None:
    assert open_delay((STEP_1_LATE,), STEP_2, None, CALENDAR, rule, vn(2, 16)) == expected


def test_nothing_changes_while_the_dossier_waits_or_without_an_open_step() -> None:
    waiting = open_delay((STEP_1,), STEP_2, vn(4, 9), CALENDAR, FIRST, vn(4, 9))
    assert waiting == OpenDelay(("PB-B",))
    assert open_delay((STEP_1_LATE,), None, None, CALENDAR, FIRST, vn(2, 16)) == OpenDelay(
        ("PB-A",)
    )


STATES = [
    ((STEP_1,), STEP_2, None),
    ((STEP_1_LATE,), STEP_2, None),
    ((STEP_1,), STEP_2, vn(3, 9)),
    ((STEP_1,), STEP_2, vn(4, 9)),
    ((STEP_1, STEP_2_IN_TIME), STEP_3, None),
    ((STEP_1_LATE, STEP_2_IN_TIME), STEP_3, None),
    ((), ProcessingStep("9", "PB-B", vn(2, 16), vn(2, 9)), None),  # deadline before start
]


@pytest.mark.parametrize("rule", list(DelayCause))
@pytest.mark.parametrize(("ended", "open_step", "waiting_since"), STATES)
def test_the_stored_answer_is_the_rules_at_every_instant_after_the_last_event(
    rule: DelayCause,
    ended: tuple[ProcessingStep, ...],
    open_step: ProcessingStep,
    waiting_since: datetime | None,
) -> None:
    """Every quarter hour of two weeks, and a millisecond either side of each change."""
    as_of = max(open_step.started_at, waiting_since or open_step.started_at)
    stored = open_delay(ended, open_step, waiting_since, CALENDAR, rule, as_of)
    instants = [as_of + timedelta(minutes=15 * n) for n in range(1, 4 * 24 * 14)]
    if stored.changes_at is not None:
        tick = timedelta(milliseconds=1)
        instants += [stored.changes_at, stored.changes_at + tick, stored.changes_at - tick]
    for at in instants:
        if at > as_of:
            assert stored.at(at) == causes(ended, open_step, at, rule, waiting_since), at


def open_fact_fields(history: list[DossierEvent]) -> tuple[object, ...]:
    last = fact_records(evaluate("D1", history, CATALOG, vn(9, 0)), CATALOG)[-1]
    return (last.open_delay_caused_by, last.open_delay_caused_by_later,
            last.open_delay_changes_at)


def test_the_facts_of_an_open_dossier_carry_the_answer_and_a_closed_ones_do_not() -> None:
    assert open_fact_fields(HISTORY[:4]) == ((), ("PB-B",), vn(3, 16))
    waiting = [*HISTORY[:4], ev("p1", T.SUPPLEMENT_REQUESTED, vn(4, 9))]
    assert open_fact_fields(waiting) == (("PB-B",), (), None)
    assert open_fact_fields(HISTORY) == ((), (), None)  # resolved: delay_caused_by says it
    assert open_fact_fields(HISTORY[:1]) == ((), (), None)  # no step
    step_3 = [*HISTORY[:3], step_started("s3", "3", "PB-X", vn(2, 16), vn(2, 17))]
    assert open_fact_fields(step_3) == ((), ("PB-X",), vn(2, 17))
