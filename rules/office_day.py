"""Working time within one working day, in integer microseconds since local midnight.

The calendar reduces an instant to (day, moment of the day) so that adding and subtracting
working time is integer arithmetic per day instead of a walk over datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time

_MICROSECONDS_PER_SECOND = 1_000_000


def moment_of_day(clock_time: time | datetime) -> int:
    """Microseconds since midnight (of the wall clock, for a datetime)."""
    seconds = clock_time.hour * 3600 + clock_time.minute * 60 + clock_time.second
    return seconds * _MICROSECONDS_PER_SECOND + clock_time.microsecond


@dataclass(frozen=True, slots=True)
class OfficeDay:
    """The office periods of a working day as (open, close) moments, in order."""

    periods: tuple[tuple[int, int], ...]
    length: int = field(init=False)
    """Working microseconds in one working day."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "length", sum(close - open_ for open_, close in self.periods))

    @classmethod
    def of(cls, periods: tuple[tuple[time, time], ...]) -> OfficeDay:
        return cls(tuple((moment_of_day(start), moment_of_day(end)) for start, end in periods))

    @property
    def opening(self) -> int:
        return self.periods[0][0]

    def worked_before(self, moment: int) -> int:
        """Working microseconds of the day before `moment`."""
        worked = 0
        for open_at, close_at in self.periods:
            if moment <= open_at:
                break
            worked += min(moment, close_at) - open_at
        return worked

    def earliest(self, worked: int) -> int:
        """The first moment by which `worked` (0 < worked ≤ length) has elapsed: a span that
        fills a period ends at its close, not at the next opening."""
        for open_at, close_at in self.periods:
            if worked <= close_at - open_at:
                return open_at + worked
            worked -= close_at - open_at
        raise ValueError("office day: more working time than the day has")

    def latest(self, worked: int) -> int:
        """The last moment with exactly `worked` (0 ≤ worked < length) elapsed before it: a
        span that fills a period starts at its opening, not at the previous close."""
        for open_at, close_at in self.periods:
            if worked < close_at - open_at:
                return open_at + worked
            worked -= close_at - open_at
        raise ValueError("office day: more working time than the day has")

    def next_opening(self, moment: int) -> int | None:
        """`moment` if it is working time, else the next opening that day (None after hours)."""
        for open_at, close_at in self.periods:
            if moment < close_at:
                return max(open_at, moment)
        return None
