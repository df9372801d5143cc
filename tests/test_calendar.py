"""Working-time calendar: holidays, make-up days, office hours and the deadline arithmetic.

Every expected instant below is worked out by hand from docs/domain.md ("The working calendar",
"Deadlines"): office hours 07:30–11:30 and 13:00–17:00, Monday–Friday, and the civil servants'
days off of each year as the Government's notices state them (tests/official_calendar.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dossierflow.rules.calendar import VIETNAM, OfficeHours, Season, WorkingCalendar
from dossierflow.rules.catalog import load_catalog, parse_catalog
from dossierflow.rules.lifecycle import clock_start, deadline
from dossierflow.rules.office_day import OfficeDay, moment_of_day
from dossierflow.schemas.event import ProcessingTime, TimeUnit
from tests import official_calendar as official
from tests import reference_calendar as walk
from tests.district2022 import working_days_2022

CAL = load_catalog().calendar
H = timedelta(hours=1)


def vn(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A local (+07:00) instant."""
    return datetime(y, mo, d, h, mi, tzinfo=VIETNAM)


# --- working days -----------------------------------------------------------------------


@pytest.mark.parametrize("day", [16, 17, 18, 19, 20])
def test_tet_2026_is_off(day: int) -> None:
    assert not CAL.is_working_day(date(2026, 2, day))


def test_days_around_tet_2026() -> None:
    assert CAL.is_working_day(date(2026, 2, 13))  # Friday before
    assert not CAL.is_working_day(date(2026, 2, 14))  # weekend
    assert not CAL.is_working_day(date(2026, 2, 15))
    assert CAL.is_working_day(date(2026, 2, 23))  # Monday after


@pytest.mark.parametrize("day", [date(2025, 4, 26), date(2026, 8, 22)])
def test_make_up_saturdays_are_working_days(day: date) -> None:
    assert day.weekday() == 5
    assert CAL.is_working_day(day)
    assert CAL.windows(day) == (
        (datetime.combine(day, time(7, 30), VIETNAM), datetime.combine(day, time(11, 30), VIETNAM)),
        (datetime.combine(day, time(13), VIETNAM), datetime.combine(day, time(17), VIETNAM)),
    )


@pytest.mark.parametrize(
    "day",
    [
        date(2025, 4, 30),
        date(2025, 5, 1),
        date(2025, 5, 2),  # swapped with Saturday 26/4
        date(2026, 8, 31),  # swapped with Saturday 22/8
        date(2026, 9, 2),  # Quốc khánh
        date(2026, 1, 1),
    ],
)
def test_holidays_and_swapped_days_are_off(day: date) -> None:
    assert not CAL.is_working_day(day)
    assert CAL.windows(day) == ()


def test_working_days_of_2022_are_the_hand_written_ones() -> None:
    """Every day of 2022 against the civil servants' 2022 schedule written out in
    tests/district2022.py (the district 2022 figures rest on it)."""
    first = date(2022, 1, 1)
    year = [first + timedelta(days=n) for n in range(365)]
    assert [d for d in year if CAL.is_working_day(d)] == working_days_2022()


@pytest.mark.parametrize("year", sorted(official.HOLIDAYS))
def test_every_day_of_the_year_is_as_the_notices_say(year: int) -> None:
    """Each day of 2019–2026 against the holiday periods and make-up Saturdays written out
    from the year's notices; the mismatches are listed, so a failure names the days."""
    wrong = [
        (day.isoformat(), "working" if official.is_working_day(day) else "off")
        for day in official.days_of(year)
        if CAL.is_working_day(day) != official.is_working_day(day)
    ]
    assert wrong == []


def test_new_year_2026_swap_gives_the_official_deadline() -> None:
    """Official Dispatch 12729/VPCP-KGVX: Friday 2/1/2026 off, Saturday 10/1 worked. Received
    Wednesday 31/12/2025 09:00 with 1 working day: 6 h on 31/12 (09:00–11:30, 13:00–17:00),
    1/1 and 2/1 off, 3–4/1 weekend, 2 h on Monday 5/1 -> 09:00."""
    start = clock_start(CAL, vn(2025, 12, 31, 9), None)
    assert deadline(CAL, start, ProcessingTime(1, TimeUnit.WORKING_DAYS)) == vn(2026, 1, 5, 9)
    # And Friday 9/1 17:00 + 1 h ends on the make-up Saturday 10/1 at 08:30.
    assert CAL.add(vn(2026, 1, 9, 17), H) == vn(2026, 1, 10, 8, 30)


def test_culture_day_2026_is_a_working_day_whatever_the_package_says() -> None:
    """`holidays` 0.109 makes 24/11/2026 a day off on Resolution 80-NQ/TW; no amended Labour
    Code or Government notice for 2026 was found, so the shipped file keeps it a working day."""
    assert CAL.public_holiday(date(2026, 11, 24)) is None
    assert CAL.is_working_day(date(2026, 11, 24))


PACKAGE_DIFFERENCES = {2026: ({date(2026, 11, 24)}, {date(2026, 1, 2)})}
"""Per confirmed year, (weekdays off in `holidays` only, weekdays off in the file only) as
checked for holidays 0.109: Culture Day 24/11/2026 (decided a working day) and the New Year
swap of 2/1/2026 (Công văn 12729/VPCP-KGVX, after the package's release)."""


@pytest.mark.parametrize("year", range(2019, 2027))
def test_the_package_differs_from_the_confirmed_years_only_where_known(year: int) -> None:
    """Fails when an upgrade of `holidays` changes a confirmed year: check the change against
    the year's notices, then update the file or this table (docs/calendar.md)."""
    catalog = load_catalog()
    assert year in catalog.arrangements.confirmed_years
    package = {d for d in holidays.country_holidays("VN", years=year) if d.weekday() < 5}
    shipped = {d for d in catalog.arrangements.days_off if d.year == year}
    assert (package - shipped, shipped - package) == PACKAGE_DIFFERENCES.get(year, (set(), set()))


def test_ordinary_saturday_is_off() -> None:
    assert not CAL.is_working_day(date(2026, 8, 29))
    assert CAL.is_working_day(date(2026, 8, 28))


def test_office_hours_per_day_is_eight_hours() -> None:
    assert OfficeHours().per_day == 8 * H


@pytest.mark.parametrize(
    "periods",
    [(), ((time(13), time(11, 30)),), ((time(7, 30), time(12)), (time(11), time(17)))],
)
def test_bad_office_hours_are_rejected(periods: tuple[tuple[time, time], ...]) -> None:
    with pytest.raises(ValueError, match="office_hours"):
        OfficeHours(periods)


# --- opening, cut-off -------------------------------------------------------------------


def test_after_hours_receipt_starts_next_opening() -> None:
    # Worked example 2: Monday 18:30 -> Tuesday 07:30.
    assert CAL.next_opening(vn(2026, 3, 2, 18, 30)) == vn(2026, 3, 3, 7, 30)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (vn(2026, 3, 2, 6, 0), vn(2026, 3, 2, 7, 30)),  # before opening
        (vn(2026, 3, 2, 9, 15), vn(2026, 3, 2, 9, 15)),  # inside
        (vn(2026, 3, 2, 11, 30), vn(2026, 3, 2, 13, 0)),  # lunch starts at the close
        (vn(2026, 3, 2, 12, 0), vn(2026, 3, 2, 13, 0)),  # lunch
        (vn(2026, 2, 13, 17, 0), vn(2026, 2, 23, 7, 30)),  # Friday close, then Tết
        (vn(2026, 8, 21, 18, 0), vn(2026, 8, 22, 7, 30)),  # make-up Saturday
        (vn(2026, 8, 29, 10, 0), vn(2026, 9, 3, 7, 30)),  # 29/8–2/9 off
    ],
)
def test_next_opening(instant: datetime, expected: datetime) -> None:
    assert CAL.next_opening(instant) == expected


def test_next_opening_converts_other_offsets() -> None:
    # 01:00 UTC is 08:00 in Hà Nội: inside office hours.
    result = CAL.next_opening(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    assert result == vn(2026, 3, 2, 8, 0)
    assert result.utcoffset() == 7 * H


def test_cutoff_moves_the_clock_to_the_next_working_day() -> None:
    cutoff = time(15)
    assert clock_start(CAL, vn(2026, 3, 2, 15, 0), cutoff) == vn(2026, 3, 2, 15, 0)
    assert clock_start(CAL, vn(2026, 3, 2, 15, 1), cutoff) == vn(2026, 3, 3, 7, 30)
    # Friday after the cut-off: Monday opening.
    assert clock_start(CAL, vn(2026, 3, 6, 16, 0), cutoff) == vn(2026, 3, 9, 7, 30)
    # Without a cut-off the same receipt starts at once.
    assert clock_start(CAL, vn(2026, 3, 2, 15, 1), None) == vn(2026, 3, 2, 15, 1)


# --- add / subtract ----------------------------------------------------------------------


def test_worked_example_1_tet() -> None:
    # Friday 2026-02-13 10:00 + 3 working days: 5.5 h on Friday, Tết 16–20, 8 h Monday 23,
    # 8 h Tuesday 24, 2.5 h on Wednesday 25 -> 10:00.
    start = clock_start(CAL, vn(2026, 2, 13, 10), None)
    due = deadline(CAL, start, ProcessingTime(3, TimeUnit.WORKING_DAYS))
    assert due == vn(2026, 2, 25, 10, 0)


def test_worked_example_2_after_hours() -> None:
    start = clock_start(CAL, vn(2026, 3, 2, 18, 30), None)
    assert start == vn(2026, 3, 3, 7, 30)
    assert deadline(CAL, start, ProcessingTime(1, TimeUnit.WORKING_DAYS)) == vn(2026, 3, 3, 17)


def test_deadline_that_fills_a_morning_ends_at_1130() -> None:
    assert CAL.add(vn(2026, 3, 2, 7, 30), 4 * H) == vn(2026, 3, 2, 11, 30)
    # ... and one filling a whole day ends at 17:00 the same day, not 07:30 the next.
    assert CAL.add(vn(2026, 3, 2, 7, 30), 8 * H) == vn(2026, 3, 2, 17, 0)
    start = clock_start(CAL, vn(2026, 3, 2, 7, 30), None)
    assert deadline(CAL, start, ProcessingTime(4, TimeUnit.WORKING_HOURS)) == vn(2026, 3, 2, 11, 30)


def test_add_across_lunch_and_night() -> None:
    assert CAL.add(vn(2026, 3, 2, 11, 0), 1 * H) == vn(2026, 3, 2, 13, 30)
    assert CAL.add(vn(2026, 3, 2, 16, 0), 2 * H) == vn(2026, 3, 3, 8, 30)
    # Starting outside office hours counts from the next opening.
    assert CAL.add(vn(2026, 3, 2, 20, 0), 1 * H) == vn(2026, 3, 3, 8, 30)


def test_add_uses_make_up_saturday() -> None:
    # Worked by hand (EX-04 of the examples): Friday 2026-08-21 15:00 + 16 h:
    # 2 h Friday, 8 h make-up Saturday 22, then 6 h on Monday 24 -> 15:00.
    assert CAL.add(vn(2026, 8, 21, 15), 16 * H) == vn(2026, 8, 24, 15, 0)
    # And around the 2025 make-up day: Friday 25/4 17:00 + 8 h ends Saturday 26/4 17:00.
    assert CAL.add(vn(2025, 4, 25, 17), 8 * H) == vn(2025, 4, 26, 17, 0)
    # Saturday 26/4 17:00 + 1 h: 27 Sunday, 28 Monday 08:30.
    assert CAL.add(vn(2025, 4, 26, 17), 1 * H) == vn(2025, 4, 28, 8, 30)


def test_add_skips_30_4_to_2_5_2025() -> None:
    # Tuesday 29/4/2025 17:00 + 1 h: 30/4, 1/5, 2/5 off, 3–4/5 weekend -> Monday 5/5 08:30.
    assert CAL.add(vn(2025, 4, 29, 17), 1 * H) == vn(2025, 5, 5, 8, 30)


def test_subtract() -> None:
    assert CAL.subtract(vn(2026, 3, 2, 11, 30), 4 * H) == vn(2026, 3, 2, 7, 30)
    assert CAL.subtract(vn(2026, 3, 3, 7, 30), 1 * H) == vn(2026, 3, 2, 16, 0)
    assert CAL.subtract(vn(2026, 3, 2, 13, 30), 1 * H) == vn(2026, 3, 2, 11, 0)
    # An afternoon exactly: starts at 13:00, not at 11:30.
    assert CAL.subtract(vn(2026, 3, 2, 17, 0), 4 * H) == vn(2026, 3, 2, 13, 0)
    # Across Tết: Monday 23/2 10:00 - 8 h: 2.5 h on Monday, then 5.5 h of Friday 13/2
    # (13:00–17:00 and 10:00–11:30) -> Friday 10:00.
    assert CAL.subtract(vn(2026, 2, 23, 10), 8 * H) == vn(2026, 2, 13, 10, 0)


def test_add_and_subtract_of_zero_and_negative() -> None:
    t = vn(2026, 3, 2, 9)
    assert CAL.add(t, timedelta()) == t
    assert CAL.subtract(t, timedelta()) == t
    assert CAL.add(t, -H) == CAL.subtract(t, H) == vn(2026, 3, 2, 8)
    assert CAL.subtract(t, -H) == CAL.add(t, H) == vn(2026, 3, 2, 10)


def test_working_time_between() -> None:
    # Monday 08:00 -> Tuesday 09:00: 3.5 + 4 + 1.5 h.
    assert CAL.working_time_between(vn(2026, 3, 2, 8), vn(2026, 3, 3, 9)) == 9 * H
    # Friday 13/2 10:00 -> Monday 23/2 07:30: only Friday's 5.5 h (Tết).
    assert CAL.working_time_between(vn(2026, 2, 13, 10), vn(2026, 2, 23, 7, 30)) == 5.5 * H
    # Saturday 22/8/2026 is a working day, Saturday 29/8 is not.
    assert CAL.working_time_between(vn(2026, 8, 22), vn(2026, 8, 23)) == 8 * H
    assert CAL.working_time_between(vn(2026, 8, 29), vn(2026, 8, 30)) == timedelta()
    # Lunch and nights count nothing; reversed order is negative.
    assert CAL.working_time_between(vn(2026, 3, 2, 11, 30), vn(2026, 3, 2, 13)) == timedelta()
    assert CAL.working_time_between(vn(2026, 3, 3, 9), vn(2026, 3, 2, 8)) == -9 * H


# --- calendar days -----------------------------------------------------------------------


def test_calendar_days_landing_on_a_working_day() -> None:
    start = vn(2026, 3, 2, 8)
    due = deadline(CAL, start, ProcessingTime(15, TimeUnit.CALENDAR_DAYS))
    assert due == vn(2026, 3, 17, 8, 0)


def test_calendar_days_move_past_weekend_and_tet() -> None:
    # Friday 13/2 10:00 + 1 day = Saturday 14; 14–15 weekend, 16–20 Tết, 21–22 weekend.
    assert CAL.add_calendar_days(vn(2026, 2, 13, 10), 1) == vn(2026, 2, 23, 10, 0)
    # Thursday 5/3 + 2 days = Saturday 7/3 -> Monday 9/3, same time of day.
    assert CAL.add_calendar_days(vn(2026, 3, 5, 14), 2) == vn(2026, 3, 9, 14, 0)


def test_calendar_days_onto_make_up_saturday() -> None:
    assert CAL.add_calendar_days(vn(2026, 8, 21, 10), 1) == vn(2026, 8, 22, 10, 0)


# --- properties --------------------------------------------------------------------------

_DAYS = st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 31))
_SPANS = st.integers(min_value=1, max_value=60 * 8 * 40).map(lambda m: timedelta(minutes=m))


@st.composite
def working_instants(draw: st.DrawFn, closed_end: bool) -> datetime:
    """An instant inside a working period: [open, close) or, with `closed_end`, (open, close]."""
    day = draw(_DAYS.filter(CAL.is_working_day))
    open_at, close_at = draw(st.sampled_from(CAL.windows(day)))
    minutes = int((close_at - open_at) / timedelta(minutes=1))
    offset = draw(st.integers(1, minutes) if closed_end else st.integers(0, minutes - 1))
    return open_at + timedelta(minutes=offset)


@st.composite
def any_instants(draw: st.DrawFn) -> datetime:
    day = draw(_DAYS)
    minute = draw(st.integers(0, 24 * 60 - 1))
    return datetime.combine(day, time(0), VIETNAM) + timedelta(minutes=minute)


@settings(max_examples=300)
@given(start=working_instants(closed_end=False), span=_SPANS)
def test_subtract_inverts_add(start: datetime, span: timedelta) -> None:
    end = CAL.add(start, span)
    assert end > start
    assert CAL.subtract(end, span) == start


@settings(max_examples=300)
@given(end=working_instants(closed_end=True), span=_SPANS)
def test_add_inverts_subtract(end: datetime, span: timedelta) -> None:
    start = CAL.subtract(end, span)
    assert start < end
    assert CAL.add(start, span) == end


@settings(max_examples=300)
@given(start=any_instants(), span=_SPANS)
def test_add_elapses_exactly_the_span(start: datetime, span: timedelta) -> None:
    end = CAL.add(start, span)
    assert CAL.working_time_between(start, end) == span
    assert CAL.working_time_between(CAL.subtract(start, span), start) == span


@settings(max_examples=200)
@given(a=any_instants(), b=any_instants(), c=any_instants())
def test_working_time_between_is_additive(a: datetime, b: datetime, c: datetime) -> None:
    a, b, c = sorted((a, b, c))
    total = CAL.working_time_between(a, c)
    assert total == CAL.working_time_between(a, b) + CAL.working_time_between(b, c)
    assert total >= timedelta()
    assert CAL.working_time_between(c, a) == -total


@settings(max_examples=200)
@given(start=any_instants(), span=_SPANS, more=_SPANS)
def test_add_is_monotonic(start: datetime, span: timedelta, more: timedelta) -> None:
    assert CAL.add(start, span) < CAL.add(start, span + more)


# --- integer arithmetic against the straightforward walk ---------------------------------

# Odd office hours (seconds, microseconds, three periods), Sunday-only weekend, extra days
# off and a make-up Sunday, in another time zone: nothing may rely on the defaults.
ODD = WorkingCalendar(
    office_hours=OfficeHours(
        (
            (time(6, 59, 59, 250), time(9)),
            (time(9, 0, 0, 1), time(12, 15, 30)),
            (time(14), time(23)),
        )
    ),
    extra_days_off=frozenset({date(2025, 12, 31), date(2026, 1, 2), date(2026, 6, 1)}),
    make_up_days=frozenset({date(2026, 1, 4), date(2026, 6, 7)}),
    weekend=frozenset({6}),
    tz=ZoneInfo("Asia/Bangkok"),
)
# Nghệ An's hours (UBND tỉnh Nghệ An: winter 07:30–12:00, 13:30–17:00; summer 16/4–15/10
# 07:00–11:30, 13:30–17:00), and a made-up season across the new year.
WINTER = OfficeHours(((time(7, 30), time(12)), (time(13, 30), time(17))))
SUMMER = OfficeHours(((time(7), time(11, 30)), (time(13, 30), time(17))))
SEASONAL = WorkingCalendar(
    office_hours=WINTER,
    seasons=(
        Season((4, 16), (10, 15), SUMMER),
        Season((12, 24), (1, 3), OfficeHours(((time(8), time(12)), (time(13), time(17))))),
    ),
    extra_days_off=CAL.extra_days_off,
    make_up_days=CAL.make_up_days,
    confirmed_years=CAL.confirmed_years,
)
_OFFSETS = st.sampled_from([VIETNAM, UTC, timezone(timedelta(hours=7)), timezone(-5 * H)])


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    """Any instant of 2025–2026 to the microsecond, in one of several zones."""
    day = draw(st.dates(min_value=date(2024, 12, 25), max_value=date(2027, 1, 5)))
    micro = draw(st.integers(0, 24 * 3600 * 10**6 - 1))
    local = datetime.combine(day, time(0), VIETNAM) + timedelta(microseconds=micro)
    return local.astimezone(draw(_OFFSETS))


_CALENDARS = st.sampled_from([CAL, ODD, SEASONAL])
_ANY_SPANS = st.one_of(
    st.integers(-(10**6), 60 * 8 * 3600 * 10**6).map(lambda us: timedelta(microseconds=us)),
    st.integers(-3 * 8 * 60, 60 * 8 * 60).map(lambda m: timedelta(minutes=m)),
    st.sampled_from([H, 4 * H, 8 * H, 16 * H, 80 * H]),
)


def _same(result: datetime, expected: datetime) -> None:
    assert result == expected
    assert result.tzinfo is expected.tzinfo
    assert result.isoformat() == expected.isoformat()


@settings(max_examples=500)
@given(cal=_CALENDARS, start=instants(), span=_ANY_SPANS)
def test_add_and_subtract_agree_with_the_walk(
    cal: WorkingCalendar, start: datetime, span: timedelta
) -> None:
    _same(cal.add(start, span), walk.add(cal, start, span))
    _same(cal.subtract(start, span), walk.subtract(cal, start, span))


@settings(max_examples=500)
@given(cal=_CALENDARS, start=instants(), end=instants())
def test_working_time_between_and_next_opening_agree_with_the_walk(
    cal: WorkingCalendar, start: datetime, end: datetime
) -> None:
    assert cal.working_time_between(start, end) == walk.working_time_between(cal, start, end)
    _same(cal.next_opening(start), walk.next_opening(cal, start))


@pytest.mark.parametrize(
    "instant",
    [vn(2026, 3, 2, 7, 30), vn(2026, 3, 2, 11, 30), vn(2026, 3, 2, 13), vn(2026, 3, 2, 17)],
)
@pytest.mark.parametrize("hours", [0, 1, 3.5, 4, 8, 12, 16, 40])
def test_period_boundaries_agree_with_the_walk(instant: datetime, hours: float) -> None:
    span = timedelta(hours=hours)
    _same(CAL.add(instant, span), walk.add(CAL, instant, span))
    _same(CAL.subtract(instant, span), walk.subtract(CAL, instant, span))
    _same(CAL.next_opening(instant), walk.next_opening(CAL, instant))


@pytest.mark.parametrize("cal", [CAL, SEASONAL])
def test_spans_across_years_agree_with_the_walk(cal: WorkingCalendar) -> None:
    start = vn(2025, 11, 3, 9, 15)
    for days in (40, 300, 1000):
        span = days * cal.office_hours.per_day
        _same(cal.add(start, span), walk.add(cal, start, span))
        _same(cal.subtract(start, span), walk.subtract(cal, start, span))
        end = cal.add(start, span)
        assert cal.working_time_between(start, end) == walk.working_time_between(cal, start, end)


def test_office_hours_change_with_the_season() -> None:
    """Wednesday 15/10/2025 is the last summer day, Thursday 16/10 the first winter one."""
    assert SEASONAL.windows(date(2025, 10, 15))[0][0] == vn(2025, 10, 15, 7)
    assert SEASONAL.windows(date(2025, 10, 16))[0][1] == vn(2025, 10, 16, 12)
    # 16:00 + 2 h: 1 h to the summer close at 17:00, 1 h from the winter opening at 07:30.
    assert SEASONAL.add(vn(2025, 10, 15, 16), 2 * H) == vn(2025, 10, 16, 8, 30)
    assert SEASONAL.subtract(vn(2025, 10, 16, 8, 30), 2 * H) == vn(2025, 10, 15, 16)
    # 11:45 is lunch in summer and working time in winter.
    assert SEASONAL.next_opening(vn(2025, 10, 15, 11, 45)) == vn(2025, 10, 15, 13, 30)
    assert SEASONAL.next_opening(vn(2025, 10, 16, 11, 45)) == vn(2025, 10, 16, 11, 45)
    # 31/12 has the new-year season's hours (to 17:00): 1 h; 1/1 and 2/1 off, 3–4/1 the
    # weekend; Monday 5/1/2026 is winter again: 07:30 + 1 h.
    assert SEASONAL.add(vn(2025, 12, 31, 16), 2 * H) == vn(2026, 1, 5, 8, 30)


@pytest.mark.parametrize(
    ("seasons", "message"),
    [
        ((Season((4, 16), (10, 15), OfficeHours(((time(7), time(11)),))),), "not the 8:00:00"),
        ((Season((4, 1), (6, 30), SUMMER), Season((6, 1), (9, 30), SUMMER)), "1/6 is in two"),
    ],
)
def test_seasons_keep_the_day_length_and_do_not_overlap(
    seasons: tuple[Season, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingCalendar(seasons=seasons)


def test_seasons_in_the_catalogue() -> None:
    text = (
        b'calendar:\n  office_hours: [["07:30", "12:00"], ["13:30", "17:00"]]\n  seasons:\n'
        b'    - {from: 04-16, until: 10-15,\n'
        b'       office_hours: [["07:00", "11:30"], ["13:30", "17:00"]]}\n'
    )
    calendar = parse_catalog(text, "cat.yaml").calendar
    assert calendar.office_hours_of(date(2026, 4, 16)) == SUMMER
    assert calendar.office_hours_of(date(2026, 4, 15)) == WINTER
    assert calendar.add(vn(2026, 10, 15, 16), 2 * H) == vn(2026, 10, 16, 8, 30)


@pytest.mark.parametrize(
    ("season", "field"),
    [
        (b"{from: 04-31, until: 10-15, office_hours: [['07:00', '15:00']]}", "31/4 is not a day"),
        (b"{from: 4-16, until: 10-15, office_hours: [['07:00', '15:00']]}", "seasons[0].from"),
        (b"{from: 04-16, until: 10-15, office_hours: []}", "at least one period"),
    ],
)
def test_a_bad_season_is_refused_with_its_field(season: bytes, field: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_catalog(b"calendar: {seasons: [" + season + b"]}", "cat.yaml")
    assert str(info.value).startswith("cat.yaml: ") and field in str(info.value)


LONELY = WorkingCalendar(weekend=frozenset(range(7)), make_up_days=frozenset({date(2026, 3, 2)}))
"""One working day in all time: everything else is out of the search limit."""


@pytest.mark.parametrize(
    ("cal", "operation", "instant", "span"),
    [
        (LONELY, "add", vn(2026, 3, 2, 16), 2 * H),
        (LONELY, "subtract", vn(2026, 3, 2, 8), 2 * H),
    ],
)
def test_search_limit_is_kept(
    cal: WorkingCalendar, operation: str, instant: datetime, span: timedelta
) -> None:
    """No working time within 3700 days raises as the walk does, both ways."""
    with pytest.raises(ValueError) as expected:
        getattr(walk, operation)(cal, instant, span)
    with pytest.raises(ValueError) as raised:
        getattr(cal, operation)(instant, span)
    assert str(raised.value) == str(expected.value)


@pytest.mark.parametrize("operation", ["add", "subtract"])
def test_spans_of_decades_are_arithmetic_not_errors(operation: str) -> None:
    """The search limit is for calendars without working days, not for long spans: a pause
    of decades, extended, must give a deadline (it raised past 3700 days before, and every
    later event of the dossier was dead-lettered)."""
    span = 3650 * 8 * H  # ten years of working days: about fourteen calendar years
    got = getattr(CAL, operation)(vn(2026, 3, 2, 8), span)
    assert got == getattr(walk, operation)(CAL, vn(2026, 3, 2, 8), span)
    assert abs(got - vn(2026, 3, 2, 8)) > timedelta(days=3700)
    century = CAL.working_time_between(vn(2000, 1, 4, 8), vn(2099, 12, 31, 8))
    assert CAL.add(vn(2000, 1, 4, 8), century) == vn(2099, 12, 31, 8)


def test_next_opening_search_limit() -> None:
    with pytest.raises(ValueError, match="no working time within 3700 days of 2026-03-02"):
        LONELY.next_opening(vn(2026, 3, 2, 18))


def test_working_days_of_year() -> None:
    days = CAL.working_days_of_year(2026)
    assert list(days) == sorted(days)
    assert date(2026, 8, 22).toordinal() in days  # make-up Saturday
    assert date(2026, 2, 16).toordinal() not in days  # Tết
    assert len(days) == sum(
        CAL.is_working_day(date.fromordinal(d))
        for d in range(date(2026, 1, 1).toordinal(), date(2027, 1, 1).toordinal())
    )


# --- the office day in microseconds ----------------------------------------------------------

DAY = OfficeDay.of(OfficeHours().periods)
_MOMENTS = st.integers(0, 24 * 3600 * 10**6 - 1)
US_H = 3600 * 10**6


def test_moment_of_day() -> None:
    assert moment_of_day(time(7, 30)) == 7.5 * US_H
    assert moment_of_day(time(0, 0, 1, 5)) == 10**6 + 5
    assert moment_of_day(vn(2026, 3, 2, 13, 15)) == 13.25 * US_H


def test_office_day_boundaries() -> None:
    assert DAY.length == 8 * US_H
    assert DAY.opening == 7.5 * US_H
    assert DAY.worked_before(12 * US_H) == DAY.worked_before(13 * US_H) == 4 * US_H
    assert DAY.earliest(4 * US_H) == 11.5 * US_H  # a full morning ends at 11:30
    assert DAY.latest(4 * US_H) == 13 * US_H  # an afternoon starts at 13:00
    assert DAY.earliest(8 * US_H) == 17 * US_H
    assert DAY.latest(0) == 7.5 * US_H
    assert DAY.next_opening(12 * US_H) == 13 * US_H
    assert DAY.next_opening(9 * US_H) == 9 * US_H
    assert DAY.next_opening(17 * US_H) is None
    with pytest.raises(ValueError):
        DAY.earliest(8 * US_H + 1)
    with pytest.raises(ValueError):
        DAY.latest(8 * US_H)


@given(moment=_MOMENTS)
def test_office_day_inverses(moment: int) -> None:
    worked = DAY.worked_before(moment)
    assert 0 <= worked <= DAY.length
    if worked > 0:
        earliest = DAY.earliest(worked)
        assert earliest <= moment and DAY.worked_before(earliest) == worked
    if worked < DAY.length:
        latest = DAY.latest(worked)
        assert latest >= moment and DAY.worked_before(latest) == worked
        assert DAY.worked_before(latest + 1) == worked + 1


# --- override file and catalogue calendar -------------------------------------------------


def test_override_file_loading(tmp_path: Path) -> None:
    (tmp_path / "overrides.yaml").write_text(
        "2027:\n  days_off: [2027-03-03]\n  working_days: [2027-03-06]\n", encoding="utf-8"
    )
    (tmp_path / "catalog.yaml").write_text(
        "calendar:\n  overrides_file: overrides.yaml\n", encoding="utf-8"
    )
    calendar = load_catalog(tmp_path / "catalog.yaml").calendar
    assert not calendar.is_working_day(date(2027, 3, 3))  # Wednesday, extra day off
    assert calendar.is_working_day(date(2027, 3, 6))  # Saturday, make-up day
    # A catalogue naming its own file does not get the shipped defaults.
    assert not calendar.is_working_day(date(2026, 8, 22))


def test_inline_overrides_merge_with_the_file(tmp_path: Path) -> None:
    (tmp_path / "o.yaml").write_text("2027:\n  days_off: [2027-03-03]\n", encoding="utf-8")
    text = (
        b"calendar:\n  overrides_file: o.yaml\n"
        b"  overrides:\n    2027:\n      days_off: [2027-03-04]\n"
    )
    calendar = parse_catalog(text, "inline", tmp_path).calendar
    assert not calendar.is_working_day(date(2027, 3, 3))
    assert not calendar.is_working_day(date(2027, 3, 4))


def test_adding_a_day_inline_keeps_the_shipped_days_of_that_year() -> None:
    """Before, a catalogue's 2026 overrides replaced the shipped 2026: adding a day dropped
    the make-up Saturday 22/8 and the swapped Monday 31/8."""
    text = (
        "calendar:\n  overrides_file: default\n"
        "  overrides:\n    2026:\n      days_off: {2026-06-01: nghỉ địa phương}\n"
    ).encode()
    catalog = parse_catalog(text, "cat.yaml")
    calendar = catalog.calendar
    assert not calendar.is_working_day(date(2026, 6, 1))
    assert calendar.is_working_day(date(2026, 8, 22))
    assert not calendar.is_working_day(date(2026, 8, 31))
    assert not calendar.is_working_day(date(2026, 1, 2))
    statement = catalog.arrangements.statement(date(2026, 6, 1))
    assert statement is not None and statement.source == "cat.yaml (calendar.overrides)"


def test_a_catalogue_turns_a_shipped_day_back_by_stating_it_the_other_way() -> None:
    text = (
        b"calendar:\n  overrides_file: default\n  overrides:\n    2026:\n"
        b"      working_days: [2026-01-02]\n      days_off: [2026-08-22]\n"
    )
    calendar = parse_catalog(text, "cat.yaml").calendar
    assert calendar.is_working_day(date(2026, 1, 2))
    assert not calendar.is_working_day(date(2026, 8, 22))
    assert calendar.is_working_day(date(2026, 1, 10))  # the rest of 2026 stays


def test_default_overrides_keyword() -> None:
    calendar = parse_catalog(b"calendar: {overrides_file: default}").calendar
    assert calendar.is_working_day(date(2026, 8, 22))
    assert not parse_catalog(b"{}").calendar.is_working_day(date(2026, 8, 22))


def test_custom_office_hours_and_weekend() -> None:
    text = b'calendar: {office_hours: [["08:00", "12:00"]], weekend: [sun]}'
    calendar = parse_catalog(text).calendar
    assert calendar.office_hours.per_day == 4 * H
    assert calendar.is_working_day(date(2026, 3, 7))  # an ordinary Saturday now works
    assert calendar.add(vn(2026, 3, 7, 11), 2 * H) == vn(2026, 3, 9, 9, 0)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (b"2026: {working_days: [not-a-date]}", "$[...].working_days[0]"),
        (b"2026: {days_off: [2026-01-02], holidays: []}", "holidays"),
        (b"2026: {days_off: 3}", "$[...].days_off"),
        # PyYAML rejects impossible dates itself, without a path; the file is still named.
        (b"2026: {days_off: [2026-02-30]}", "day is out of range"),
        (b"2026: {days_off: [", "line 2"),
        (b"2026: {days_off: [2025-12-31]}", "2026: 2025-12-31 is not in 2026"),
        (
            b"2026: {days_off: [2026-03-03], working_days: [2026-03-03]}",
            "2026-03-03 is both a day off and a working day",
        ),
    ],
)
def test_override_file_errors_name_the_file_and_field(
    tmp_path: Path, text: bytes, field: str
) -> None:
    (tmp_path / "bad.yaml").write_bytes(text)
    (tmp_path / "catalog.yaml").write_text("calendar: {overrides_file: bad.yaml}\n")
    with pytest.raises(ValueError) as info:
        load_catalog(tmp_path / "catalog.yaml")
    assert "bad.yaml" in str(info.value)
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (b"calendar: {office_hours: [['7:30', '11:30']]}", "$.calendar.office_hours[0][0]"),
        (b"calendar: {weekend: [saturday]}", "$.calendar.weekend[0]"),
        (b"calendar: {at_risk_lead_hours: -1}", "$.calendar.at_risk_lead_hours"),
        (b"calendar: {overrides: {2026: {days_off: [x]}}}", "days_off[0]"),
        (b"calendar: {timezone: UTC}", "timezone"),
        (b"calendar: {office_hours: [['13:00', '11:30']]}", "office_hours"),
    ],
)
def test_calendar_settings_errors_name_the_field(text: bytes, field: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_catalog(text, "cat.yaml")
    assert str(info.value).startswith("cat.yaml: ")
    assert field in str(info.value)


def test_calendar_with_only_weekend_days_is_rejected() -> None:
    with pytest.raises(ValueError, match="weekend"):
        WorkingCalendar(weekend=frozenset(range(7)))


@pytest.mark.parametrize(
    ("text", "place"),
    [
        (b"procedures: [\n", "line 2, column 1"),
        (b"procedures:\n  - code: X\n   name: x\n", "line 3, column 4"),
    ],
)
def test_a_catalogue_that_is_not_yaml_is_said_on_one_line_with_its_place(
    text: bytes, place: str
) -> None:
    """The command line prints only the first line of an error, and PyYAML's first line
    is its context ("while parsing ..."): the line and column must be on that line."""
    with pytest.raises(ValueError) as info:
        parse_catalog(text, "cat.yaml")
    message = str(info.value)
    assert message.startswith("cat.yaml: ") and "\n" not in message
    assert place in message
