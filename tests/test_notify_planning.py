"""When deliveries leave, on the working calendar (dates from docs/domain.md: Tết 2026 closes
16-20 February; Saturday 2026-08-22 is a make-up working day)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from dossierflow.notify.planning import (
    inhibited_kinds,
    is_digest,
    message_id,
    morning_digest_due,
    retry_delay,
    send_at,
)
from dossierflow.notify.recipients import Hours
from dossierflow.rules.alerts import AlertKind
from tests.notify_alerts import CATALOG, vn

CAL = CATALOG.calendar
WINDOW = timedelta(seconds=30)


def test_in_office_hours_a_delivery_waits_the_batch_window() -> None:
    assert send_at(vn("2026-03-03 09:00"), CAL, Hours.OFFICE, WINDOW) == vn("2026-03-03 09:00:30")


def test_joining_waiting_deliveries_keeps_their_instant() -> None:
    waiting = vn("2026-03-03 09:00:30")
    assert send_at(vn("2026-03-03 09:00:20"), CAL, Hours.OFFICE, WINDOW, waiting) == waiting


def test_at_lunch_a_delivery_waits_for_the_afternoon_opening() -> None:
    assert send_at(vn("2026-03-03 12:00"), CAL, Hours.OFFICE, WINDOW) == vn("2026-03-03 13:00")


def test_friday_evening_before_tet_waits_until_the_monday_after_tet() -> None:
    assert send_at(vn("2026-02-13 17:30"), CAL, Hours.OFFICE, WINDOW) == vn("2026-02-23 07:30")


def test_friday_evening_before_a_make_up_saturday_waits_until_saturday_morning() -> None:
    assert send_at(vn("2026-08-21 18:00"), CAL, Hours.OFFICE, WINDOW) == vn("2026-08-22 07:30")


def test_always_people_are_not_held_at_night() -> None:
    night = vn("2026-02-14 02:00")
    assert send_at(night, CAL, Hours.ALWAYS, WINDOW) == night + WINDOW


def test_a_message_held_over_a_closed_period_is_a_digest() -> None:
    assert is_digest(vn("2026-02-13 17:30"), vn("2026-02-23 07:30"), WINDOW)
    assert not is_digest(vn("2026-03-03 09:00"), vn("2026-03-03 09:00:30"), WINDOW)


def test_morning_digest_is_due_once_per_working_day_after_opening() -> None:
    assert not morning_digest_due(vn("2026-03-03 07:29"), CAL, date(2026, 3, 2))
    assert morning_digest_due(vn("2026-03-03 07:30"), CAL, date(2026, 3, 2))
    assert not morning_digest_due(vn("2026-03-03 10:00"), CAL, date(2026, 3, 3))
    assert not morning_digest_due(vn("2026-02-17 08:00"), CAL, date(2026, 2, 13))  # Tết
    assert morning_digest_due(vn("2026-08-22 08:00"), CAL, date(2026, 8, 21))  # make-up day


def test_overdue_silences_at_risk_and_rescheduled_overdue_silences_both() -> None:
    # Once overdue, neither "at risk" nor "last day to apologise in time" is news.
    assert inhibited_kinds(AlertKind.OVERDUE) == {AlertKind.AT_RISK, AlertKind.APOLOGY_DUE}
    assert inhibited_kinds(AlertKind.RESCHEDULED_OVERDUE) == {
        AlertKind.AT_RISK, AlertKind.APOLOGY_DUE, AlertKind.OVERDUE,
    }
    assert inhibited_kinds(AlertKind.AT_RISK) == frozenset()
    assert inhibited_kinds(AlertKind.APOLOGY_DUE) == frozenset()


def test_message_id_depends_on_person_channel_and_the_set_of_alerts_only() -> None:
    one = message_id("p", "email", ["a", "b"])
    assert one == message_id("p", "email", ["b", "a"])
    assert len({one, message_id("p", "webhook", ["a", "b"]), message_id("q", "email", ["a", "b"]),
                message_id("p", "email", ["a"])}) == 4


def test_retry_delay_doubles_within_jitter_and_stops_at_the_cap() -> None:
    rng = random.Random(7)
    for failures, ceiling in ((1, 2.0), (2, 4.0), (3, 8.0), (10, 60.0)):
        delays = [retry_delay(failures, 2.0, 60.0, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1
