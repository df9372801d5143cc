"""The catalogue's file, its unit tree and its report reading, apart from `rules.catalog`.

`dossierflow report` needs only the units (names, levels, the tree) and the `report:`
section: `load_report_catalog` reads those two without importing the calendar, the
procedures' processing times and the steps' rules (about 15 ms of a one-shot command,
docs/benchmarks.md "Report"). The other sections are left to the commands that use them,
which validate the whole file with `rules.catalog.load_catalog`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, TypeVar

import msgspec
import msgspec.json
import msgspec.yaml

from dossierflow.errors import DossierflowError, ExitCode
from dossierflow.rules import readings
from dossierflow.rules.readings import Appointment, OutcomeReading, ReportReadings


class CatalogError(DossierflowError, ValueError):
    """The catalogue cannot be read or is invalid; the message names the file and field."""

    exit_code = ExitCode.USAGE


_YAML_PLACE = re.compile(r'in "[^"]*", (line \d+, column \d+)')


def yaml_error_text(exc: Exception) -> str:
    """msgspec's error for YAML that does not parse is PyYAML's, over several lines: the
    context ("while parsing a flow node"), the problem, each followed by `in "<byte
    string>", line L, column C`. The command line prints one line, so join them, each part
    with its place; a validation error (one line already) is kept as it is."""
    parts: list[str] = []
    for line in filter(None, (line.strip() for line in str(exc).splitlines())):
        place = _YAML_PLACE.fullmatch(line)
        if place and parts:
            parts[-1] += f" at {place[1]}"
        else:
            parts.append(line)
    return "; ".join(parts)


@dataclass(frozen=True)
class Unit:
    """A unit of the tree (sở, ban, ngành, huyện, xã, ...); `level` is data, never fixed."""

    code: str
    name: str
    level: str
    parent: str | None = None
    until: date | None = None
    """The unit's last day, for units dissolved by a reorganisation (the district level ended
    on 30/6/2025); their history stays in reports, and no dossier is received after it."""

    def exists_on(self, day: date) -> bool:
        return self.until is None or day <= self.until


def descendants(units: Mapping[str, Unit], code: str) -> frozenset[str]:
    """`code` and every unit below it in the tree."""
    children: dict[str, list[str]] = {}
    for unit in units.values():
        if unit.parent:
            children.setdefault(unit.parent, []).append(unit.code)
    found, stack = set(), [code]
    while stack:
        current = stack.pop()
        if current not in found:
            found.add(current)
            stack.extend(children.get(current, ()))
    return frozenset(found)


class UnitSpec(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1)]
    name: str
    level: str
    parent: str | None = None
    until: date | None = None


class ReportSpec(msgspec.Struct, forbid_unknown_fields=True):
    """rules/readings.py: the reading the period report's outcome classes use."""

    outcome_reading: OutcomeReading = OutcomeReading.DATE
    appointment: Appointment = Appointment.ORIGINAL


def units_of(specs: list[UnitSpec], source: str) -> Mapping[str, Unit]:
    """The unit tree by code; a parent that is not a unit is an error."""
    units = {u.code: Unit(u.code, u.name, u.level, u.parent, u.until) for u in specs}
    for unit in units.values():
        if unit.parent and unit.parent not in units:
            raise CatalogError(f"{source}: unit {unit.code}: parent {unit.parent!r} is not a unit")
    return MappingProxyType(units)


def readings_of(spec: ReportSpec) -> ReportReadings:
    return ReportReadings(spec.outcome_reading, spec.appointment)


_SHIPPED_CATALOG = "data/catalog.yaml"


def shipped_catalog(_environ: Mapping[str, str] | None = None) -> Path:
    """Where the shipped sample catalogue is: the catalogue in effect when none is given
    (the fallback `dossierflow config` shows)."""
    return Path(str(resources.files("dossierflow").joinpath(_SHIPPED_CATALOG)))


def catalog_text(path: Path | None) -> tuple[bytes, str]:
    """The bytes of the catalogue at `path` (the shipped sample when None) and the name its
    errors give."""
    if path is None:
        text = resources.files("dossierflow").joinpath(_SHIPPED_CATALOG).read_bytes()
        return text, "catalog.yaml (default)"
    try:
        return path.read_bytes(), str(path)
    except OSError as exc:
        raise CatalogError(f"catalogue {path}: cannot read it: {exc.strerror}") from None


Spec = TypeVar("Spec")


def decode_catalog(text: bytes, source: str, spec: type[Spec]) -> Spec:
    """The YAML validated as `spec`; errors name the source and the offending field."""
    try:
        return msgspec.yaml.decode(text, type=spec)
    except ValueError as exc:  # msgspec's errors, and PyYAML's for dates such as 2026-02-30
        raise CatalogError(f"{source}: {yaml_error_text(exc)}") from None


class _ReportCatalogSpec(msgspec.Struct):
    """The two sections the report reads; the others are not looked at here."""

    report: ReportSpec = msgspec.field(default_factory=ReportSpec)
    units: list[UnitSpec] = []


@dataclass(frozen=True)
class ReportCatalog:
    units: Mapping[str, Unit] = field(default_factory=dict)
    report: ReportReadings = field(default_factory=ReportReadings)


def load_report_catalog(path: Path | None = None, cache: Path | None = None) -> ReportCatalog:
    """The units and the report reading of the catalogue at `path` (the shipped sample when
    None), validated as `rules.catalog.load_catalog` validates them.

    `cache`: a folder where the two sections, once decoded, are kept as JSON under a name
    made of the file's bytes and this module's code, so that a later run reading the same
    file does not import PyYAML (about 9 ms of a one-shot command; docs/benchmarks.md
    "Report"). An entry that cannot be read or written is ignored: the YAML is decoded.
    Writing one deletes the older ones but the few written last (`_ENTRIES_KEPT`)."""
    text, source = catalog_text(path)
    entry = _cache_entry(text, cache)
    spec = _cached_spec(entry) if entry is not None else None
    if spec is None:
        spec = decode_catalog(text, source, _ReportCatalogSpec)
        if entry is not None:
            _keep_spec(entry, spec)
    return ReportCatalog(units_of(spec.units, source), readings_of(spec.report))


def _cache_entry(text: bytes, cache: Path | None) -> Path | None:
    """None: no cache, or this code cannot be read to name the entry (decode the YAML)."""
    if cache is None:
        return None
    # The code that decodes the sections is in the name (this module and the readings' enums
    # it decodes into): a change to their shape or checks leaves the older entries unread.
    key = hashlib.sha256(text)
    try:
        for module in (__file__, readings.__file__):
            key.update(Path(module).read_bytes())
    except OSError:
        return None
    key.update(msgspec.__version__.encode())
    return cache / f"report-{key.hexdigest()}.json"


def _cached_spec(entry: Path) -> _ReportCatalogSpec | None:
    try:
        return msgspec.json.decode(entry.read_bytes(), type=_ReportCatalogSpec)
    except (OSError, msgspec.DecodeError):  # absent, unreadable, or not a whole entry
        return None


_ENTRIES_KEPT = 4
"""The entries written last that a new one leaves in place: a few catalogues used in turn
(a test file, the shipped one) each keep theirs; older ones (an earlier code or catalogue)
are never read again."""


def _keep_spec(entry: Path, spec: _ReportCatalogSpec) -> None:
    partial = entry.with_name(f"{entry.name}.{os.getpid()}")
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(msgspec.json.encode(spec))
        partial.replace(entry)  # whole or not at all, for a reader running meanwhile
    except OSError:
        partial.unlink(missing_ok=True)
        return
    _prune(entry)


def _prune(entry: Path) -> None:
    """Deletes all but the `_ENTRIES_KEPT` files written last (a crashed writer's partial
    among them), `entry` always kept. Two processes pruning at once may both delete a file
    or see one vanish: either is ignored, and a writer's fresh partial is among the newest."""
    newest_first: list[tuple[int, Path]] = []
    for path in entry.parent.glob("report-*"):
        try:
            newest_first.append((path.stat().st_mtime_ns, path))
        except OSError:
            continue  # deleted meanwhile
    newest_first.sort(reverse=True)
    for _, path in newest_first[_ENTRIES_KEPT:]:
        if path != entry:
            with contextlib.suppress(OSError):  # deleted meanwhile, or not ours to delete
                path.unlink()
