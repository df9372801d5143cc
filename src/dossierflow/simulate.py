"""Deterministic simulation of a province's dossier histories (`dossierflow simulate`).

`generate_events(count, seed, profile=...)` yields event dicts of schema v1 in arrival order:
by `occurred_at`, except a share that arrives late (hours to days after it occurred) and a
share sent twice. Dossiers mix channels, procedures and units of the catalogue, transfers,
pauses of both kinds, apologies (sometimes a forbidden second one), withdrawals, stops,
refusals at intake and, for a share of the resolved ones, processing steps (each
department's allotted and actual time). Only units that exist on a dossier's day receive it
(a unit dissolved on 30/6/2025 receives nothing after), and nothing happens from `today` on:
the history is what a data centre could hold today. The same seed, count, start, days, today
and profile always give the same events.

A `Profile` (YAML, see `data/profiles/`) sets the shares and the arrival pattern by weekday
and office hour; `load_profile` validates it with msgspec, as the catalogue is validated, so
an error names the file and the field. The default profile is the generator's historical
one (shipped as `historical`), which keeps benchmark inputs and the walkthrough's sample
file unchanged.

    dossierflow simulate --profile historical --count 1000000 --seed 1 --out events.jsonl
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import msgspec

from dossierflow.rules.calendar import WorkingCalendar
from dossierflow.rules.catalog import Catalog, Unit, load_catalog, yaml_error_text
from dossierflow.schemas.event import ProcessingTime, TimeUnit

_TZ = timezone(timedelta(hours=7))
_HOUR = 3600
_DAY = 86400
_OFFICE_START = 7 * _HOUR + 30 * 60
_OFFICE_END = 17 * _HOUR
DEFAULT_START = datetime(2026, 1, 5, tzinfo=_TZ)
"""A Monday; the generated history spans `days` days from here."""


Share = Annotated[float, msgspec.Meta(ge=0, le=1)]
Weight = Annotated[float, msgspec.Meta(ge=0)]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PROFILE_DIR = "data/profiles"


class Arrivals(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Relative weights of receiving days and hours; absent means uniform."""

    weekdays: dict[str, Weight] | None = None
    """By `mon`..`sun`; only the working calendar's working days receive dossiers."""
    hours: dict[int, Weight] | None = None
    """By office hour (7..16) of receipt at the counter or acceptance of an online filing."""


class Channels(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    online: Share = 0.45
    postal: Share = 0.10
    """In person: the rest."""
    online_full: Share = 0.6
    """Share of online filings made fully online (the rest partially)."""


class Shares(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Probabilities per dossier (or per event for `late_arrival` and `duplicate`)."""

    not_accepted: Share = 0.03
    """Online filings refused at intake."""
    to_commune: Share = 0.7
    working_hours_time: Share = 0.05
    """Dossiers received with a processing time in working hours."""
    transfer: Share = 0.2
    supplement: Share = 0.15
    financial_obligation: Share = 0.08
    resumed: Share = 0.9
    """Paused dossiers the applicant resumes (the rest still wait)."""
    apology: Share = 0.06
    second_apology: Share = 0.08
    resolved: Share = 0.84
    withdrawn: Share = 0.03
    stopped: Share = 0.02
    late_resolution: Share = 0.0
    """Dossiers resolved weeks after their last step, past any statutory time of the
    catalogue; 0 leaves lateness to chance."""
    steps: Share = 0.0
    """Resolved dossiers whose processing the one-stop system reports step by step (the
    control sheet: STEP_STARTED and STEP_COMPLETED per department, each with its allotted
    time); 0 draws nothing, so the historical profile's histories stay as they were."""
    late_arrival: Share = 0.02
    duplicate: Share = 0.01


class Profile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A province's simulated activity; see `data/profiles/*.yaml` for commented examples."""

    description: str = ""
    start: date = DEFAULT_START.date()
    days: Annotated[int, msgspec.Meta(ge=1)] = 365
    dossiers_per_working_day: Annotated[int, msgspec.Meta(ge=1)] = 100
    arrivals: Arrivals = Arrivals()
    channels: Channels = Channels()
    shares: Shares = Shares()

    def __post_init__(self) -> None:
        # Sums are checked here so that the error still names a field.
        if self.channels.online + self.channels.postal > 1:
            raise ValueError("channels: online + postal must not exceed 1 - at `$.channels`")
        ends = self.shares.resolved + self.shares.withdrawn + self.shares.stopped
        if ends > 1:
            raise ValueError(
                "shares: resolved + withdrawn + stopped must not exceed 1 - at `$.shares`"
            )
        for day in self.arrivals.weekdays or {}:
            if day not in WEEKDAYS:
                raise ValueError(
                    f"unknown weekday {day!r} (one of {', '.join(WEEKDAYS)})"
                    " - at `$.arrivals.weekdays`"
                )
        for hour in self.arrivals.hours or {}:
            if not _OFFICE_START // _HOUR <= hour < _OFFICE_END // _HOUR:
                raise ValueError(
                    f"hour {hour} is outside office hours (7..16) - at `$.arrivals.hours`"
                )


DEFAULT_PROFILE = Profile()


def profile_start(profile: Profile, first_day: date | None = None) -> datetime:
    """Midnight in Vietnam of `first_day`, else of the profile's first day."""
    return datetime.combine(first_day or profile.start, time(), _TZ)


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file and the field."""


def parse_profile(text: bytes, source: str) -> Profile:
    try:
        data = msgspec.yaml.decode(text)
        return msgspec.convert({} if data is None else data, Profile)  # empty: all defaults
    except (msgspec.ValidationError, ValueError) as exc:  # ValueError: PyYAML's, and sums
        raise ProfileError(f"{source}: {yaml_error_text(exc)}") from None


def shipped_profiles() -> list[str]:
    folder = resources.files("dossierflow").joinpath(PROFILE_DIR)
    names = (f.name for f in folder.iterdir())
    return sorted(name.removesuffix(".yaml") for name in names if name.endswith(".yaml"))


def load_profile(name_or_path: str) -> Profile:
    """A shipped profile by name (`province-small`), or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            return parse_profile(path.read_bytes(), str(path))
        except OSError as exc:
            raise ProfileError(f"{path}: {exc.strerror}") from None
    shipped = resources.files("dossierflow").joinpath(f"{PROFILE_DIR}/{name_or_path}.yaml")
    if not shipped.is_file():
        raise ProfileError(
            f"profile {name_or_path!r}: no such file, nor a shipped profile "
            f"(one of {', '.join(shipped_profiles())})"
        )
    return parse_profile(shipped.read_bytes(), f"{name_or_path}.yaml (shipped)")


def _stamp(seconds: int, cache: dict[int, str]) -> str:
    """RFC 3339 in +07:00 of an epoch time (memoised: many events share an instant)."""
    text = cache.get(seconds)
    if text is None:
        text = datetime.fromtimestamp(seconds, _TZ).isoformat()
        cache[seconds] = text
    return text


class _Dossier:
    """Builds the events of one dossier as (occurred_at seconds, type, extra fields)."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[tuple[int, str, dict[str, Any]]] = []

    def add(self, at: int, kind: str, **fields: Any) -> int:
        self.events.append((at, kind, fields))
        return at


def _in_office(rng: random.Random, at: int) -> int:
    """`at`, or a time within office hours of that day or the next if it falls outside."""
    of_day = (at + 7 * _HOUR) % _DAY
    if _OFFICE_START <= of_day < _OFFICE_END:
        return at
    day_start = at - of_day + (_DAY if of_day >= _OFFICE_END else 0)
    return max(at, _office_time(rng, day_start))


def _office_time(rng: random.Random, day_start: int) -> int:
    return day_start + rng.randrange(_OFFICE_START, _OFFICE_END, 60)


class _Arrivals:
    """Draws receiving days and hours with the profile's weights (uniform without)."""

    def __init__(self, arrivals: Arrivals, days: list[tuple[int, date]]) -> None:
        self.days = days
        self._day_weights = None
        if arrivals.weekdays is not None:
            weights = arrivals.weekdays
            self._day_weights = [weights.get(WEEKDAYS[d.weekday()], 0.0) for _, d in days]
            if not any(self._day_weights):
                raise ValueError("arrivals.weekdays: no working day of the history has a weight")
        self._hours = None
        if arrivals.hours is not None:
            self._hours = sorted(arrivals.hours)
            self._hour_weights = [arrivals.hours[h] for h in self._hours]

    def day(self, rng: random.Random) -> tuple[int, date]:
        if self._day_weights is None:
            return rng.choice(self.days)
        return rng.choices(self.days, self._day_weights)[0]

    def office_time(self, rng: random.Random, day_start: int) -> int:
        if self._hours is None:
            return _office_time(rng, day_start)
        hour = rng.choices(self._hours, self._hour_weights)[0]
        at = max(hour * _HOUR + rng.randrange(0, _HOUR, 60), _OFFICE_START)
        return day_start + min(at, _OFFICE_END - 60)


class _ReceivingUnits:
    """The communes and departments that exist on a day (units may have been dissolved)."""

    def __init__(self, units: list[Unit]) -> None:
        self._units = units
        self._by_day: dict[date, tuple[list[str], list[str]]] = {}

    def on(self, day: date) -> tuple[list[str], list[str]]:
        found = self._by_day.get(day)
        if found is None:
            levels = {u.code: u.level for u in self._units if u.exists_on(day)}
            communes = sorted(c for c, level in levels.items() if level == "commune")
            communes = communes or sorted(levels)
            departments = sorted(c for c, level in levels.items() if level == "department")
            found = self._by_day[day] = (communes, departments or communes)
        return found


_STEP_SHARES = ((0.5, 0.5), (0.25, 0.5, 0.25))
"""How a dossier's processing time is split among its 2 or 3 steps: receiving unit and
specialist department, or receiving unit, specialist department, receiving unit again."""


def _allowance_hours(processing: ProcessingTime | None) -> float:
    """The processing time in working hours, for splitting it among steps (a calendar day
    counted as 5/7 of a working day; same-day: the whole day)."""
    if processing is None:
        return 8.0
    if processing.unit is TimeUnit.WORKING_HOURS:
        return processing.value
    if processing.unit is TimeUnit.CALENDAR_DAYS:
        return processing.value * 8 * 5 / 7
    if processing.unit is TimeUnit.SAME_DAY:
        return 8.0
    return processing.value * 8


def _steps(
    rng: random.Random,
    d: _Dossier,
    span: tuple[int, int],
    units: tuple[str, str],
    processing: ProcessingTime | None,
    calendar: WorkingCalendar,
) -> None:
    """The steps of a dossier processed from `span[0]` to `span[1]` by the receiving unit and
    a specialist department (`units`): each starts when the previous one is handed on, at
    distinct minutes (so no two events of the dossier share an instant), and is allotted
    its share of the processing time as working time from its start; a step that holds the
    dossier longer is late, as the one that follows a late one may be too."""
    shares = rng.choice(_STEP_SHARES)
    received, resolved = span
    minutes = (resolved - received) // 60 - 1
    if minutes < 2 * len(shares):
        return
    instants = sorted(received + 60 * m for m in rng.sample(range(1, minutes), 2 * len(shares)))
    allowance = _allowance_hours(processing)
    for number, share in enumerate(shares):
        started, completed = instants[2 * number], instants[2 * number + 1]
        allotted = timedelta(hours=max(1.0, round(allowance * share, 1)))
        due = calendar.add(datetime.fromtimestamp(started, _TZ), allotted)
        step_id = f"b{number + 1}"
        d.add(started, "STEP_STARTED", step_id=step_id, step_unit_code=units[number % 2],
              step_due_at=int(due.timestamp()))
        d.add(completed, "STEP_COMPLETED", step_id=step_id)


def _history(
    rng: random.Random,
    profile: Profile,
    arrivals: _Arrivals,
    received_day: int,
    catalog: Catalog,
    procedures: list[str],
    communes: list[str],
    departments: list[str],
) -> _Dossier:
    d = _Dossier()
    shares, channels = profile.shares, profile.channels
    r = rng.random()
    online, postal = channels.online, channels.online + channels.postal
    channel = "ONLINE" if r < online else ("POSTAL" if r < postal else "IN_PERSON")
    if channel == "ONLINE":
        # Online filings come at any hour; acceptance during office hours.
        submitted = received_day + rng.randrange(0, _DAY, 60) - _DAY
        d.add(submitted, "SUBMITTED")
        if rng.random() < shares.not_accepted:
            d.add(
                submitted + rng.randrange(_HOUR, 2 * _DAY, 60),
                "NOT_ACCEPTED",
                reason="Hồ sơ không đủ điều kiện tiếp nhận",
            )
            return d
        at = max(submitted + 600, arrivals.office_time(rng, received_day))
        if rng.random() < 0.08:
            at = received_day + rng.choice((6, 18, 20, 22)) * _HOUR  # after hours
    else:
        at = arrivals.office_time(rng, received_day)
    unit = rng.choice(communes if rng.random() < shares.to_commune else departments)
    procedure = rng.choice(procedures)
    fields: dict[str, Any] = {
        "unit_code": unit,
        "procedure_code": procedure,
        "channel": channel,
    }
    if channel == "ONLINE":
        fields["online_level"] = "FULL" if rng.random() < channels.online_full else "PARTIAL"
    if rng.random() < shares.working_hours_time:
        fields["processing_time"] = {"value": rng.choice((4, 8, 16)), "unit": "working_hours"}
    received = now = d.add(at, "RECEIVED", **fields)
    if rng.random() < shares.transfer:
        now = d.add(
            now + rng.randrange(600, _DAY, 60), "TRANSFERRED", unit_code=rng.choice(departments)
        )
    pauses = (
        ("SUPPLEMENT_REQUESTED", shares.supplement),
        ("FINANCIAL_OBLIGATION_REQUESTED", shares.financial_obligation),
    )
    for kind, share in pauses:
        if rng.random() < share:
            now = d.add(now + rng.randrange(_HOUR, 3 * _DAY, 60), kind)
            if rng.random() < shares.resumed:
                now = d.add(now + rng.randrange(_HOUR, 6 * _DAY, 60), "RESUMED")
            else:
                return d  # still waiting for the applicant
    if rng.random() < shares.apology:
        now = d.add(
            now + rng.randrange(_HOUR, 8 * _DAY, 60),
            "APOLOGY_ISSUED",
            new_due_at=now + rng.randrange(3, 12) * _DAY,
        )
        if rng.random() < shares.second_apology:
            now = d.add(
                now + rng.randrange(_HOUR, 5 * _DAY, 60),
                "APOLOGY_ISSUED",
                new_due_at=now + rng.randrange(6, 15) * _DAY,
            )
    end = rng.random()
    if end < shares.resolved:
        # Checked only when asked for, so that the default profile draws what it always drew.
        late = shares.late_resolution > 0 and rng.random() < shares.late_resolution
        if late:
            delay = rng.randrange(30 * _DAY, 60 * _DAY, 60)
        else:
            delay = rng.randrange(_HOUR, 9 * _DAY, 60)
        now = d.add(_in_office(rng, now + delay), "RESOLVED")
        if shares.steps > 0 and rng.random() < shares.steps:
            stated = fields.get("processing_time")
            processing = (ProcessingTime(**stated) if stated
                          else catalog.procedure(procedure).processing_time)
            _steps(rng, d, (received, now), (unit, rng.choice(departments)), processing,
                   catalog.calendar)
        if rng.random() < 0.8:
            d.add(_in_office(rng, now + rng.randrange(600, 4 * _DAY, 60)), "RETURNED")
    elif end < shares.resolved + shares.withdrawn:
        d.add(now + rng.randrange(_HOUR, 10 * _DAY, 60), "WITHDRAWN", reason="Công dân rút hồ sơ")
    elif end < shares.resolved + shares.withdrawn + shares.stopped:
        d.add(now + rng.randrange(_HOUR, 10 * _DAY, 60), "STOPPED")
    return d


_INSTANT_FIELDS = frozenset({"new_due_at", "step_due_at"})


def generate_events(
    count: int | None,
    seed: int = 0,
    catalog: Catalog | None = None,
    start: datetime = DEFAULT_START,
    days: int = 365,
    today: date | None = None,
    profile: Profile = DEFAULT_PROFILE,
) -> Iterator[dict[str, Any]]:
    """`count` events of realistic histories, in arrival order (see the module doc); without
    a count, the histories of the profile's `dossiers_per_working_day` on each working day.

    Dossiers are received on the working days of `days` days from `start` that come before
    `today` (default: the machine's date); events that would happen on `today` or later are
    not generated, so such dossiers are still open, as they would be.
    """
    rng = random.Random(seed)
    catalog = catalog or load_catalog()
    procedures = sorted(catalog.procedures)
    receiving = _ReceivingUnits(list(catalog.units.values()))
    calendar = catalog.calendar
    today = today or date.today()
    history_end = int(datetime.combine(today, time(), _TZ).timestamp())
    origin = int(start.timestamp()) - int(start.timestamp() + 7 * _HOUR) % _DAY
    days_from_start = [(start + timedelta(days=n)).date() for n in range(days)]
    working_days = [
        (origin + n * _DAY, day)
        for n, day in enumerate(days_from_start)
        if day < today and calendar.is_working_day(day)
    ]
    if not working_days:
        raise ValueError(
            f"no working day from {start.date().isoformat()} for {days} days before today "
            f"({today.isoformat()}): choose an earlier start"
        )
    arrivals = _Arrivals(profile.arrivals, working_days)
    dossiers = profile.dossiers_per_working_day * len(working_days)
    shares = profile.shares
    # (arrival, tiebreak, occurred_at, dossier number, index in dossier, type, fields)
    queue: list[tuple[int, int, int, int, int, str, dict[str, Any]]] = []
    number = 0
    while len(queue) < count if count is not None else number < dossiers:
        received_day, day = arrivals.day(rng)
        communes, departments = receiving.on(day)
        history = _history(
            rng, profile, arrivals, received_day, catalog, procedures, communes, departments
        )
        with_sequence = rng.random() < 0.7
        happened = [event for event in history.events if event[0] < history_end]
        for index, (at, kind, fields) in enumerate(happened):
            if with_sequence:
                fields["sequence"] = index
            arrival = at
            if rng.random() < shares.late_arrival:
                arrival += rng.randrange(_HOUR, 3 * _DAY, 60)
            queue.append((arrival, len(queue), at, number, index, kind, fields))
            if rng.random() < shares.duplicate:
                queue.append(
                    (arrival + rng.randrange(1, _DAY), len(queue), at, number, index, kind, fields)
                )
        number += 1
    if count is not None:
        del queue[count:]
    queue.sort()
    stamps: dict[int, str] = {}
    width = max(6, len(str(number)))
    for _arrival, _tie, at, dossier, index, kind, fields in queue:
        dossier_id = f"HS{seed:02d}-{dossier:0{width}d}"
        event: dict[str, Any] = {
            "schema_version": 1,
            "event_id": f"{dossier_id}-{index}",
            "dossier_id": dossier_id,
            "type": kind,
            "occurred_at": _stamp(at, stamps),
        }
        for key, value in fields.items():
            event[key] = _stamp(value, stamps) if key in _INSTANT_FIELDS else value
        yield event


def generate_lines(count: int | None, seed: int = 0, **options: Any) -> Iterator[bytes]:
    """The same events as JSON lines (UTF-8, newline-terminated)."""
    encode = msgspec.json.Encoder().encode
    for event in generate_events(count, seed, **options):
        yield encode(event) + b"\n"


def write_jsonl(out: BinaryIO, count: int | None, seed: int = 0, **options: Any) -> int:
    """Write `count` events to `out` (a file, or standard output); returns how many."""
    written = 0
    batch: list[bytes] = []
    for line in generate_lines(count, seed, **options):
        batch.append(line)
        if len(batch) >= 10_000:
            out.write(b"".join(batch))
            written += len(batch)
            batch.clear()
    out.write(b"".join(batch))
    return written + len(batch)

