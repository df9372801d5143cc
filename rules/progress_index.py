"""The Decision 766 progress index (Bộ chỉ số 766/QĐ-TTg, group "Tiến độ giải quyết").

The national portal scores every province, department and commune monthly on the progress of
their dossiers: 2.1, the on-time ratio (20 of the 100 points), and 2.2, the average processing
time. This module reads one dossier's state the way the portal does and sums readings into
the index of units, groups of units and the province (pure: no clock, no I/O).

Source, unofficial: the portal's evaluation API `dvc-progress-tree` and the formula sheet
"Công thức 766.xlsx" as captured in the public repository ChippedTopaz/qd766
(docs/metrics.m0.json row 5, docs/SCORING_ANALYSIS_M0.md "Tiến độ giải quyết",
docs/QD766_DATA_MODEL.md 4.4): "Tỷ lệ hồ sơ xử lý trước hạn, đúng hạn trong kỳ (bao gồm hồ sơ
đã xử lý và đang xử lý) = Tổng số hồ sơ đã xử lý và đang xử lý trước hạn, đúng hạn và trong hạn
trong kỳ / Tổng số hồ sơ tiếp nhận và xử lý trong kỳ × 100", score = 20 × totalOnTime /
totalReceived (reproduced on 984 observations there). Each rule that source leaves open is a
field of `IndexSettings`, documented in docs/domain.md ("The Decision 766 progress index").

A dossier's reading, as of an instant T (the period's end, or now):
- it counts in a period [from, to) when received before `to` and its processing did not end
  before `from` (received, or still being processed, in the period);
- its end of processing is the first of resolved, returned, stopped and withdrawn
  (`closed_at`); one still open at T is judged at T;
- it is on time iff (end − supplement waiting time) ≤ the appointment, compared as instants,
  not as dates; the time waiting for a financial obligation is not subtracted;
- one waiting for a supplement at T is on time unless more than
  `max_supplements_while_waiting` supplements were requested (then overdue);
- the appointment is the receipt's (`appointment_at`), or after an apology the new one the
  letter gave (`rescheduled_due_at`), by `apology_appointment`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from dossierflow.rules.calendar import WorkingCalendar
from dossierflow.rules.catalog import PauseKind, Unit
from dossierflow.rules.lifecycle import NOT_RECEIVED, DossierState, Status
from dossierflow.schemas.event import TimeUnit

RESOLVED_STATUSES = frozenset({Status.RESOLVED, Status.RETURNED})


class ApologyAppointment(enum.StrEnum):
    """Which appointment decides after an apology letter (thư xin lỗi, hẹn lại ngày trả)."""

    SYNCED = "synced"
    """The portal's: the appointment synced to it (`NgayHenTra`), i.e. the letter's new one."""
    ORIGINAL = "original"
    """The law's: the receipt's appointment; the delay an apology explains remains a delay."""


class Reading(enum.StrEnum):
    ON_TIME = "ON_TIME"
    OVERDUE = "OVERDUE"


class Band(msgspec.Struct, frozen=True):
    """A class of units: from `min_score_ratio` of the maximum score upwards."""

    min_score_ratio: float
    label_vi: str
    label_en: str


DEFAULT_BANDS: tuple[Band, ...] = (
    Band(0.9, "Tốt", "good"),
    Band(0.8, "Khá", "fair"),
    Band(0.65, "Trung bình", "average"),
    Band(0.0, "Yếu", "weak"),
)
"""A documented default, not an official scale: provincial CCHC rankings class units by score
bands (tốt / khá / trung bình / yếu) whose limits each province sets; set your own."""


def parse_bands(text: str) -> tuple[Band, ...]:
    """`0.9:Tốt:good,0.8:Khá:fair,...`: best first, the last from 0 so every score has one."""
    bands = []
    for item in text.split(","):
        parts = item.strip().split(":")
        if len(parts) != 3:
            raise ValueError(f"band {item!r}: write min_share:label_vi:label_en")
        try:
            share = float(parts[0])
        except ValueError:
            raise ValueError(f"band {item!r}: {parts[0]!r} is not a number") from None
        bands.append(Band(share, parts[1].strip(), parts[2].strip()))
    shares = [b.min_score_ratio for b in bands]
    if shares != sorted(shares, reverse=True) or len(set(shares)) != len(shares):
        raise ValueError("bands must go from the best down, each with a lower minimum")
    if shares[-1] != 0:
        raise ValueError("the last band must start at 0, so that every score has a class")
    return tuple(bands)


class IndexSettings(msgspec.Struct, frozen=True, kw_only=True):
    apology_appointment: ApologyAppointment = ApologyAppointment.SYNCED
    max_supplements_while_waiting: int = 1
    max_score: float = 20.0
    bands: tuple[Band, ...] = DEFAULT_BANDS


# --- one dossier ----------------------------------------------------------------------


def counts_in_period(state: DossierState, period_from: datetime, period_to: datetime) -> bool:
    """Received before `to`, and its processing had not ended before `from`."""
    return (
        state.status not in NOT_RECEIVED
        and state.received_at is not None
        and state.received_at < period_to
        and (state.closed_at is None or state.closed_at >= period_from)
    )


def appointment(state: DossierState, settings: IndexSettings) -> datetime | None:
    if (
        settings.apology_appointment is ApologyAppointment.SYNCED
        and state.rescheduled_due_at is not None
    ):
        return state.rescheduled_due_at
    return state.appointment_at


def waiting_for_supplement(state: DossierState) -> bool:
    return state.pause_kind is PauseKind.SUPPLEMENT and state.paused_since is not None


def supplement_wait_until(state: DossierState, instant: datetime) -> timedelta:
    """Time waiting for supplements up to `instant` (a wait under way counts up to it)."""
    if waiting_for_supplement(state):
        assert state.paused_since is not None
        return state.supplement_wait + max(instant - state.paused_since, timedelta(0))
    return state.supplement_wait


def reading(state: DossierState, clock: datetime, settings: IndexSettings) -> Reading:
    """The dossier's 766 reading as of `clock`; `state` is its state after its last event
    before `clock` (a dossier still open is judged at `clock`)."""
    if state.closed_at is None and waiting_for_supplement(state):
        many = state.supplement_requests > settings.max_supplements_while_waiting
        return Reading.OVERDUE if many else Reading.ON_TIME
    due = appointment(state, settings)
    if due is None:  # no deadline known (unknown procedure): it cannot be late
        return Reading.ON_TIME
    judged_at = state.closed_at if state.closed_at is not None else clock
    effective_end = judged_at - supplement_wait_until(state, judged_at)
    return Reading.ON_TIME if effective_end <= due else Reading.OVERDUE


_PORTAL = IndexSettings()
"""The portal's reading (every setting at its default)."""


def outcome_by_instant(state: DossierState) -> Reading | None:
    """The reading of an ended dossier with the portal's appointment (the facts carry it
    beside `outcome`, the reading by local date); None while open or never received."""
    if state.closed_at is None or state.received_at is None:
        return None
    return reading(state, state.closed_at, _PORTAL)


# A struct, not a dataclass: one is built for every fact of a resolved dossier.
class ProcessingDuration(msgspec.Struct, frozen=True, gc=False):
    """2.2: from reception to the result, in the procedure's unit and in days."""

    value: float
    unit: TimeUnit
    days: float
    """Working days for working-day and working-hour procedures, calendar days otherwise."""


def processing_duration(
    state: DossierState, calendar: WorkingCalendar
) -> ProcessingDuration | None:
    """For a resolved dossier with a processing time: reception to result. Pauses are not
    subtracted (the portal's `avgProcessingDays` gives no rule for them)."""
    if (
        state.status not in RESOLVED_STATUSES
        or state.received_at is None
        or state.resolved_at is None
        or state.processing_time is None
    ):
        return None
    unit = state.processing_time.unit
    if unit is TimeUnit.CALENDAR_DAYS:
        days = round((state.resolved_at - state.received_at) / _DAY, 4)
        return ProcessingDuration(days, unit, days)
    worked = calendar.working_time_between(state.received_at, state.resolved_at)
    days = worked / calendar.office_hours.per_day
    value = worked / _HOUR if unit is TimeUnit.WORKING_HOURS else days
    return ProcessingDuration(round(value, 4), unit, round(days, 4))


_DAY, _HOUR = timedelta(days=1), timedelta(hours=1)


# --- sums -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexCounts:
    """The figures of one unit, group or the province for a period."""

    received: int = 0
    """Received or processed in the period: the denominator of 2.1."""
    on_time: int = 0
    overdue: int = 0
    completed: int = 0
    """Resolved (or returned) in the period: the population of 2.2."""
    processing_days: float = 0.0
    """Sum over `completed` of their processing time in days. Each is rounded to 4 decimals
    and so is every sum, so the total does not depend on the order of the additions (a
    Float64 sum does): the stores' views sum whole ten-thousandths (migration 012)."""
    at_risk: int = 0
    """Open at the period's end, on time, with an AT_RISK alert fired: each one the unit can
    still save today."""

    def __add__(self, other: IndexCounts) -> IndexCounts:
        return IndexCounts(
            self.received + other.received,
            self.on_time + other.on_time,
            self.overdue + other.overdue,
            self.completed + other.completed,
            round(self.processing_days + other.processing_days, 4),  # any order, same sum
            self.at_risk + other.at_risk,
        )

    @property
    def ratio(self) -> float | None:
        return round(self.on_time / self.received, 4) if self.received else None

    def score(self, max_score: float) -> float | None:
        """max_score × on time ÷ received; None when nothing was received (the source has no
        rule for a zero denominator, docs/SCORING_ANALYSIS_M0.md)."""
        if not self.received:
            return None
        return round(max_score * self.on_time / self.received, 2)

    def score_if_at_risk_overdue(self, max_score: float) -> float | None:
        if not self.received:
            return None
        return round(max_score * (self.on_time - self.at_risk) / self.received, 2)

    @property
    def average_days(self) -> float | None:
        return round(self.processing_days / self.completed, 2) if self.completed else None


def tally(
    states: Iterable[DossierState],
    period_from: datetime,
    period_to: datetime,
    settings: IndexSettings,
    calendar: WorkingCalendar,
    at_risk: frozenset[str] = frozenset(),
) -> dict[str, IndexCounts]:
    """Counts per receiving unit ('' without one) from each dossier's state as of `period_to`
    (after its last event before it); `at_risk` are the dossiers with an AT_RISK alert fired
    before `period_to`."""
    out: dict[str, IndexCounts] = {}
    for state in states:
        if not counts_in_period(state, period_from, period_to):
            continue
        on_time = reading(state, period_to, settings) is Reading.ON_TIME
        duration = processing_duration(state, calendar) if state.closed_at else None
        counts = IndexCounts(
            received=1,
            on_time=int(on_time),
            overdue=int(not on_time),
            completed=int(duration is not None),
            processing_days=duration.days if duration else 0.0,
            at_risk=int(on_time and state.closed_at is None and state.dossier_id in at_risk),
        )
        unit = state.unit_code or ""
        out[unit] = out.get(unit, IndexCounts()) + counts
    return out


@dataclass(frozen=True)
class IndexRow:
    code: str
    """A unit's code, a group's level, or '' for the province."""
    name: str
    group: str
    """The unit's level (its group), 'group' for a group's row, 'province' for the total."""
    counts: IndexCounts
    score: float | None
    score_if_at_risk_overdue: float | None
    band: Band | None
    rank: int | None
    """Within its group, by score (1 is best; equal scores share a rank); None without one."""


@dataclass(frozen=True)
class IndexReport:
    province: IndexRow
    groups: tuple[IndexRow, ...]
    units: tuple[IndexRow, ...]


def band_of(score: float | None, settings: IndexSettings) -> Band | None:
    if score is None:
        return None
    ratio = score / settings.max_score
    return next((b for b in settings.bands if ratio >= b.min_score_ratio), None)


def build_index(
    counts: Mapping[str, IndexCounts], units: Mapping[str, Unit], settings: IndexSettings
) -> IndexReport:
    """Rows for each unit with figures, each group of units (the unit tree's levels, e.g.
    departments and communes) and the province. A unit the catalogue does not know forms the
    group ''. Units are ranked within their group."""
    level_of = {code: (units[code].level if code in units else "") for code in counts}
    rows: list[IndexRow] = []
    groups: list[IndexRow] = []
    for group in sorted(set(level_of.values())):
        members = sorted(code for code, level in level_of.items() if level == group)
        scores = {code: counts[code].score(settings.max_score) for code in members}
        ranked = sorted((s for s in scores.values() if s is not None), reverse=True)
        for code in members:
            score = scores[code]
            rank = ranked.index(score) + 1 if score is not None else None
            name = units[code].name if code in units else code
            rows.append(_row(code, name, group, counts[code], settings, rank))
        total = sum((counts[code] for code in members), IndexCounts())
        groups.append(_row(group, group, "group", total, settings, None))
    rows.sort(key=lambda r: (r.group, r.rank is None, r.rank or 0, r.code))
    province = sum(counts.values(), IndexCounts())
    return IndexReport(
        province=_row("", "", "province", province, settings, None),
        groups=tuple(groups),
        units=tuple(rows),
    )


def _row(
    code: str, name: str, group: str, counts: IndexCounts, settings: IndexSettings,
    rank: int | None,
) -> IndexRow:
    score = counts.score(settings.max_score)
    return IndexRow(
        code=code,
        name=name,
        group=group,
        counts=counts,
        score=score,
        score_if_at_risk_overdue=counts.score_if_at_risk_overdue(settings.max_score),
        band=band_of(score, settings),
        rank=rank,
    )
