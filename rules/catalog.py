"""Procedure and unit catalogue (danh mục thủ tục và đơn vị) and calendar settings, from YAML.

The YAML is validated by msgspec into typed specs, so a bad catalogue fails with the
path of the offending field; the specs are then turned into small immutable values.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Annotated

import msgspec
import msgspec.structs
import msgspec.yaml

from dossierflow.rules.calendar import OfficeHours, Season, WorkingCalendar
from dossierflow.rules.calendar_years import Arrangements, YearSpec, arrangements_of

# Re-exported: the catalogue's users import them from here.
from dossierflow.rules.catalog_units import CatalogError as CatalogError
from dossierflow.rules.catalog_units import (
    ReportSpec,
    UnitSpec,
    catalog_text,
    decode_catalog,
    descendants,
    readings_of,
    units_of,
)
from dossierflow.rules.catalog_units import Unit as Unit
from dossierflow.rules.catalog_units import yaml_error_text as yaml_error_text
from dossierflow.rules.compliance import ComplianceRules
from dossierflow.rules.readings import ReportReadings
from dossierflow.rules.steps import DelayCause, StepRules
from dossierflow.schemas.event import ProcessingTime, TimeUnit

HHMM = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Weekday = Annotated[str, msgspec.Meta(pattern="^(mon|tue|wed|thu|fri|sat|sun)$")]
MMDD = Annotated[str, msgspec.Meta(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")]
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class PauseKind(enum.StrEnum):
    SUPPLEMENT = "supplement"
    FINANCIAL = "financial"


class PausePolicy(enum.StrEnum):
    RESTART = "restart"
    EXTEND = "extend"
    IGNORE = "ignore"


DEFAULT_PAUSE_POLICIES: Mapping[PauseKind, PausePolicy] = MappingProxyType(
    {PauseKind.SUPPLEMENT: PausePolicy.RESTART, PauseKind.FINANCIAL: PausePolicy.EXTEND}
)


@dataclass(frozen=True)
class Procedure:
    """A procedure (thủ tục hành chính) with its statutory processing time."""

    code: str
    name: str
    sector: str | None = None
    processing_time: ProcessingTime | None = None
    cutoff: time | None = None
    """Received after it, the clock starts at the next working day's opening (a `same_day`
    procedure without one takes the catalogue's `same_day_cutoff`)."""
    pause_policies: Mapping[PauseKind, PausePolicy] = field(
        default_factory=lambda: DEFAULT_PAUSE_POLICIES
    )
    at_risk_lead: timedelta | None = None
    """AT_RISK this much working time before a deadline that its `processing_time` gives;
    None: the catalogue's lead (rules/alerts.py, `at_risk_lead`)."""

    def pause_policy(self, kind: PauseKind) -> PausePolicy:
        return self.pause_policies.get(kind, DEFAULT_PAUSE_POLICIES[kind])


UNKNOWN_PROCEDURE = Procedure(code="", name="")
DEFAULT_SAME_DAY_CUTOFF = time(15)
"""Received after 15:00, a same-day request is due the next working day: Decree 23/2015/NĐ-CP
Art. 7 for certification (chứng thực: "ngay trong ngày cơ quan, tổ chức tiếp nhận yêu cầu
hoặc trong ngày làm việc tiếp theo, nếu tiếp nhận yêu cầu sau 15 giờ"), Decision
1872/QĐ-BTP (2020) for birth registration ("nhận hồ sơ sau 15 giờ mà không giải quyết được
ngay thì trả kết quả trong ngày làm việc tiếp theo"); docs/domain.md, "Same-day procedures"."""


@dataclass(frozen=True)
class Catalog:
    procedures: Mapping[str, Procedure] = field(default_factory=dict)
    units: Mapping[str, Unit] = field(default_factory=dict)
    compliance: ComplianceRules = field(default_factory=ComplianceRules)
    report: ReportReadings = field(default_factory=ReportReadings)
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    at_risk_lead: timedelta = timedelta(hours=8)
    steps: StepRules = field(default_factory=StepRules)
    arrangements: Arrangements = field(default_factory=Arrangements)
    """The yearly days off and working days behind `calendar`, each with its reason."""
    same_day_cutoff: time | None = DEFAULT_SAME_DAY_CUTOFF
    """The cut-off of a `same_day` processing time whose procedure sets none (None: none)."""

    def procedure(self, code: str | None) -> Procedure:
        """The procedure, or defaults (no processing time, default pause policies)."""
        return self.procedures.get(code or "", UNKNOWN_PROCEDURE)

    def cutoff(self, procedure: Procedure, processing: ProcessingTime | None) -> time | None:
        """The cut-off that starts the clock of a dossier of `procedure` allowed `processing`:
        the procedure's own, else `same_day_cutoff` for a same-day processing time."""
        if procedure.cutoff is not None:
            return procedure.cutoff
        if processing is not None and processing.unit is TimeUnit.SAME_DAY:
            return self.same_day_cutoff
        return None

    def descendants(self, code: str) -> frozenset[str]:
        """`code` and every unit below it in the tree."""
        return descendants(self.units, code)


# --- the YAML shape -------------------------------------------------------------------


class _ProcedureSpec(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1)]
    name: str
    sector: str | None = None
    processing_time: ProcessingTime | None = None
    cutoff: HHMM | None = None
    pause_policy: dict[PauseKind, PausePolicy] = {}
    at_risk_lead_hours: Annotated[float, msgspec.Meta(ge=0)] | None = None


OfficeHoursSpec = tuple[tuple[HHMM, HHMM], ...]


class _SeasonSpec(msgspec.Struct, forbid_unknown_fields=True):
    first: MMDD = msgspec.field(name="from")
    last: MMDD = msgspec.field(name="until")
    office_hours: OfficeHoursSpec


class _CalendarSpec(msgspec.Struct, forbid_unknown_fields=True):
    office_hours: OfficeHoursSpec = (("07:30", "11:30"), ("13:00", "17:00"))
    seasons: list[_SeasonSpec] = []
    """Office hours from one MM-DD to another of every year (docs/calendar.md)."""
    weekend: tuple[Weekday, ...] = ("sat", "sun")
    at_risk_lead_hours: Annotated[float, msgspec.Meta(ge=0)] = 8
    same_day_cutoff: HHMM | None = f"{DEFAULT_SAME_DAY_CUTOFF:%H:%M}"
    """`null`: a same-day dossier received before the close is due that day, however late."""
    overrides: dict[int, YearSpec] = {}
    """Merged day by day over the overrides file (rules/calendar_years.py)."""
    overrides_file: str | None = None
    """Relative to the catalogue file; `default` is the shipped file (2019–2026)."""


class _ComplianceSpec(msgspec.Struct, forbid_unknown_fields=True):
    """rules/compliance.py; docs/compliance.md gives the sources."""

    supplement_request_days: Annotated[int, msgspec.Meta(ge=0)] = 3
    apology_lead_days: Annotated[int, msgspec.Meta(ge=0)] = 1
    apology_due_alert: bool = False


class _StepsSpec(msgspec.Struct, forbid_unknown_fields=True):
    """rules/steps.py: processing steps' alerts and who caused a delay."""

    at_risk_lead_hours: Annotated[float, msgspec.Meta(ge=0)] = 4
    delay_cause: DelayCause = DelayCause.FIRST


class _CatalogSpec(msgspec.Struct, forbid_unknown_fields=True):
    calendar: _CalendarSpec = msgspec.field(default_factory=_CalendarSpec)
    compliance: _ComplianceSpec = msgspec.field(default_factory=_ComplianceSpec)
    report: ReportSpec = msgspec.field(default_factory=ReportSpec)
    steps: _StepsSpec = msgspec.field(default_factory=_StepsSpec)
    procedures: list[_ProcedureSpec] = []
    units: list[UnitSpec] = []


def _hhmm(text: str) -> time:
    return time.fromisoformat(text)


def _office_hours(spec: OfficeHoursSpec) -> OfficeHours:
    return OfficeHours(tuple((_hhmm(a), _hhmm(b)) for a, b in spec))


def _month_day(text: str) -> tuple[int, int]:
    month, day = text.split("-")
    return int(month), int(day)


def _arrangements(specs: dict[int, YearSpec], source: str) -> Arrangements:
    try:
        return arrangements_of(specs, source)
    except ValueError as exc:
        raise CatalogError(f"{source}: {exc}") from None


def read_overrides(text: bytes, source: str) -> Arrangements:
    """The arrangements of an override file; errors name the file and the field."""
    try:
        specs = msgspec.yaml.decode(text, type=dict[int, YearSpec])
    except ValueError as exc:  # msgspec's errors, and PyYAML's for dates such as 2026-02-30
        raise CatalogError(f"{source}: {yaml_error_text(exc)}") from None
    return _arrangements(specs, source)


DEFAULT_OVERRIDES_SOURCE = "calendar-overrides.yaml (default)"


def default_overrides_text() -> bytes:
    return resources.files("dossierflow").joinpath("data/calendar-overrides.yaml").read_bytes()


def _build(spec: _CatalogSpec, base_dir: Path | None, source: str) -> Catalog:
    cal = spec.calendar
    arrangements = Arrangements()
    if cal.overrides_file:
        if cal.overrides_file == "default":
            text, where = default_overrides_text(), DEFAULT_OVERRIDES_SOURCE
        else:
            path = (base_dir or Path.cwd()) / cal.overrides_file
            text, where = path.read_bytes(), str(path)
        arrangements = read_overrides(text, where)
    inline = _arrangements(cal.overrides, f"{source} (calendar.overrides)")
    arrangements = arrangements.merged_with(inline)
    try:
        seasons = tuple(
            Season(_month_day(s.first), _month_day(s.last), _office_hours(s.office_hours))
            for s in cal.seasons
        )
        calendar = WorkingCalendar(
            office_hours=_office_hours(cal.office_hours),
            seasons=seasons,
            extra_days_off=arrangements.days_off,
            make_up_days=arrangements.working_days,
            weekend=frozenset(_WEEKDAYS.index(d) for d in cal.weekend),
            confirmed_years=arrangements.confirmed_years,
        )
    except ValueError as exc:
        raise CatalogError(f"{source}: calendar: {exc}") from None
    units = units_of(spec.units, source)
    procedures = {
        p.code: Procedure(
            code=p.code,
            name=p.name,
            sector=p.sector,
            processing_time=p.processing_time,
            cutoff=_hhmm(p.cutoff) if p.cutoff else None,
            pause_policies=MappingProxyType({**DEFAULT_PAUSE_POLICIES, **p.pause_policy}),
            at_risk_lead=(
                None if p.at_risk_lead_hours is None else timedelta(hours=p.at_risk_lead_hours)
            ),
        )
        for p in spec.procedures
    }
    return Catalog(
        procedures=MappingProxyType(procedures),
        units=units,
        compliance=ComplianceRules(**msgspec.structs.asdict(spec.compliance)),
        report=readings_of(spec.report),
        calendar=calendar,
        at_risk_lead=timedelta(hours=cal.at_risk_lead_hours),
        steps=StepRules(timedelta(hours=spec.steps.at_risk_lead_hours), spec.steps.delay_cause),
        arrangements=arrangements,
        same_day_cutoff=_hhmm(cal.same_day_cutoff) if cal.same_day_cutoff else None,
    )


def parse_catalog(text: bytes, source: str = "catalog", base_dir: Path | None = None) -> Catalog:
    """Validate a YAML catalogue; errors name the source and the offending field."""
    return _build(decode_catalog(text, source, _CatalogSpec), base_dir, source)


def load_catalog(path: Path | None = None) -> Catalog:
    """The catalogue at `path`, or the shipped sample catalogue."""
    text, source = catalog_text(path)
    try:
        return parse_catalog(text, source, None if path is None else path.parent)
    except OSError as exc:  # the calendar overrides file it names
        raise CatalogError(f"catalogue {source}: {exc.filename}: {exc.strerror}") from None
