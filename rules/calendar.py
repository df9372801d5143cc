"""Working-time calendar (lịch làm việc): office hours, public holidays, make-up days.

Results are aware datetimes in the calendar's time zone. Working time is what falls inside
office hours on working days. Office hours may change with the season (giờ làm việc mùa hè,
mùa đông), but every working day has the same length, so working-time arithmetic is integer
arithmetic on (day, microsecond of the day) over a sorted table of each year's working days
(wall-clock time of the calendar's time zone), the day's own periods placing the moment.
A working day is a make-up working day (ngày làm bù) or a weekday that is neither an extra
day off of the yearly override file nor, in a year the file does not confirm, a public
holiday of Vietnam (the `holidays` package). A confirmed year states all its days off
itself (rules/calendar_years.py).
"""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dossierflow.rules.office_day import OfficeDay, moment_of_day

if TYPE_CHECKING:
    import holidays

TIME_ZONE_NAME = "Asia/Ho_Chi_Minh"
"""The time zone of every local date and time of the domain (and of the store's columns)."""
VIETNAM = ZoneInfo(TIME_ZONE_NAME)
_DAY = timedelta(days=1)
_MICROSECOND = timedelta(microseconds=1)
_NOTHING = timedelta()
_YEARS_CACHED = 64
_SEARCH_LIMIT_DAYS = 3700
"""No calendar may go ten years without a working day; past that the settings are wrong."""

Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class OfficeHours:
    """Daily office periods, e.g. 07:30–11:30 and 13:00–17:00 (8 working hours)."""

    periods: tuple[tuple[time, time], ...] = ((time(7, 30), time(11, 30)), (time(13), time(17)))

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("office_hours: at least one period is needed")
        previous_end = time(0)
        for start, end in self.periods:
            if not previous_end <= start < end:
                raise ValueError(
                    f"office_hours: period {start:%H:%M}-{end:%H:%M} must start after "
                    f"{previous_end:%H:%M} and end after it starts"
                )
            previous_end = end

    @functools.cached_property
    def per_day(self) -> timedelta:
        today = date(2000, 1, 1)
        return sum(
            (datetime.combine(today, end) - datetime.combine(today, start)
             for start, end in self.periods),
            timedelta(),
        )


MonthDay = tuple[int, int]
"""(month, day) of every year."""


@dataclass(frozen=True)
class Season:
    """Office hours from `first` to `last` (both included) of every year; `last` before
    `first` runs across the new year (e.g. winter hours 16/10 – 15/4)."""

    first: MonthDay
    last: MonthDay
    office_hours: OfficeHours

    def __post_init__(self) -> None:
        for month, day in (self.first, self.last):
            try:
                date(2000, month, day)  # 2000 has a 29/2
            except ValueError:
                raise ValueError(f"seasons: {day}/{month} is not a day of the year") from None

    def contains(self, month_day: MonthDay) -> bool:
        if self.first <= self.last:
            return self.first <= month_day <= self.last
        return month_day >= self.first or month_day <= self.last


_LEAP_YEAR_DAYS = tuple(
    (d.month, d.day) for d in (date(2000, 1, 1) + timedelta(days=n) for n in range(366))
)


def _office_days_by_month_day(
    default: OfficeHours, seasons: tuple[Season, ...]
) -> dict[MonthDay, OfficeDay]:
    """Each day of the year's office day; ValueError when seasons overlap or change the
    length of a working day (working_days N is N × that length)."""
    for season in seasons:
        if season.office_hours.per_day != default.per_day:
            raise ValueError(
                f"seasons: {season.first[1]}/{season.first[0]} – {season.last[1]}/"
                f"{season.last[0]}: {season.office_hours.per_day} a day, not the "
                f"{default.per_day} of office_hours"
            )
    offices = {hours: OfficeDay.of(hours.periods) for hours in (default, *(
        s.office_hours for s in seasons))}
    table: dict[MonthDay, OfficeDay] = {}
    for month_day in _LEAP_YEAR_DAYS:
        holding = [s for s in seasons if s.contains(month_day)]
        if len(holding) > 1:
            raise ValueError(f"seasons: {month_day[1]}/{month_day[0]} is in two seasons")
        table[month_day] = offices[holding[0].office_hours if holding else default]
    return table


@dataclass(frozen=True, eq=False)
class WorkingCalendar:
    """Working-time arithmetic over one province's calendar (immutable; memoised per date
    and per year)."""

    office_hours: OfficeHours = OfficeHours()
    extra_days_off: frozenset[date] = frozenset()
    make_up_days: frozenset[date] = frozenset()
    weekend: frozenset[int] = frozenset({5, 6})
    tz: ZoneInfo = VIETNAM
    confirmed_years: frozenset[int] = frozenset()
    """Years whose days off are all in `extra_days_off`: the package is not consulted."""
    seasons: tuple[Season, ...] = ()
    """Office hours of parts of the year; `office_hours` the rest of it."""
    _office_day: OfficeDay = field(init=False, repr=False)
    _office_days: dict[MonthDay, OfficeDay] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.weekend) >= 7 and not self.make_up_days:
            raise ValueError("calendar: every weekday is a weekend day")
        # Memoise per instance; the calendar is immutable, so the caches never go stale.
        object.__setattr__(self, "is_working_day", functools.cache(self._is_working_day))
        object.__setattr__(self, "windows", functools.cache(self._windows))
        object.__setattr__(self, "_office_day", OfficeDay.of(self.office_hours.periods))
        object.__setattr__(
            self, "_office_days", _office_days_by_month_day(self.office_hours, self.seasons)
        )
        object.__setattr__(
            self,
            "working_days_of_year",
            functools.lru_cache(maxsize=_YEARS_CACHED)(self._working_days_of_year),
        )

    def _is_working_day(self, day: date) -> bool:
        if day in self.make_up_days:
            return True
        if day.weekday() in self.weekend or day in self.extra_days_off:
            return False
        return self.public_holiday(day) is None

    def public_holiday(self, day: date) -> str | None:
        """The `holidays` package's name of `day`, in a year the override file does not
        confirm (None in a confirmed year: the file says it all)."""
        if day.year in self.confirmed_years:
            return None
        name: str | None = self._public_holidays.get(day)
        return name

    @functools.cached_property
    def _public_holidays(self) -> holidays.HolidayBase:
        """Built on first use: loading the package's country tables costs 50-120 ms, which a
        command that never asks about a day (`report` reads only the units) need not pay."""
        import holidays

        return holidays.country_holidays("VN", language="vi")

    def _office_of(self, day: date) -> OfficeDay:
        if not self.seasons:
            return self._office_day
        return self._office_days[day.month, day.day]

    def _office_after(self, day: date, days: int) -> OfficeDay:
        if not self.seasons:
            return self._office_day
        later = date.fromordinal(day.toordinal() + days)
        return self._office_days[later.month, later.day]

    def office_hours_of(self, day: date) -> OfficeHours:
        """The office hours in force on `day` (its season's, or `office_hours`)."""
        for season in self.seasons:
            if season.contains((day.month, day.day)):
                return season.office_hours
        return self.office_hours

    def _windows(self, day: date) -> tuple[Window, ...]:
        if not self.is_working_day(day):
            return ()
        return tuple(
            (datetime.combine(day, start, self.tz), datetime.combine(day, end, self.tz))
            for start, end in self.office_hours_of(day).periods
        )

    # Replaced per instance by memoised versions in __post_init__.
    def is_working_day(self, day: date) -> bool:
        return self._is_working_day(day)

    def windows(self, day: date) -> tuple[Window, ...]:
        """The working periods of `day` as instants (none on a day off)."""
        return self._windows(day)

    def local(self, instant: datetime) -> datetime:
        return instant if instant.tzinfo is self.tz else instant.astimezone(self.tz)

    def _days_from(self, day: date, step: int) -> Iterable[date]:
        for offset in range(_SEARCH_LIMIT_DAYS):
            yield day + offset * step * _DAY
        raise _no_working_time(day)

    def next_opening(self, instant: datetime) -> datetime:
        """`instant` itself if it is working time, else the next opening of the office."""
        instant = self.local(instant)
        today, moment = instant.date(), moment_of_day(instant)
        if self.is_working_day(today):
            opening = self._office_of(today).next_opening(moment)
            if opening == moment:
                return instant
            if opening is not None:
                return _shifted(instant, 0, opening - moment)
        days_on = self._days_to_working_day(today, 1)
        return _shifted(instant, days_on, self._office_after(today, days_on).opening - moment)

    def next_working_day_opening(self, instant: datetime) -> datetime:
        """The opening of the first working day after the date of `instant`."""
        day_after = self.local(instant).date() + _DAY
        return self.next_opening(datetime.combine(day_after, time(0), self.tz))

    def close_of_day(self, instant: datetime) -> datetime:
        """The close of the office (its last period's end, in that day's season) on the
        local date of `instant`, a working day."""
        day = self.local(instant).date()
        if not self.is_working_day(day):
            raise ValueError(f"calendar: {day} is not a working day")
        return datetime.combine(day, self.office_hours_of(day).periods[-1][1], self.tz)

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The instant at which `amount` of working time after `start` has elapsed.

        A span that exactly fills a period ends at that period's close (11:30, not 13:00).
        """
        cursor = self.local(start)
        if amount <= _NOTHING:
            return cursor if amount == _NOTHING else self.subtract(cursor, -amount)
        length, span = self._office_day.length, amount // _MICROSECOND
        today, moment = cursor.date(), moment_of_day(cursor)
        if self.is_working_day(today):
            # Working time from this day's opening to the result.
            office = self._office_of(today)
            position = office.worked_before(moment) + span
            if position <= length:
                return _shifted(cursor, 0, office.earliest(position) - moment)
        else:
            position = length + span  # as if this day had been worked in full
        later_days = -(-position // length) - 1
        days_on = self._days_to_working_day(today, later_days)
        last_moment = self._office_after(today, days_on).earliest(position - later_days * length)
        return _shifted(cursor, days_on, last_moment - moment)

    def subtract(self, end: datetime, amount: timedelta) -> datetime:
        """The latest instant from which `amount` of working time elapses by `end`.

        A span that exactly fills a period starts at that period's opening (07:30 of the
        same day, not 17:00 of the day before).
        """
        cursor = self.local(end)
        if amount <= _NOTHING:
            return cursor if amount == _NOTHING else self.add(cursor, -amount)
        length, span = self._office_day.length, amount // _MICROSECOND
        today, moment = cursor.date(), moment_of_day(cursor)
        # Working time from this day's opening to the result; negative on earlier days.
        position = -span
        if self.is_working_day(today):
            office = self._office_of(today)
            position += office.worked_before(moment)
            if position >= 0:
                return _shifted(cursor, 0, office.latest(position) - moment)
        earlier_days = -(position // length)
        days_back = self._days_to_working_day(today, -earlier_days)
        first_moment = self._office_after(today, days_back).latest(position + earlier_days * length)
        return _shifted(cursor, days_back, first_moment - moment)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end); negative when `end` is before `start`."""
        if end < start:
            return -self.working_time_between(end, start)
        start, end = self.local(start), self.local(end)
        first, last = start.date(), end.date()
        worked = self._worked_that_day(last, end) - self._worked_that_day(first, start)
        if first != last:
            worked += self._working_days_between(first, last) * self._office_day.length
        return timedelta(microseconds=worked)

    def _worked_that_day(self, day: date, local: datetime) -> int:
        """Working microseconds of `day`, the local date of `local`, before it."""
        if not self.is_working_day(day):
            return 0
        return self._office_of(day).worked_before(moment_of_day(local))

    def _days_to_working_day(self, day: date, count: int) -> int:
        """How many days after `day` the `count`-th working day after it comes (before it,
        as a negative number, when `count` is negative)."""
        ordinal, year = day.toordinal(), day.year
        table = self.working_days_of_year(year)
        # A long span (a pause of decades, extended) is arithmetic; only years on end without
        # a working day mean the settings are wrong.
        empty_since = None if table else year
        if count > 0:
            index = bisect_right(table, ordinal) + count - 1
            while index >= len(table):
                index -= len(table)
                year += 1
                table = self.working_days_of_year(year)
                empty_since = _empty_since(empty_since, year, table, day)
        else:
            index = bisect_left(table, ordinal) + count
            while index < 0:
                year -= 1
                table = self.working_days_of_year(year)
                empty_since = _empty_since(empty_since, year, table, day)
                index += len(table)
        return table[index] - ordinal

    def _working_days_between(self, first: date, last: date) -> int:
        """How many working days fall in [first, last) (first ≤ last)."""
        days_of_year = self.working_days_of_year
        count = bisect_left(days_of_year(last.year), last.toordinal())
        count -= bisect_left(days_of_year(first.year), first.toordinal())
        for year in range(first.year, last.year):
            count += len(days_of_year(year))
        return count

    def working_days_of_year(self, year: int) -> tuple[int, ...]:
        """The ordinals of the working days of `year`, in order."""
        return self._working_days_of_year(year)

    def _working_days_of_year(self, year: int) -> tuple[int, ...]:
        first, last = date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
        return tuple(
            day for day in range(first, last + 1) if self.is_working_day(date.fromordinal(day))
        )

    def add_calendar_days(self, start: datetime, days: float) -> datetime:
        """`days` × 24 hours, then one more day while that date is not a working day."""
        result = self.local(start) + timedelta(days=days)
        for day in self._days_from(result.date(), 1):
            if self.is_working_day(day):
                return result + (day - result.date())
        raise AssertionError("unreachable")


def _empty_since(since: int | None, year: int, table: Sequence[int], day: date) -> int | None:
    """The first year of the run of years without a working day that `year` continues (None
    when `year` has one); raises when the run is longer than the search limit."""
    if table:
        return None
    since = year if since is None else since
    if abs(year - since) * 365 >= _SEARCH_LIMIT_DAYS:
        raise _no_working_time(day)
    return since


def _no_working_time(day: date) -> ValueError:
    return ValueError(f"calendar: no working time within {_SEARCH_LIMIT_DAYS} days of {day}")


def _shifted(local: datetime, days: int, microseconds: int) -> datetime:
    """`local` moved on the wall clock (as the calendar's arithmetic is)."""
    return local + timedelta(days, 0, microseconds)
