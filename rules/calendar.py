"""Working-time calendar (lịch làm việc): office hours, public holidays, make-up days.

All arithmetic is on aware datetimes; results are in the calendar's time zone. Working time
is what falls inside office hours on working days. A working day is a make-up working day
(ngày làm bù) or a weekday that is neither a public holiday of Vietnam (the `holidays`
package) nor an extra day off of the yearly override file.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
_DAY = timedelta(days=1)
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

    @property
    def per_day(self) -> timedelta:
        today = date(2000, 1, 1)
        return sum(
            (datetime.combine(today, end) - datetime.combine(today, start)
             for start, end in self.periods),
            timedelta(),
        )


@dataclass(frozen=True, eq=False)
class WorkingCalendar:
    """Working-time arithmetic over one province's calendar (immutable; memoised per date)."""

    office_hours: OfficeHours = OfficeHours()
    extra_days_off: frozenset[date] = frozenset()
    make_up_days: frozenset[date] = frozenset()
    weekend: frozenset[int] = frozenset({5, 6})
    tz: ZoneInfo = VIETNAM
    _public_holidays: holidays.HolidayBase = field(
        default_factory=lambda: holidays.country_holidays("VN"), repr=False
    )

    def __post_init__(self) -> None:
        if len(self.weekend) >= 7 and not self.make_up_days:
            raise ValueError("calendar: every weekday is a weekend day")
        # Memoise per instance; the calendar is immutable, so the caches never go stale.
        object.__setattr__(self, "is_working_day", functools.cache(self._is_working_day))
        object.__setattr__(self, "windows", functools.cache(self._windows))
        # Deadlines repeat (same procedure, same day): at-risk instants are recomputed often.
        object.__setattr__(self, "subtract", functools.lru_cache(maxsize=1 << 16)(self._subtract))

    def _is_working_day(self, day: date) -> bool:
        if day in self.make_up_days:
            return True
        return (
            day.weekday() not in self.weekend
            and day not in self.extra_days_off
            and day not in self._public_holidays
        )

    def _windows(self, day: date) -> tuple[Window, ...]:
        if not self.is_working_day(day):
            return ()
        return tuple(
            (datetime.combine(day, start, self.tz), datetime.combine(day, end, self.tz))
            for start, end in self.office_hours.periods
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
        raise ValueError(f"calendar: no working time within {_SEARCH_LIMIT_DAYS} days of {day}")

    def next_opening(self, instant: datetime) -> datetime:
        """`instant` itself if it is working time, else the next opening of the office."""
        instant = self.local(instant)
        for day in self._days_from(instant.date(), 1):
            for start, end in self.windows(day):
                if instant < end:
                    return max(start, instant)
        raise AssertionError("unreachable")

    def next_working_day_opening(self, instant: datetime) -> datetime:
        """The opening of the first working day after the date of `instant`."""
        day_after = self.local(instant).date() + _DAY
        return self.next_opening(datetime.combine(day_after, time(0), self.tz))

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The instant at which `amount` of working time after `start` has elapsed.

        A span that exactly fills a period ends at that period's close (11:30, not 13:00).
        """
        cursor = self.local(start)
        if amount <= timedelta():
            return cursor if amount == timedelta() else self.subtract(cursor, -amount)
        remaining = amount
        for day in self._days_from(cursor.date(), 1):
            for open_at, close_at in self.windows(day):
                if close_at <= cursor:
                    continue
                begin = max(open_at, cursor)
                available = close_at - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        raise AssertionError("unreachable")

    def subtract(self, end: datetime, amount: timedelta) -> datetime:
        """The latest instant from which `amount` of working time elapses by `end`."""
        return self._subtract(end, amount)

    def _subtract(self, end: datetime, amount: timedelta) -> datetime:
        """The latest instant from which `amount` of working time elapses by `end`.

        A span that exactly fills a period starts at that period's opening (07:30 of the
        same day, not 17:00 of the day before).
        """
        cursor = self.local(end)
        if amount <= timedelta():
            return cursor if amount == timedelta() else self.add(cursor, -amount)
        remaining = amount
        for day in self._days_from(cursor.date(), -1):
            for open_at, close_at in reversed(self.windows(day)):
                if open_at >= cursor:
                    continue
                finish = min(close_at, cursor)
                available = finish - open_at
                if remaining <= available:
                    return finish - remaining
                remaining -= available
        raise AssertionError("unreachable")

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end); negative when `end` is before `start`."""
        if end < start:
            return -self.working_time_between(end, start)
        start, end = self.local(start), self.local(end)
        total = timedelta()
        day = start.date()
        while day <= end.date():
            for open_at, close_at in self.windows(day):
                overlap = min(close_at, end) - max(open_at, start)
                if overlap > timedelta():
                    total += overlap
            day += _DAY
        return total

    def add_calendar_days(self, start: datetime, days: float) -> datetime:
        """`days` × 24 hours, then one more day while that date is not a working day."""
        result = self.local(start) + timedelta(days=days)
        for day in self._days_from(result.date(), 1):
            if self.is_working_day(day):
                return result + (day - result.date())
        raise AssertionError("unreachable")
