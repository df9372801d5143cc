"""The yearly arrangements of the working calendar (lịch nghỉ lễ, Tết hằng năm), from YAML.

Each year of an override file states days off and working days, each with its reason, and
may be `confirmed` by the notices that settle the whole year: a confirmed year's
Monday–Friday days off are exactly the ones it lists, and the `holidays` package is not
consulted for it. Arrangements from several places (the shipped file, a catalogue's own file,
its inline overrides) merge day by day: a later place's statement of a day replaces an
earlier one's, so a catalogue can add a day without losing the shipped ones, or turn a shipped
day off back into a working day by listing it among its working days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import metadata
from types import MappingProxyType

import msgspec

from dossierflow.rules.calendar import WorkingCalendar


@dataclass(frozen=True)
class DayStatement:
    """What one place says of one day: a day off or a working day, why, and where."""

    day: date
    working: bool
    reason: str
    source: str


@dataclass(frozen=True)
class YearArrangement:
    year: int
    confirmed_by: str | None = None
    """The notices settling the whole year; None: the `holidays` package fills the rest."""
    days: Mapping[date, DayStatement] = field(default_factory=dict)


@dataclass(frozen=True)
class Arrangements:
    """Year → arrangement, as the calendar and `dossierflow calendar` read it."""

    years: Mapping[int, YearArrangement] = field(default_factory=dict)

    def merged_with(self, later: Arrangements) -> Arrangements:
        """These arrangements with `later`'s on top, day by day; `later` confirms a year
        when it names notices, else the year keeps this one's confirmation."""
        years = dict(self.years)
        for year, over in later.years.items():
            base = years.get(year, YearArrangement(year))
            years[year] = YearArrangement(
                year,
                over.confirmed_by or base.confirmed_by,
                MappingProxyType({**base.days, **over.days}),
            )
        return Arrangements(MappingProxyType(years))

    def statement(self, day: date) -> DayStatement | None:
        arrangement = self.years.get(day.year)
        return arrangement.days.get(day) if arrangement else None

    def confirmation(self, year: int) -> str | None:
        arrangement = self.years.get(year)
        return arrangement.confirmed_by if arrangement else None

    def _days(self, working: bool) -> frozenset[date]:
        return frozenset(
            s.day for y in self.years.values() for s in y.days.values() if s.working is working
        )

    @property
    def days_off(self) -> frozenset[date]:
        return self._days(False)

    @property
    def working_days(self) -> frozenset[date]:
        return self._days(True)

    @property
    def confirmed_years(self) -> frozenset[int]:
        return frozenset(y for y, a in self.years.items() if a.confirmed_by)


# --- the YAML shape -------------------------------------------------------------------

Days = list[date] | dict[date, str]
"""A list of dates, or date: reason."""


class YearSpec(msgspec.Struct, forbid_unknown_fields=True):
    confirmed: str | None = None
    days_off: Days = []
    working_days: Days = []


def _statements(days: Days, working: bool, source: str) -> Iterable[DayStatement]:
    if isinstance(days, list):
        days = dict.fromkeys(days, "")
    for day, reason in days.items():
        default = "ngày làm việc" if working else "ngày nghỉ"
        yield DayStatement(day, working, reason or default, source)


def arrangements_of(specs: Mapping[int, YearSpec], source: str) -> Arrangements:
    """The arrangements a file (or a catalogue's inline `overrides`) states; ValueError
    naming the year and day when a day is outside its year or stated both ways."""
    years: dict[int, YearArrangement] = {}
    for year, spec in specs.items():
        days: dict[date, DayStatement] = {}
        for statement in (
            *_statements(spec.days_off, False, source),
            *_statements(spec.working_days, True, source),
        ):
            if statement.day.year != year:
                raise ValueError(f"{year}: {statement.day} is not in {year}")
            if statement.day in days:
                raise ValueError(f"{year}: {statement.day} is both a day off and a working day")
            days[statement.day] = statement
        confirmed = spec.confirmed.strip() if spec.confirmed else None
        years[year] = YearArrangement(year, confirmed or None, MappingProxyType(days))
    return Arrangements(MappingProxyType(years))


# --- a year as the product sees it ------------------------------------------------------


@dataclass(frozen=True)
class ListedDay:
    day: date
    reason: str
    source: str


@dataclass(frozen=True)
class YearView:
    """The days of a year that differ from the weekly pattern, for `dossierflow calendar`."""

    year: int
    confirmed_by: str | None
    days_off: tuple[ListedDay, ...]
    """Days that are not working days although not weekly rest days."""
    make_up_days: tuple[ListedDay, ...]
    """Weekly rest days that are working days."""


@cache
def package_source() -> str:
    """The source named for a day off only the `holidays` package states; looked up when a
    year is listed, not at import (reading the package's metadata costs ~5 ms)."""
    return f"holidays {metadata.version('holidays')} (năm chưa xác nhận)"


def year_view(calendar: WorkingCalendar, arrangements: Arrangements, year: int) -> YearView:
    days_off: list[ListedDay] = []
    make_up: list[ListedDay] = []
    day, end = date(year, 1, 1), date(year + 1, 1, 1)
    while day < end:
        working = calendar.is_working_day(day)
        if working is (day.weekday() in calendar.weekend):
            statement = arrangements.statement(day)
            if statement is not None:
                listed = ListedDay(day, statement.reason, statement.source)
            else:  # only the package can have made a weekday a day off
                listed = ListedDay(day, calendar.public_holiday(day) or "", package_source())
            (make_up if working else days_off).append(listed)
        day += timedelta(days=1)
    return YearView(year, arrangements.confirmation(year), tuple(days_off), tuple(make_up))
