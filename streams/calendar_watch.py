"""Says when the worker's clock enters a year the calendar's override file does not confirm.

The Government announces each year's Tết and Quốc khánh arrangements and its swapped days in
the autumn before; the `holidays` package cannot know them, so a year nobody added to the
override file is computed on a guess (docs/calendar.md). The worker says so once per year: a
warning in its log and `dossierflow_calendar_year_unconfirmed{year} 1`, which the
DossierflowCalendarYearUnconfirmed rule turns into an alert.
"""

from __future__ import annotations

import logging
from datetime import datetime

from dossierflow.rules.calendar import WorkingCalendar
from dossierflow.streams import metrics

log = logging.getLogger("dossierflow.worker")


class CalendarYearWatch:
    """Cheap to call on every timer tick: it acts only when the year or the calendar changes."""

    def __init__(self) -> None:
        self._seen: tuple[int, WorkingCalendar] | None = None
        self._warned: set[int] = set()

    def observe(self, calendar: WorkingCalendar, clock: datetime) -> None:
        year = calendar.local(clock).year
        if self._seen == (year, calendar):
            return
        if self._seen is not None and self._seen[0] != year:
            metrics.CALENDAR_YEAR_UNCONFIRMED.remove(str(self._seen[0]))
        self._seen = (year, calendar)
        unconfirmed = year not in calendar.confirmed_years
        metrics.CALENDAR_YEAR_UNCONFIRMED.labels(str(year)).set(int(unconfirmed))
        if unconfirmed and year not in self._warned:
            self._warned.add(year)
            log.warning(
                "calendar: %d is not confirmed by the override file: its days off are the "
                "holidays package's and no make-up working day is known; add the year's "
                "notice (docs/calendar.md, 'Each autumn: the next year')", year,
            )
