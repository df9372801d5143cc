"""The straightforward working-time arithmetic: a walk over each day's office windows.

An oracle for the calendar's integer arithmetic (rules/calendar.py), which must agree with
it on every instant; this is how the calendar computed before it used integer tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

from dossierflow.rules.calendar import WorkingCalendar

_DAY = timedelta(days=1)
_SEARCH_LIMIT_DAYS = 3700


def _days_from(cal: WorkingCalendar, day: date, step: int) -> Iterator[date]:
    """The days from `day` on (back, for a negative `step`), until a run of days without
    office hours reaches the search limit."""
    current, empty = day, 0
    while True:
        yield current
        empty = 0 if cal.windows(current) else empty + 1
        if empty >= _SEARCH_LIMIT_DAYS:
            raise ValueError(
                f"calendar: no working time within {_SEARCH_LIMIT_DAYS} days of {day}"
            )
        current += step * _DAY


def next_opening(cal: WorkingCalendar, instant: datetime) -> datetime:
    instant = cal.local(instant)
    for day in _days_from(cal, instant.date(), 1):
        for start, end in cal.windows(day):
            if instant < end:
                return max(start, instant)
    raise AssertionError("unreachable")


def add(cal: WorkingCalendar, start: datetime, amount: timedelta) -> datetime:
    cursor = cal.local(start)
    if amount <= timedelta():
        return cursor if amount == timedelta() else subtract(cal, cursor, -amount)
    remaining = amount
    for day in _days_from(cal, cursor.date(), 1):
        for open_at, close_at in cal.windows(day):
            if close_at <= cursor:
                continue
            begin = max(open_at, cursor)
            available = close_at - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
    raise AssertionError("unreachable")


def subtract(cal: WorkingCalendar, end: datetime, amount: timedelta) -> datetime:
    cursor = cal.local(end)
    if amount <= timedelta():
        return cursor if amount == timedelta() else add(cal, cursor, -amount)
    remaining = amount
    for day in _days_from(cal, cursor.date(), -1):
        for open_at, close_at in reversed(cal.windows(day)):
            if open_at >= cursor:
                continue
            finish = min(close_at, cursor)
            available = finish - open_at
            if remaining <= available:
                return finish - remaining
            remaining -= available
    raise AssertionError("unreachable")


def working_time_between(cal: WorkingCalendar, start: datetime, end: datetime) -> timedelta:
    if end < start:
        return -working_time_between(cal, end, start)
    start, end = cal.local(start), cal.local(end)
    total = timedelta()
    day = start.date()
    while day <= end.date():
        for open_at, close_at in cal.windows(day):
            overlap = min(close_at, end) - max(open_at, start)
            if overlap > timedelta():
                total += overlap
        day += _DAY
    return total
