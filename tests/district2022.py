"""Deterministic events reproducing the district 2022 figures of docs/domain.md (test helper).

"District level received 1,396 dossiers; 1,332 resolved early, 3 on time, 56 overdue,
5 in progress. Commune level received 31,125; 31,118 resolved, 7 in progress."

Units come from the sample catalogue: H-01 (level district) and the two communes under it,
X-H01-01 and X-H01-02. The working days of 2022 are written out here from the Government's
holiday schedule for civil servants (`DAYS_OFF_2022`), not taken from the product's calendar,
so a calendar that misplaced a holiday would move deadlines and change the figures. Every
dossier is RECEIVED on a working day of 2022 with a processing
time of 3 working days and no `due_at`, so the pipeline derives the deadline itself: received
at 08:00–08:29 on working day D, 3 × 8 working hours end on the third working day after D at
the same time of day (D has 7.5 h left after 08:00 at most, so the deadline always falls on
that third working day). The resolution date then fixes the outcome by docs/domain.md's date rule:

- EARLY: resolved at 10:00 on the first working day after D (a date before the due date);
- ON_TIME: resolved at 16:00 on the due date (after the due time, still the same date);
- OVERDUE: resolved at 09:00 on the working day after the due date.

In-progress dossiers are received in the last days of December 2022 and are still open at
2023-01-01 00:00; some of them are resolved in January 2023, which must not count in 2022.
Commune resolved outcomes are split (docs/domain.md gives only their total, 31,118).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
PERIOD_FROM = "2022-01-01"
PERIOD_TO = "2023-01-01"
PROCEDURE = "1.000894"
PROCESSING_DAYS = 3
CHANNELS = ("IN_PERSON", "ONLINE", "POSTAL")


@dataclass(frozen=True)
class LevelPlan:
    """How many dossiers of one level end which way; units take turns."""

    units: tuple[str, ...]
    early: int
    on_time: int
    overdue: int
    in_progress: int

    @property
    def received(self) -> int:
        return self.early + self.on_time + self.overdue + self.in_progress

    @property
    def resolved(self) -> int:
        return self.early + self.on_time + self.overdue


DISTRICT = LevelPlan(("H-01",), early=1_332, on_time=3, overdue=56, in_progress=5)
COMMUNE = LevelPlan(
    ("X-H01-01", "X-H01-02"), early=30_990, on_time=100, overdue=28, in_progress=7
)
"""31,125 received = 31,118 resolved + 7 in progress."""


def expected_total(plan: LevelPlan) -> dict[str, int]:
    """The report's `total` keys this module pins down for one level."""
    return {
        "carried_over": 0,
        "received": plan.received,
        "resolved_early": plan.early,
        "resolved_on_time": plan.on_time,
        "resolved_overdue": plan.overdue,
        "withdrawn": 0,
        "stopped": 0,
        "in_progress": plan.in_progress,
    }


DAYS_OFF_2022 = (
    date(2022, 1, 3),  # Tết Dương lịch: Saturday 1/1, observed Monday 3/1
    date(2022, 1, 31),  # Tết Nhâm Dần: 29 tháng Chạp ...
    date(2022, 2, 1),
    date(2022, 2, 2),
    date(2022, 2, 3),
    date(2022, 2, 4),  # ... to mùng 4 Tết (nine days off with the two weekends)
    date(2022, 4, 11),  # Giỗ Tổ Hùng Vương: Sunday 10/4, observed Monday 11/4
    date(2022, 5, 2),  # 30/4 (Saturday) and 1/5 (Sunday), observed Monday 2/5 ...
    date(2022, 5, 3),  # ... and Tuesday 3/5
    date(2022, 9, 1),  # Quốc khánh: the day before 2/9 ...
    date(2022, 9, 2),  # ... and 2/9 itself (Thursday 1/9 to Sunday 4/9)
)
"""Weekdays off in 2022 for civil servants (the Ministry of Labour's 2022 holiday notices,
Labour Code 2019 art. 112: a holiday on a weekend is taken the next working day). 2022 had
no make-up Saturdays."""


def working_days_2022() -> list[date]:
    """Monday to Friday of 2022, less `DAYS_OFF_2022`."""
    first = date(2022, 1, 1)
    every_day = (first + timedelta(days=n) for n in range(365))
    return [d for d in every_day if d.weekday() < 5 and d not in DAYS_OFF_2022]


def _after(days: list[date], index: int, step: int) -> date:
    return days[index + step]


def _event(dossier_id: str, kind: str, at: datetime, **fields: object) -> dict[str, object]:
    return {
        "schema_version": 1,
        "event_id": f"{dossier_id}-{kind}",
        "dossier_id": dossier_id,
        "type": kind,
        "occurred_at": at.isoformat(),
        **fields,
    }


def _dossiers(plan: LevelPlan, prefix: str) -> Iterator[
    tuple[dict[str, object], dict[str, object] | None]
]:
    """(RECEIVED, RESOLVED or None) per dossier of `plan`."""
    # Working days with room for resolution inside 2022: D + 4 working days <= 2022-12-30.
    days = working_days_2022()
    last_2022 = len(days) - 1
    resolvable = list(range(0, last_2022 - PROCESSING_DAYS - 1))
    outcomes = (
        ["EARLY"] * plan.early
        + ["ON_TIME"] * plan.on_time
        + ["OVERDUE"] * plan.overdue
        + ["OPEN"] * plan.in_progress
    )
    for number, outcome in enumerate(outcomes):
        dossier_id = f"{prefix}-{number:06d}"
        unit = plan.units[number % len(plan.units)]
        if outcome == "OPEN":
            day_index = last_2022 - (number % 3)  # the last working days of 2022
        else:
            day_index = resolvable[(number * 7919) % len(resolvable)]
        received_day = days[day_index]
        received_at = datetime.combine(received_day, time(8, number % 30), LOCAL)
        received = _event(
            dossier_id, "RECEIVED", received_at,
            unit_code=unit,
            procedure_code=PROCEDURE,
            channel=CHANNELS[number % len(CHANNELS)],
            processing_time={"value": PROCESSING_DAYS, "unit": "working_days"},
        )
        due_index = day_index + PROCESSING_DAYS
        if outcome == "EARLY":
            resolved_at = datetime.combine(_after(days, day_index, 1), time(10), LOCAL)
        elif outcome == "ON_TIME":
            resolved_at = datetime.combine(days[due_index], time(16), LOCAL)
        elif outcome == "OVERDUE":
            resolved_at = datetime.combine(_after(days, due_index, 1), time(9), LOCAL)
        elif number % 2 == 0:  # open at 2023-01-01, resolved later in January 2023
            resolved_at = datetime.combine(date(2023, 1, 10), time(9), LOCAL)
        else:
            yield received, None
            continue
        yield received, _event(dossier_id, "RESOLVED", resolved_at)


def generate(*, communes: bool = True) -> list[dict[str, object]]:
    """All events of the scenario in time order (`occurred_at`, then dossier, RECEIVED first).

    `communes=False` gives the district level only (1,396 dossiers, 2,789 events)."""
    plans = [(DISTRICT, "H01")] + ([(COMMUNE, "X01")] if communes else [])
    events: list[dict[str, object]] = []
    for plan, prefix in plans:
        for received, resolved in _dossiers(plan, prefix):
            events.append(received)
            if resolved is not None:
                events.append(resolved)
    events.sort(
        key=lambda e: (
            datetime.fromisoformat(str(e["occurred_at"])),
            str(e["dossier_id"]),
            e["type"] != "RECEIVED",
        )
    )
    return events


def as_lines(events: list[dict[str, object]]) -> list[bytes]:
    return [json.dumps(e, separators=(",", ":")).encode() for e in events]
