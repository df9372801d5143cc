"""Which reading the period report's outcome classes use (pure).

Two readings of "on time" exist side by side, and a province chooses the one its report
prints (the catalogue's `report:` section, `dossierflow report --outcome-reading/--appointment`):

- **reading** `date` (default): the three classes by local date, as provincial report forms
  print them (trước hạn / đúng hạn / quá hạn): resolved on the appointment's date is on time,
  whatever the hour. `instant`: overdue iff resolved after the appointment instant, as the
  Decision 766 index compares `NgayKetThucXuLy` with `NgayHenTra`; a dossier not overdue is
  early or on time by date, as before.
- **appointment** `original` (default): the deadline of the receipt slip, in force when the
  dossier is resolved. Decree 61/2018 keeps it after an apology ("hẹn lại ngày trả" once; the
  delay remains a delay: docs/domain.md, The apology letter). `rescheduled`: the apology's new
  date when there was one, as the national portal compares with the `NgayHenTra` the one-stop
  system synced after rescheduling (issue 17, from ChippedTopaz/qd766's capture of the portal;
  unofficial).

The lifecycle's `outcome` (and so alerts, facts and `bi_period_report`) is always the default
pair; other pairs are computed at report time by `bi_period_outcomes` (migration 011), the SQL
of `rules.lifecycle.outcome_under`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class OutcomeReading(enum.StrEnum):
    DATE = "date"
    INSTANT = "instant"


class Appointment(enum.StrEnum):
    ORIGINAL = "original"
    RESCHEDULED = "rescheduled"


@dataclass(frozen=True)
class ReportReadings:
    outcome_reading: OutcomeReading = OutcomeReading.DATE
    appointment: Appointment = Appointment.ORIGINAL

    @property
    def is_default(self) -> bool:
        """The lifecycle's own reading: the stored outcomes need no recomputation."""
        return self == ReportReadings()
