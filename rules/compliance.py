"""Compliance with the one-stop rules a unit is inspected on (pure; no clock, no I/O).

Two duties of the agency handling a dossier, both counted per unit in the period report:

- **Supplement requests in time.** A request to supplement or complete the dossier (phiếu yêu
  cầu bổ sung, hoàn thiện hồ sơ, form 02 of Circular 03/2025/TT-VPCP) must be made within
  `supplement_request_days` working days of reception: Decree 61/2018/NĐ-CP Art. 19(4) as
  amended by Decree 107/2021/NĐ-CP, as issue 17 states it. Whether Decree 118/2025/NĐ-CP,
  which replaced both on 1 July 2025, keeps the same limit, and in which article, could not be
  read in the sources available (docs/compliance.md), hence a catalogue setting (default 3).
- **Apologies in time.** An agency that will miss a deadline sends the applicant an apology with
  a new date (văn bản xin lỗi và hẹn lại ngày trả, form 04 of Circular 03/2025/TT-VPCP) at the
  latest one day before the deadline: Decree 61/2018 Art. 19(9) as amended (docs/compliance.md). The
  "one day" is read as `apology_lead_days` working days before the deadline's date (default
  1; the same reading the AT_RISK text gives unit heads).

Both limits are whole days, judged on local dates like the report's outcome classes: a
request or an apology made any time on the last allowed day is in time; the next day it is
late. The supplement limit is the deadline a procedure of `supplement_request_days` working
days received at the same instant would have (clock start, office hours, cut-off alike).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dossierflow.rules.calendar import WorkingCalendar


@dataclass(frozen=True)
class ComplianceRules:
    """The catalogue's `compliance:` section."""

    supplement_request_days: int = 3
    """Working days after reception within which a supplement request is in time."""
    apology_lead_days: int = 1
    """Working days before the deadline's date by which an apology must be issued."""
    apology_due_alert: bool = False
    """Raise APOLOGY_DUE on the last day an apology is still in time (rules/alerts.py). Off by
    default: docs/domain.md's alert contract (its four kinds, worked-examples.expected.jsonl) stays
    exact until a province turns it on."""


def supplement_request_limit(
    calendar: WorkingCalendar, clock_start: datetime, rules: ComplianceRules
) -> datetime:
    """The instant `supplement_request_days` working days after the clock started at
    reception; a request is in time up to the end of that instant's local date."""
    per_day = calendar.office_hours.per_day
    return calendar.add(clock_start, per_day * rules.supplement_request_days)


def after_the_day_of(calendar: WorkingCalendar, instant: datetime, limit: datetime) -> bool:
    """Whether `instant` falls on a local date after the local date of `limit`."""
    return calendar.local(instant).date() > calendar.local(limit).date()


def last_apology_day(calendar: WorkingCalendar, due_at: datetime, rules: ComplianceRules) -> date:
    """The last working day on which an apology for a deadline `due_at` is in time: the
    `apology_lead_days`-th working day before the deadline's local date."""
    day = calendar.local(due_at).date()
    found = 0
    while found < rules.apology_lead_days:
        day -= timedelta(days=1)
        found += calendar.is_working_day(day)
    return day


def apology_late(
    calendar: WorkingCalendar, issued_at: datetime, due_at: datetime, rules: ComplianceRules
) -> bool:
    """Whether an apology issued at `issued_at` for the deadline `due_at` came too late."""
    return calendar.local(issued_at).date() > last_apology_day(calendar, due_at, rules)


def apology_due_window(
    calendar: WorkingCalendar, due_at: datetime, rules: ComplianceRules
) -> tuple[datetime, datetime]:
    """When the APOLOGY_DUE alert of a deadline may fire: from the opening of the last day an
    apology is in time to the midnight that ends it (after that it can only be late)."""
    day = last_apology_day(calendar, due_at, rules)
    opening = calendar.windows(day)[0][0]
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), calendar.tz)
    return opening, end
