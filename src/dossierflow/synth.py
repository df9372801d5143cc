"""Deterministic generator of realistic dossier histories, for benchmarks and load tests.

`generate_events(count, seed)` yields event dicts of schema v1 in arrival order: by
`occurred_at`, except a small share that arrives late (hours to days after it occurred) and
a small share sent twice. Dossiers mix channels, procedures and units of the catalogue,
transfers, pauses of both kinds, apologies (sometimes a forbidden second one), withdrawals,
stops and refusals at intake. Only units that exist on a dossier's day receive it (a unit
dissolved on 30/6/2025 receives nothing after), and nothing happens from `today` on: the
history is what a data centre could hold today. The same seed, count, start, days and today
always give the same events.

    python -m dossierflow.synth --count 1000000 --seed 1 --out events.jsonl
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec

from dossierflow.rules.catalog import Catalog, Unit, load_catalog

_TZ = timezone(timedelta(hours=7))
_HOUR = 3600
_DAY = 86400
_OFFICE_START = 7 * _HOUR + 30 * 60
_OFFICE_END = 17 * _HOUR
DEFAULT_START = datetime(2026, 1, 5, tzinfo=_TZ)
"""A Monday; the generated history spans `days` days from here."""

SHARE_LATE = 0.02
SHARE_DUPLICATE = 0.01


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


def _history(
    rng: random.Random,
    received_day: int,
    procedures: list[str],
    communes: list[str],
    departments: list[str],
) -> _Dossier:
    d = _Dossier()
    r = rng.random()
    channel = "ONLINE" if r < 0.45 else ("POSTAL" if r < 0.55 else "IN_PERSON")
    if channel == "ONLINE":
        # Online filings come at any hour; acceptance during office hours.
        submitted = received_day + rng.randrange(0, _DAY, 60) - _DAY
        d.add(submitted, "SUBMITTED")
        if rng.random() < 0.03:
            d.add(
                submitted + rng.randrange(_HOUR, 2 * _DAY, 60),
                "NOT_ACCEPTED",
                reason="Hồ sơ không đủ điều kiện tiếp nhận",
            )
            return d
        at = max(submitted + 600, _office_time(rng, received_day))
        if rng.random() < 0.08:
            at = received_day + rng.choice((6, 18, 20, 22)) * _HOUR  # after hours
    else:
        at = _office_time(rng, received_day)
    unit = rng.choice(communes if rng.random() < 0.7 else departments)
    fields: dict[str, Any] = {
        "unit_code": unit,
        "procedure_code": rng.choice(procedures),
        "channel": channel,
    }
    if channel == "ONLINE":
        fields["online_level"] = "FULL" if rng.random() < 0.6 else "PARTIAL"
    if rng.random() < 0.05:
        fields["processing_time"] = {"value": rng.choice((4, 8, 16)), "unit": "working_hours"}
    now = d.add(at, "RECEIVED", **fields)
    if rng.random() < 0.2:
        now = d.add(
            now + rng.randrange(600, _DAY, 60), "TRANSFERRED", unit_code=rng.choice(departments)
        )
    for kind, share in (("SUPPLEMENT_REQUESTED", 0.15), ("FINANCIAL_OBLIGATION_REQUESTED", 0.08)):
        if rng.random() < share:
            now = d.add(now + rng.randrange(_HOUR, 3 * _DAY, 60), kind)
            if rng.random() < 0.9:
                now = d.add(now + rng.randrange(_HOUR, 6 * _DAY, 60), "RESUMED")
            else:
                return d  # still waiting for the applicant
    if rng.random() < 0.06:
        now = d.add(
            now + rng.randrange(_HOUR, 8 * _DAY, 60),
            "APOLOGY_ISSUED",
            new_due_at=now + rng.randrange(3, 12) * _DAY,
        )
        if rng.random() < 0.08:
            now = d.add(
                now + rng.randrange(_HOUR, 5 * _DAY, 60),
                "APOLOGY_ISSUED",
                new_due_at=now + rng.randrange(6, 15) * _DAY,
            )
    end = rng.random()
    if end < 0.84:
        now = d.add(_in_office(rng, now + rng.randrange(_HOUR, 9 * _DAY, 60)), "RESOLVED")
        if rng.random() < 0.8:
            d.add(_in_office(rng, now + rng.randrange(600, 4 * _DAY, 60)), "RETURNED")
    elif end < 0.87:
        d.add(now + rng.randrange(_HOUR, 10 * _DAY, 60), "WITHDRAWN", reason="Công dân rút hồ sơ")
    elif end < 0.89:
        d.add(now + rng.randrange(_HOUR, 10 * _DAY, 60), "STOPPED")
    return d


def generate_events(
    count: int,
    seed: int = 0,
    catalog: Catalog | None = None,
    start: datetime = DEFAULT_START,
    days: int = 365,
    today: date | None = None,
) -> Iterator[dict[str, Any]]:
    """`count` events of realistic histories, in arrival order (see the module doc).

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
    # (arrival, tiebreak, occurred_at, dossier number, index in dossier, type, fields)
    queue: list[tuple[int, int, int, int, int, str, dict[str, Any]]] = []
    number = 0
    while len(queue) < count:
        received_day, day = rng.choice(working_days)
        communes, departments = receiving.on(day)
        history = _history(rng, received_day, procedures, communes, departments)
        with_sequence = rng.random() < 0.7
        happened = [event for event in history.events if event[0] < history_end]
        for index, (at, kind, fields) in enumerate(happened):
            if with_sequence:
                fields["sequence"] = index
            arrival = at
            if rng.random() < SHARE_LATE:
                arrival += rng.randrange(_HOUR, 3 * _DAY, 60)
            queue.append((arrival, len(queue), at, number, index, kind, fields))
            if rng.random() < SHARE_DUPLICATE:
                queue.append(
                    (arrival + rng.randrange(1, _DAY), len(queue), at, number, index, kind, fields)
                )
        number += 1
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
            event[key] = _stamp(value, stamps) if key == "new_due_at" else value
        yield event


def generate_lines(count: int, seed: int = 0, **options: Any) -> Iterator[bytes]:
    """The same events as JSON lines (UTF-8, newline-terminated)."""
    encode = msgspec.json.Encoder().encode
    for event in generate_events(count, seed, **options):
        yield encode(event) + b"\n"


def write_jsonl(path: Path, count: int, seed: int = 0, **options: Any) -> int:
    """Write `count` events to `path`; returns the number of bytes written."""
    size = 0
    with path.open("wb") as out:
        batch: list[bytes] = []
        for line in generate_lines(count, seed, **options):
            batch.append(line)
            if len(batch) >= 10_000:
                size += out.write(b"".join(batch))
                batch.clear()
        size += out.write(b"".join(batch))
    return size


def main(argv: list[str] | None = None) -> int:
    """`python -m dossierflow.synth --count N --seed S --out FILE` (stdout without --out)."""
    parser = argparse.ArgumentParser(prog="python -m dossierflow.synth", description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=DEFAULT_START.date(),
        help=f"first day of the history (default {DEFAULT_START.date().isoformat()})",
    )
    parser.add_argument("--days", type=int, default=365, help="days of history (365)")
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        help="the history ends before this day (default: the machine's date)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    options = {
        "start": datetime.combine(args.start, time(), _TZ),
        "days": args.days,
        "today": args.today,
    }
    try:
        if args.out:
            write_jsonl(args.out, args.count, args.seed, **options)
        else:
            for line in generate_lines(args.count, args.seed, **options):
                sys.stdout.buffer.write(line)
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
