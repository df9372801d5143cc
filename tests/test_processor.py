"""What the worker does with an event or a timer (streams/processor.py), without Faust.

Instants are worked out by hand from docs/domain.md: office hours 07:30–11:30 and 13:00–17:00,
at-risk lead 8 working hours.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import msgspec
import pytest

from dossierflow.rules.calendar import VIETNAM
from dossierflow.rules.catalog import load_catalog, parse_catalog
from dossierflow.rules.evaluation import Evaluation, evaluate_folded
from dossierflow.schemas.event import DossierEvent, EventType, ProcessingTime, TimeUnit
from dossierflow.streams import processor as processor_module
from dossierflow.streams.processor import DossierProcessor, Effects, _Leaving
from dossierflow.streams.state import DossierRecord, decode_record, encode_record

PROCESSOR = DossierProcessor(load_catalog(), closed_retention=timedelta(days=30))
T = EventType
_ids = itertools.count()


def vn(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=VIETNAM)


def ev(kind: EventType, at: datetime, dossier_id: str = "D1", **fields: Any) -> DossierEvent:
    return DossierEvent(
        schema_version=1, event_id=f"E{next(_ids)}", dossier_id=dossier_id, type=kind,
        occurred_at=at, **fields,
    )


def received(at: datetime, value: float, unit: TimeUnit, dossier_id: str = "D1") -> DossierEvent:
    # A procedure with no cut-off and no lead of its own: the stated time alone decides.
    return ev(
        T.RECEIVED, at, dossier_id, unit_code="X-01", procedure_code="1.004227",
        channel="ONLINE", processing_time=ProcessingTime(value=value, unit=unit),
    )


def apply_all(events: list[DossierEvent], clock: datetime) -> Effects:
    record: DossierRecord | None = None
    effects = None
    for event in events:
        effects = PROCESSOR.on_event(record, event, partition=0, clock=clock)
        record = effects.record
    assert effects is not None
    return effects


def kinds_and_instants(effects: Effects) -> list[tuple[str, datetime]]:
    return [(alert.kind, alert.at) for alert in effects.alerts]


def test_alert_before_closing_event_fires_when_clock_passes_it() -> None:
    """Issue 9, first example: 12 working hours from Tue 2026-09-29 15:36:47 is due Thu
    10-01 10:06:47 (1 h 23 m 13 s Tue, 8 h Wed, 2 h 36 m 47 s Thu); AT_RISK 8 working
    hours before, Wed 09-30 10:06:47. RESOLVED at 12:36:49 closes the dossier after that
    instant, while the event-time clock is still before it."""
    history = [
        received(vn(2026, 9, 29, 15, 36, 47), 12, TimeUnit.WORKING_HOURS),
        ev(T.RESOLVED, vn(2026, 9, 30, 12, 36, 49)),
    ]
    closed = apply_all(history, clock=vn(2026, 9, 30, 9))
    assert closed.alerts == []
    assert closed.record is not None, "the dossier left the table with an alert pending"
    assert closed.record.next_timer_at == vn(2026, 9, 30, 10, 6, 47)

    fired = PROCESSOR.on_timer(closed.record, clock=vn(2026, 9, 30, 10, 6, 47))
    assert kinds_and_instants(fired) == [("AT_RISK", vn(2026, 9, 30, 10, 6, 47))]
    assert fired.record is not None
    assert fired.record.next_timer_at == vn(2026, 9, 30, 12, 36, 49) + timedelta(days=30)


def test_second_apology_before_closing_event_raises_the_limit_when_clock_passes_it() -> None:
    """Issue 9, second example: a second APOLOGY_ISSUED at 2026-09-24 01:01:47, then
    RESOLVED on 09-28, applied while the clock is still on 09-23."""
    second_apology = vn(2026, 9, 24, 1, 1, 47)
    history = [
        received(vn(2026, 9, 21, 8), 10, TimeUnit.WORKING_DAYS),
        ev(T.APOLOGY_ISSUED, vn(2026, 9, 22, 9), new_due_at=vn(2026, 10, 12, 17)),
        ev(T.APOLOGY_ISSUED, second_apology, new_due_at=vn(2026, 10, 16, 17)),
        ev(T.RESOLVED, vn(2026, 9, 28, 10)),
    ]
    closed = apply_all(history, clock=vn(2026, 9, 23, 12))
    assert closed.alerts == []
    assert closed.record is not None
    assert closed.record.next_timer_at == second_apology

    fired = PROCESSOR.on_timer(closed.record, clock=vn(2026, 9, 28, 10))
    assert kinds_and_instants(fired) == [("RESCHEDULE_LIMIT_EXCEEDED", second_apology)]


def test_a_closed_dossier_with_nothing_pending_leaves_the_table_after_retention() -> None:
    history = [
        received(vn(2026, 3, 2, 8), 5, TimeUnit.WORKING_DAYS),
        ev(T.RESOLVED, vn(2026, 3, 3, 9)),
    ]
    kept = apply_all(history, clock=vn(2026, 3, 3, 9))
    assert kept.record is not None
    assert kept.record.next_timer_at == vn(2026, 4, 2, 9)
    assert PROCESSOR.on_timer(kept.record, clock=vn(2026, 4, 2, 9)).record is None


def test_a_closed_dossier_with_nothing_pending_leaves_at_its_timer_without_evaluating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    processor = DossierProcessor(load_catalog(), closed_retention=timedelta(days=30))
    record: DossierRecord | None = None
    for event in [received(vn(2026, 3, 2, 8), 5, TimeUnit.WORKING_DAYS),
                  ev(T.RESOLVED, vn(2026, 3, 3, 9))]:
        record = processor.on_event(record, event, partition=0, clock=vn(2026, 3, 3, 9)).record
    assert record is not None and record.next_timer_at == vn(2026, 4, 2, 9)
    processor._folds.clear()  # an evaluation would fold the dossier again
    leaving = processor._leaving["D1"]
    copy = msgspec.structs.replace(record, emitted=list(record.emitted))  # as loaded
    assert processor.on_timer(copy, clock=vn(2026, 4, 2, 9)) == Effects(record=None)
    assert "D1" not in processor._folds
    # A record decoded from the table (its history a new list) is told by its events.
    processor._leaving["D1"] = leaving
    decoded = decode_record(encode_record(record))
    evaluated: list[str] = []

    def counted(dossier_id: str, *args: Any) -> Evaluation:
        evaluated.append(dossier_id)
        return evaluate_folded(dossier_id, *args)

    monkeypatch.setattr(processor_module, "evaluate_folded", counted)
    assert processor.on_timer(decoded, clock=vn(2026, 4, 2, 9)) == Effects(record=None)
    assert evaluated == []
    assert "D1" not in processor._folds
    # One with another history is evaluated, with the same end.
    processor._leaving["D1"] = leaving._replace(events=leaving.events + 1)
    assert processor.on_timer(decoded, clock=vn(2026, 4, 2, 9)) == Effects(record=None)
    assert evaluated == ["D1"]


def test_a_dossier_leaving_the_table_leaves_no_fold_behind() -> None:
    # Kept, the folds of dossiers gone from the table held most of a 240,000-event run's
    # heap, which every full collection of the garbage collector scanned (docs/benchmarks.md).
    processor = DossierProcessor(load_catalog(), closed_retention=timedelta(days=30))
    records = {}
    for dossier_id in ("D1", "D2"):
        record: DossierRecord | None = None
        for event in [received(vn(2026, 3, 2, 8), 5, TimeUnit.WORKING_DAYS, dossier_id),
                      ev(T.RESOLVED, vn(2026, 3, 3, 9), dossier_id)]:
            record = processor.on_event(record, event, partition=0,
                                        clock=vn(2026, 3, 3, 9)).record
        assert record is not None
        records[dossier_id] = record
    assert {"D1", "D2"} <= processor._folds.keys()
    expires = vn(2026, 4, 2, 9)
    as_saved = msgspec.structs.replace(records["D1"], emitted=list(records["D1"].emitted))
    assert processor.on_timer(as_saved, clock=expires).record is None  # without evaluating
    del processor._leaving["D2"]  # as after a restart: no note, so evaluated
    as_decoded = decode_record(encode_record(records["D2"]))
    assert processor.on_timer(as_decoded, clock=expires).record is None
    assert not {"D1", "D2"} & processor._folds.keys()


def test_a_leaving_dossier_whose_last_alerts_were_not_saved_publishes_them_on_leaving() -> None:
    # The scan that fired its AT_RISK alert was not delivered: the table still holds the
    # record before it (same history), and the timer at its expiry must publish the alert.
    processor = DossierProcessor(load_catalog(), closed_retention=timedelta(days=30))
    history = [
        received(vn(2026, 9, 29, 15, 36, 47), 12, TimeUnit.WORKING_HOURS),
        ev(T.RESOLVED, vn(2026, 9, 30, 12, 36, 49)),
    ]
    record: DossierRecord | None = None
    for event in history:
        record = processor.on_event(record, event, partition=0, clock=vn(2026, 9, 30, 9)).record
    assert record is not None
    unsaved = decode_record(encode_record(record))  # its history: the same events
    fired = processor.on_timer(record, clock=vn(2026, 9, 30, 10, 6, 47))
    assert kinds_and_instants(fired) == [("AT_RISK", vn(2026, 9, 30, 10, 6, 47))]
    expires = vn(2026, 9, 30, 12, 36, 49) + timedelta(days=30)
    left = processor.on_timer(unsaved, clock=expires)
    assert left.record is None
    assert kinds_and_instants(left) == [("AT_RISK", vn(2026, 9, 30, 10, 6, 47))]


def test_a_late_pause_contradicts_the_at_risk_alert_already_published() -> None:
    """docs/domain.md's pause example without its RESUMED: 5 working days from Mon 2026-03-02
    08:00, due Mon 03-09 08:00, AT_RISK Fri 03-06 08:00. The pause of Tue 03-03 arrives after
    the clock passed Fri 08:00: the full history has no AT_RISK (still paused)."""
    clock = vn(2026, 3, 6, 10)
    first = apply_all([received(vn(2026, 3, 2, 8), 5, TimeUnit.WORKING_DAYS)], clock)
    assert kinds_and_instants(first) == [("AT_RISK", vn(2026, 3, 6, 8))]
    pause = ev(T.SUPPLEMENT_REQUESTED, vn(2026, 3, 3, 9))
    late = PROCESSOR.on_event(first.record, pause, partition=0, clock=clock, late=True)
    assert [(a.kind.value, a.at) for a in late.contradicted] == [("AT_RISK", vn(2026, 3, 6, 8))]
    assert late.alerts == []


def test_a_late_event_that_changes_no_alert_contradicts_nothing() -> None:
    clock = vn(2026, 3, 6, 10)
    first = apply_all([received(vn(2026, 3, 2, 8), 5, TimeUnit.WORKING_DAYS)], clock)
    transfer = ev(T.TRANSFERRED, vn(2026, 3, 3, 9), unit_code="X-02")
    late = PROCESSOR.on_event(first.record, transfer, partition=0, clock=clock, late=True)
    assert late.contradicted == []


UNKNOWN_CODE = "9.999"
CATALOG_WITH_IT = parse_catalog(
    b"""
calendar: {overrides_file: default}
procedures:
  - {code: "9.999", name: learnt later, processing_time: {value: 5, unit: working_days}}
""",
    "catalog-with-9.999",
)


def received_unknown(at: datetime) -> DossierEvent:
    return ev(T.RECEIVED, at, "U1", unit_code="X-01", procedure_code=UNKNOWN_CODE,
              channel="ONLINE")


def test_a_dossier_of_an_unknown_procedure_is_flagged_once() -> None:
    first = PROCESSOR.on_event(None, received_unknown(vn(2026, 3, 2, 8)), 0, vn(2026, 3, 2, 8))
    assert first.newly_unknown_procedure
    assert first.record is not None and first.record.procedure_unknown
    assert first.facts[0].due_at is None and first.record.next_timer_at is None
    transfer = ev(T.TRANSFERRED, vn(2026, 3, 3, 9), "U1", unit_code="X-02")
    second = PROCESSOR.on_event(first.record, transfer, 0, vn(2026, 3, 3, 9))
    assert not second.newly_unknown_procedure
    assert second.record is not None and second.record.procedure_unknown


def test_a_procedure_given_its_time_on_the_event_is_not_unknown() -> None:
    event = ev(T.RECEIVED, vn(2026, 3, 2, 8), "U2", unit_code="X-01",
               procedure_code=UNKNOWN_CODE, channel="ONLINE",
               processing_time=ProcessingTime(value=5, unit=TimeUnit.WORKING_DAYS))
    effects = PROCESSOR.on_event(None, event, 0, vn(2026, 3, 2, 8))
    assert not effects.newly_unknown_procedure
    assert effects.record is not None and not effects.record.procedure_unknown


def test_a_reloaded_catalogue_that_knows_the_procedure_gives_the_deadline_and_alerts() -> None:
    """5 working days from Mon 2026-03-02 08:00: due Mon 03-09 08:00 (docs/domain.md, Pauses),
    AT_RISK Fri 03-06 08:00, OVERDUE 00:00 on Tue 03-10."""
    first = PROCESSOR.on_event(None, received_unknown(vn(2026, 3, 2, 8)), 0, vn(2026, 3, 2, 8))
    assert first.record is not None
    unchanged = PROCESSOR.on_catalog_reloaded(first.record, vn(2026, 3, 10, 9))
    assert unchanged is None

    reloaded = replace(PROCESSOR, catalog=CATALOG_WITH_IT)
    known = reloaded.on_catalog_reloaded(first.record, vn(2026, 3, 10, 9))
    assert known is not None and known.record is not None
    assert not known.record.procedure_unknown
    assert [fact.due_at for fact in known.facts] == [vn(2026, 3, 9, 8)]
    assert kinds_and_instants(known) == [
        ("AT_RISK", vn(2026, 3, 6, 8)), ("OVERDUE", vn(2026, 3, 10)),
    ]


def test_an_overdue_alert_of_a_closed_history_fires_when_event_time_reaches_it() -> None:
    # From examples/sample-events.jsonl (HS08-000005): received Thursday 19/3 16:04 after the
    # 15:00 cut-off of procedure 1.001193 (same-day), so the clock starts Friday 07:30 and
    # the deadline is Friday 20/3 17:00, at risk from 15:00 (its 2-hour lead), overdue from
    # Saturday 21/3 00:00; resolved on Monday 23/3. Both events reach the worker while event
    # time is still Friday 20/3 (noon).
    history = [
        ev(T.RECEIVED, vn(2026, 3, 19, 16, 4), "HS08-000005", unit_code="S-XD",
           procedure_code="1.001193", channel="POSTAL"),
        ev(T.RESOLVED, vn(2026, 3, 23, 8, 51), "HS08-000005"),
    ]
    closed = apply_all(history, clock=vn(2026, 3, 20, 12))
    assert closed.alerts == []  # not yet: event time is before the overdue instant
    assert closed.record is not None
    assert closed.record.next_timer_at == vn(2026, 3, 20, 15)  # not the expiry, 30 days on
    woken = PROCESSOR.on_timer(closed.record, vn(2026, 3, 23, 9))
    assert kinds_and_instants(woken) == [("AT_RISK", vn(2026, 3, 20, 15)),
                                         ("OVERDUE", vn(2026, 3, 21))]
    assert woken.record is not None
    assert woken.record.next_timer_at == vn(2026, 3, 23, 8, 51) + timedelta(days=30)


MARCH_2026_ONLY = DossierProcessor(parse_catalog(
    b"""
calendar:
  weekend: [mon, tue, wed, thu, fri, sat, sun]
  overrides: {2026: {working_days: [2026-03-02, 2026-03-03, 2026-03-04, 2026-03-05]}}
""",
    "march-2026-only",
))
"""A calendar with no working time after March 2026: a restart in 2045 cannot be computed."""


def test_an_event_the_rules_fail_on_leaves_the_record_as_it_was() -> None:
    """The worker dead-letters such an event (issue 18) and goes on from the record: the
    failed event must not stay in its history, where every later evaluation would fail."""
    record: DossierRecord | None = None
    for event in (received(vn(2026, 3, 2, 8), 1, TimeUnit.WORKING_DAYS),
                  ev(T.SUPPLEMENT_REQUESTED, vn(2026, 3, 2, 9))):
        effects = MARCH_2026_ONLY.on_event(record, event, partition=0, clock=vn(2026, 3, 2, 9))
        record = effects.record
    assert record is not None
    before = encode_record(record)
    with pytest.raises(ValueError, match="no working time"):
        MARCH_2026_ONLY.on_event(record, ev(T.RESUMED, vn(2045, 3, 2, 9)), partition=0,
                                 clock=vn(2045, 3, 2, 9))
    assert encode_record(record) == before
    resumed = MARCH_2026_ONLY.on_event(record, ev(T.RESUMED, vn(2026, 3, 3, 9)), partition=0,
                                       clock=vn(2026, 3, 3, 9))
    assert [fact.due_at for fact in resumed.facts] == [vn(2026, 3, 4, 9)]


FREE_TEXT = "Ông Nguyễn Văn A, 0912 345 678, xin rút hồ sơ"
"""What a free-text `reason` may hold: a name and a phone number."""


def _history_reasons(processor: DossierProcessor) -> list[str | None]:
    record = None
    for event in (
        received(vn(2026, 3, 2, 8), 5, TimeUnit.WORKING_DAYS),
        ev(T.SUPPLEMENT_REQUESTED, vn(2026, 3, 2, 9), reason=FREE_TEXT),
        ev(T.WITHDRAWN, vn(2026, 3, 3, 9), reason=FREE_TEXT),
    ):
        record = processor.on_event(record, event, partition=0, clock=vn(2026, 3, 3, 9)).record
    assert record is not None
    assert (FREE_TEXT.encode() in encode_record(record)) == (processor.keep_reason)
    return [event.reason for event in record.history]


def test_free_text_is_not_kept_in_the_record_by_default() -> None:
    """Issue 18: `reason` (up to 1,000 characters) reached the table and its changelog."""
    assert _history_reasons(PROCESSOR) == [None, None, None]


def test_free_text_is_kept_when_the_setting_says_so() -> None:
    keeping = replace(PROCESSOR, keep_reason=True)
    assert _history_reasons(keeping) == [None, FREE_TEXT, FREE_TEXT]


def test_free_text_of_a_record_stored_before_is_dropped_at_its_next_event() -> None:
    stored = replace(PROCESSOR, keep_reason=True).on_event(
        None, ev(T.SUBMITTED, vn(2026, 3, 2, 7), reason=FREE_TEXT), partition=0,
        clock=vn(2026, 3, 2, 7),
    ).record
    after = PROCESSOR.on_event(stored, received(vn(2026, 3, 2, 8), 5, TimeUnit.WORKING_DAYS),
                               partition=0, clock=vn(2026, 3, 2, 8)).record
    assert after is not None and [e.reason for e in after.history] == [None, None]


def test_a_kept_fold_gives_what_a_fold_from_the_first_event_gives() -> None:
    # The processor goes on from a dossier's last fold; a late event lands in its middle,
    # so only the prefix before it may be kept. Each step against a processor keeping none.
    events = [
        received(vn(2026, 3, 2, 8), 16, TimeUnit.WORKING_HOURS),
        ev(T.SUPPLEMENT_REQUESTED, vn(2026, 3, 3, 9)),
        ev(T.RESUMED, vn(2026, 3, 4, 9)),
        ev(T.TRANSFERRED, vn(2026, 3, 2, 10), unit_code="X-02"),  # late: before the pause
        ev(T.RESOLVED, vn(2026, 3, 5, 9)),
    ]
    keeping = DossierProcessor(load_catalog())
    kept: DossierRecord | None = None
    fresh: DossierRecord | None = None
    clock = vn(2026, 3, 6, 8)
    for event in events:
        by_kept = keeping.on_event(kept, event, partition=0, clock=clock, late=True)
        by_fresh = DossierProcessor(load_catalog()).on_event(
            fresh, event, partition=0, clock=clock, late=True
        )
        assert by_kept == by_fresh
        kept, fresh = by_kept.record, by_fresh.record
        assert kept is not None and fresh is not None
        assert keeping.on_timer(kept, clock + timedelta(days=9)) == DossierProcessor(
            load_catalog()
        ).on_timer(fresh, clock + timedelta(days=9))


def test_a_leaving_dossier_is_evaluated_at_a_clock_before_the_one_that_settled_it() -> None:
    # An earlier clock (a partition's clock after a rebalance) may leave alerts to come.
    history = [received(vn(2026, 3, 2, 8), 5, TimeUnit.WORKING_DAYS)]
    record = DossierRecord(history=history, partition=0, emitted=["A1"])
    leaving = _Leaving(1, history[-1].event_id, ("A1",), since=vn(2026, 5, 1),
                       expires=vn(2026, 4, 2, 9))
    assert leaving.leaves(record, vn(2026, 5, 1))
    assert not leaving.leaves(record, vn(2026, 4, 30))
