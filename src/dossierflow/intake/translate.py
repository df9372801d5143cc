"""The national portal's sync bodies (DongBoHoSoMC, CapNhatTienDoHoSoMC) to events of schema v1.

A province's one-stop system already sends every dossier and each change of its status to the
national public-service portal (Cổng DVCQG) as these bodies; this module reads them, so a
province plugs dossierflow in by mirroring that traffic. Sources of the format (read for the
field names, the `yyyyMMddHHmmss` instants in Asia/Ho_Chi_Minh and the status codes):

- VietOpenCPS/opencps-v2, commit 2c719850c863,
  modules/backend-dossiermgt/backend-dossiermgt-service/src/main/java/org/opencps/dossiermgt/
  action/impl/DVCQGIntegrationActionImpl.java: `createSyncDossierBodyRequest` (the record),
  `createSyncDossierStatusBodyRequest` (a step), `syncDossierAndDossierStatus` (the bodies
  `{"service": "DongBoHoSoMC", "isUpdating": "True"|"False", "data": [...]}` then
  `{"service": "CapNhatTienDoHoSoMC", "data": [...]}`), `LUCENE_DATE_FORMAT` and
  `HCM_TIMEZONE` (the instants), `createResponseMessage` (`{"error_code": ..., "message": ...}`).
- HuanVu201/DichVuCong_KhoaLuan_PASETO, commit 7d1730ca5ca7,
  DichVuCongApi/src/Infrastructure/KetNoi/DVC/SyncLocalDataToDVCQG/SyncLocalDataToDVCQGService.cs:
  the same fields from its SQL (`KenhThucHien`, `NgayTuChoi`, `NgayKetThucTheoQuyDinh`), and its
  quirk of rewriting `TrangThaiHoSo` 5, 6 and 8 to 9 before pushing (the setting
  `nine_may_hide_pause` below).

Pure: no I/O, no clock. `translate_body` takes the memory of what earlier bodies said (the
first appointment seen, the last status, the last step's instant) and returns what the body
changed of it (`Translation.remembered`; `Translation.memory` is the whole new memory);
the same bodies in the same order always give the same events and the same `event_id`s, and a
body sent again gives events the worker already has (it drops repeats by `event_id`).

Personal data stops here: `sanitized` keeps only the fields listed in `RECORD_FIELDS`,
`SUPPLEMENT_FIELDS` and `STEP_FIELDS` (none personal), so owner names, identity numbers,
contacts, the summary, free texts, attachments and any field this module does not know are
dropped before anything else reads the body; a rejection carries the sanitized body only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import ChainMap
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import msgspec

from dossierflow.schemas.event import (
    FIRST_YEAR,
    LAST_YEAR,
    Channel,
    DossierEvent,
    EventType,
    InvalidEvent,
    decode_event,
    encode_event,
)

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
INSTANT_FORMAT = "%Y%m%d%H%M%S"
RECORD_SERVICE = "DongBoHoSoMC"
STEP_SERVICE = "CapNhatTienDoHoSoMC"

RECORD_FIELDS = frozenset({
    "MaHoSo", "MaTTHC", "TenTTHC", "MaLinhVuc", "TenLinhVuc", "KenhThucHien", "NgayNopHoSo",
    "NgayTiepNhan", "NgayHenTra", "TrangThaiHoSo", "NgayKetThucXuLy", "NgayTra", "NgayTuChoi",
    "DonViXuLy", "LoaiDoiTuong", "HinhThuc", "DanhSachHoSoBoSung",
})
"""The record's fields kept; every other one (ChuHoSo, SoGiayToChuHoSo, DinhDanhCHS, Email,
SoDienThoai, Fax, TrichYeuHoSo, ThongTinKhac, GhiChu, TaiLieuNop, DanhSachGiayToKetQua,
DanhSachTepDinhKemKhac, DanhSachLePhi, unknown ones) is dropped at the door."""
SUPPLEMENT_FIELDS = frozenset({
    "HoSoBoSungId", "NgayBoSung", "NgayTiepNhanBoSung", "NgayHenTraTruoc", "NgayHenTraMoi",
    "TrangThaiBoSung",
})
"""Kept of a supplement (its NoiDungBoSung, NguoiYeuCauBoSung, documents: dropped)."""
STEP_FIELDS = frozenset({
    "MaHoSo", "PhongBanXuLy", "ChucDanh", "ThoiDiemXuLy", "TrangThai", "NgayBatDau",
    "NgayKetThucTheoQuyDinh",
})
"""Kept of a step (NguoiXuLy, the official's name, and NoiDungXuLy, free text: dropped)."""

CHANNELS = {"1": Channel.IN_PERSON, "2": Channel.ONLINE, "3": Channel.POSTAL}
"""KenhThucHien: 1 in person, 2 online, 3 postal (issue 20; HuanVu201's `KenhThucHien != "2"`)."""
TERMINAL_CODES = frozenset({3, 7, 8, 9, 10})
"""TrangThaiHoSo codes after which a dossier does not come back (docs/domain.md, "Events")."""


@dataclass(frozen=True)
class IntakeRules:
    """The parts one-stop systems differ in (the settings of `dossierflow intake`)."""

    unit_codes: Mapping[str, str] = field(default_factory=dict)
    """DonViXuLy and PhongBanXuLy as sent (names in both sources) → the catalogue's unit
    code; a name not listed is used as it is."""
    nine_may_hide_pause: bool = False
    """The sender rewrites statuses 5, 6 and 8 to 9 (HuanVu201): a 9 without NgayKetThucXuLy
    then means "not finished", not a malformed record."""


@dataclass(frozen=True)
class DossierMemory:
    """What earlier bodies said of one dossier."""

    first_due: datetime | None = None
    last_code: int | None = None
    last_step_at: datetime | None = None


Memory = Mapping[str, DossierMemory]


_QUOTED_FIELD = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Rejection:
    """A body, or one record of it, that was not translated; `body` is sanitized."""

    reason: str
    service: str | None
    index: int | None
    dossier_id: str | None
    body: Any

    @property
    def field(self) -> str | None:
        """The field the reason names first (reasons quote field names in backticks)."""
        match = _QUOTED_FIELD.search(self.reason)
        return match.group(1) if match else None

    def as_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "field": self.field, "service": self.service,
                "index": self.index, "dossier_id": self.dossier_id, "body": self.body}


@dataclass(frozen=True)
class Translation:
    events: tuple[DossierEvent, ...]
    rejections: tuple[Rejection, ...]
    remembered: Mapping[str, DossierMemory]
    """What this body changed of the memory: the dossiers it told something new of."""
    records: int
    before: Memory = field(default_factory=dict, repr=False)
    """The memory the body was translated against."""

    @property
    def memory(self) -> Memory:
        """The memory after this body, as a new mapping (`before` is left as it was; a caller
        that owns its memory applies `remembered` instead, without copying it)."""
        return {**self.before, **self.remembered}


class RecordError(ValueError):
    """One record cannot be translated; the message names the field."""


def sanitized(body: Any) -> Any:
    """`body` with only non-personal fields: safe to log, publish or dead-letter."""
    if not isinstance(body, dict):
        return None
    service = body.get("service")
    kept = _fields_for(service)
    data = body.get("data")
    out: dict[str, Any] = {"service": service if isinstance(service, str) else None}
    if isinstance(body.get("isUpdating"), str):
        out["isUpdating"] = body["isUpdating"]
    out["data"] = [_kept(item, kept) for item in data] if isinstance(data, list) else None
    return out


def _fields_for(service: Any) -> frozenset[str]:
    return STEP_FIELDS if service == STEP_SERVICE else RECORD_FIELDS


def _kept(item: Any, kept: frozenset[str]) -> Any:
    if not isinstance(item, dict):
        return None
    out: dict[str, Any] = {}
    for name, value in item.items():
        if name not in kept:
            continue
        if name == "DanhSachHoSoBoSung":
            out[name] = (
                [_kept(s, SUPPLEMENT_FIELDS) for s in value] if isinstance(value, list) else None
            )
        elif isinstance(value, str | int) and not isinstance(value, bool):
            out[name] = value
        else:
            out[name] = None  # a list or object where a scalar belongs: never copied
    return out


def parse_body(raw: bytes | str) -> Any:
    """The JSON of a body; raises `RecordError` with the reason when it is not JSON."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise RecordError(f"not JSON: {type(exc).__name__}: {str(exc)[:120]}") from None


def translate_raw(raw: bytes | str, memory: Memory, rules: IntakeRules) -> Translation:
    """`translate_body` of bytes; a body that is not JSON is one rejection."""
    try:
        body = parse_body(raw)
    except RecordError as exc:
        return Translation((), (Rejection(str(exc), None, None, None, None),), {}, 0, memory)
    return translate_body(body, memory, rules)


def translate_body(body: Any, memory: Memory, rules: IntakeRules) -> Translation:
    """The events of one request body and the rejections of its records (or of the body)."""
    clean = sanitized(body)
    service = clean["service"] if clean else None
    if clean is None:
        return _body_rejected("the body is not a JSON object", None, clean, memory)
    if service not in (RECORD_SERVICE, STEP_SERVICE):
        return _body_rejected(
            f"`service` must be {RECORD_SERVICE} or {STEP_SERVICE}, not {service!r}",
            None, clean, memory,
        )
    if clean["data"] is None:
        return _body_rejected("`data` must be a list of records", service, clean, memory)
    events: list[DossierEvent] = []
    rejections: list[Rejection] = []
    remembered: dict[str, DossierMemory] = {}
    # Reads fall through to `memory`, which is never written: only `remembered` is.
    known = ChainMap(remembered, cast("MutableMapping[str, DossierMemory]", memory))
    for index, item in enumerate(clean["data"]):
        dossier_id = item.get("MaHoSo") if isinstance(item, dict) else None
        dossier_id = dossier_id if isinstance(dossier_id, str) else None
        try:
            if not isinstance(item, dict):
                raise RecordError(f"`data[{index}]` is not an object")
            if service == RECORD_SERVICE:
                produced, change = _record(item, known, rules)
            else:
                produced, change = _step(item, known, rules)
            for event in produced:
                _check_schema(event)
        except RecordError as exc:
            rejections.append(Rejection(str(exc), service, index, dossier_id, item))
            continue
        events.extend(produced)
        known[change[0]] = change[1]
    return Translation(tuple(events), tuple(rejections), remembered, len(clean["data"]), memory)


def _body_rejected(reason: str, service: str | None, clean: Any, memory: Memory) -> Translation:
    return Translation((), (Rejection(reason, service, None, None, clean),), {}, 0, memory)


_SOURCE_FIELDS = {
    "dossier_id": "MaHoSo", "unit_code": "DonViXuLy", "procedure_code": "MaTTHC",
    "sector_code": "MaLinhVuc", "step_unit_code": "PhongBanXuLy",
}
"""The sync body's field each event field comes from, so that a rejection names the field
the one-stop system sent."""
_EVENT_PATH = re.compile(r" - at `\$\.([a-z_]+)`$")


def _check_schema(event: DossierEvent) -> None:
    """The schema's bounds (code characters, years), as the worker will check them; the
    reason names the body's field (`Rejection.field`)."""
    try:
        decode_event(encode_event(event))
    except InvalidEvent as exc:
        match = _EVENT_PATH.search(exc.reason)
        source = _SOURCE_FIELDS.get(match.group(1)) if match else None
        if match is None or source is None:
            raise RecordError(exc.reason) from None
        what = exc.reason[: match.start()].removeprefix("invalid: ").replace("`", "")
        hint = (" (a unit's code is at most 64 characters: map names to codes with "
                "DOSSIERFLOW_INTAKE_UNIT_CODES_FILE)" if source in ("DonViXuLy", "PhongBanXuLy")
                else "")
        raise RecordError(f"`{source}`: {what}{hint}") from None


def _text(item: Mapping[str, Any], name: str, required: bool = False) -> str | None:
    value = item.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or value == "":
        if required:
            raise RecordError(f"`{name}` is missing or empty")
        return None
    if not isinstance(value, str):
        raise RecordError(f"`{name}` must be a string")
    return value.strip()


def parse_instant(text: str | None, name: str) -> datetime | None:
    """`yyyyMMddHHmmss` in Vietnam's time (both sources' format), or None when empty."""
    if text is None:
        return None
    if len(text) != 14 or not text.isdigit():
        raise RecordError(f"`{name}` must be yyyyMMddHHmmss, not {text[:20]!r}")
    try:
        instant = datetime.strptime(text, INSTANT_FORMAT).replace(tzinfo=VIETNAM)
    except ValueError:
        raise RecordError(f"`{name}` is not a real date and time: {text!r}") from None
    if not FIRST_YEAR <= instant.year <= LAST_YEAR:
        raise RecordError(f"`{name}` must be in the years {FIRST_YEAR}-{LAST_YEAR}: {text!r}")
    return instant


def _instant(item: Mapping[str, Any], name: str, required: bool = False) -> datetime | None:
    return parse_instant(_text(item, name, required), name)


def _code(item: Mapping[str, Any], name: str) -> int:
    text = _text(item, name, required=True)
    assert text is not None
    if not text.isdigit() or not 1 <= int(text) <= 10:
        raise RecordError(f"`{name}` must be a status code 1-10, not {text[:20]!r}")
    return int(text)


def event_id(dossier_id: str, kind: EventType, instant: datetime, discriminator: str = "") -> str:
    """The same dossier, type, instant and discriminator: the same id, whichever body said it."""
    key = f"{dossier_id}\x1f{kind}\x1f{instant.isoformat()}\x1f{discriminator}"
    return "dvcqg-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def _event(dossier_id: str, kind: EventType, at: datetime, discriminator: str = "",
           identity: datetime | None = None, **fields: Any) -> DossierEvent:
    """An event whose id is `event_id` of `identity` (default: `at`)."""
    try:
        return DossierEvent(
            schema_version=1,
            event_id=event_id(dossier_id, kind, identity or at, discriminator),
            dossier_id=dossier_id, type=kind, occurred_at=at, **fields,
        )
    except (ValueError, TypeError, msgspec.ValidationError) as exc:
        raise RecordError(str(exc)) from None


def _step(
    item: Mapping[str, Any], memory: Memory, rules: IntakeRules
) -> tuple[list[DossierEvent], tuple[str, DossierMemory]]:
    """A processing step: its events (`_step_events`), and its instant remembered (an
    apology's time, see `_apology`)."""
    dossier_id = _text(item, "MaHoSo", required=True)
    assert dossier_id is not None
    at = _instant(item, "ThoiDiemXuLy", required=True)
    assert at is not None
    events = _step_events(item, dossier_id, at, rules)
    known = memory.get(dossier_id, DossierMemory())
    if known.last_step_at is not None and at < known.last_step_at:
        at = known.last_step_at  # an older step re-sent: the latest one stays
    return events, (dossier_id, replace(known, last_step_at=at))


def _step_events(
    item: Mapping[str, Any], dossier_id: str, at: datetime, rules: IntakeRules
) -> list[DossierEvent]:
    """STEP_STARTED at `NgayBatDau` for department `PhongBanXuLy` with the step's own
    deadline `NgayKetThucTheoQuyDinh` (the control sheet's columns, docs/domain.md
    "Processing steps"), and STEP_COMPLETED at `ThoiDiemXuLy` when the department acted
    after the step began (it handed the dossier on; a `ThoiDiemXuLy` equal to `NgayBatDau`
    is the step being assigned). A step without them (opencps-v2 leaves the three blank)
    gives no event. The step's id is its department and start, so a re-sent step, or the
    same step sent first open and then done, has the same id."""
    department = _text(item, "PhongBanXuLy")
    started = _instant(item, "NgayBatDau")
    due = _instant(item, "NgayKetThucTheoQuyDinh")
    if department is None or started is None or due is None:
        return []
    if due < started:
        raise RecordError("`NgayKetThucTheoQuyDinh` is before `NgayBatDau`")
    if at < started:
        raise RecordError("`ThoiDiemXuLy` is before `NgayBatDau`")
    unit = rules.unit_codes.get(department, department)
    step_id = "b-" + hashlib.sha256(f"{unit}\x1f{started.isoformat()}".encode()).hexdigest()[:16]
    # The deadline is part of the start's id: a step re-sent with a changed deadline is a
    # restatement the worker applies, not a repeat it drops.
    events = [_event(dossier_id, EventType.STEP_STARTED, started, f"{step_id}@{due.isoformat()}",
                     step_id=step_id, step_unit_code=unit, step_due_at=due)]
    if at > started:
        events.append(_event(dossier_id, EventType.STEP_COMPLETED, at, step_id,
                             step_id=step_id))
    return events


def _record(
    item: Mapping[str, Any], memory: Memory, rules: IntakeRules
) -> tuple[list[DossierEvent], tuple[str, DossierMemory]]:
    dossier_id = _text(item, "MaHoSo", required=True)
    assert dossier_id is not None
    code = _code(item, "TrangThaiHoSo")
    known = memory.get(dossier_id, DossierMemory())
    if known.last_code is not None and _went_backwards(known.last_code, code):
        raise RecordError(
            f"`TrangThaiHoSo` went backwards: {code} after {known.last_code}"
        )
    channel_text = _text(item, "KenhThucHien")
    channel = CHANNELS.get(channel_text or "")
    if channel_text is not None and channel is None:
        raise RecordError(f"`KenhThucHien` must be 1, 2 or 3, not {channel_text[:20]!r}")
    events: list[DossierEvent] = []
    submitted = _instant(item, "NgayNopHoSo")
    if submitted is not None and channel is Channel.ONLINE:
        events.append(_event(dossier_id, EventType.SUBMITTED, submitted))
    if code == 1:
        return events, (dossier_id, replace(known, last_code=code))
    if code == 3:
        refused = _instant(item, "NgayTuChoi", required=True)
        assert refused is not None
        events.append(_event(dossier_id, EventType.NOT_ACCEPTED, refused))
        return events, (dossier_id, replace(known, last_code=code))
    received = _instant(item, "NgayTiepNhan", required=True)
    assert received is not None
    if submitted is not None and submitted > received:
        raise RecordError("`NgayNopHoSo` is after `NgayTiepNhan`")
    if channel is None:
        raise RecordError("`KenhThucHien` is missing or empty")
    due = _instant(item, "NgayHenTra", required=True)
    assert due is not None
    supplements = _supplements(item, received)
    first_due = known.first_due or _first_due(supplements) or due
    unit = _text(item, "DonViXuLy", required=True)
    assert unit is not None
    events.append(_event(
        dossier_id, EventType.RECEIVED, received,
        unit_code=rules.unit_codes.get(unit, unit),
        procedure_code=_text(item, "MaTTHC", required=True),
        sector_code=_text(item, "MaLinhVuc"), channel=channel, due_at=first_due,
    ))
    latest = received
    for requested, resumed, _before, _after in supplements:
        events.append(_event(dossier_id, EventType.SUPPLEMENT_REQUESTED, requested))
        latest = max(latest, requested)
        if resumed is not None:
            events.append(_event(dossier_id, EventType.RESUMED, resumed, "supplement"))
            latest = max(latest, resumed)
    apology = _apology(dossier_id, due, first_due, supplements, known, latest)
    events.extend(apology)
    events.extend(_ending(item, dossier_id, code, received, rules))
    return events, (dossier_id, replace(known, first_due=first_due, last_code=code))


Supplement = tuple[datetime, datetime | None, datetime | None, datetime | None]
"""NgayBoSung, NgayTiepNhanBoSung, NgayHenTraTruoc, NgayHenTraMoi."""


def _supplements(item: Mapping[str, Any], received: datetime) -> list[Supplement]:
    listed = item.get("DanhSachHoSoBoSung")
    if listed is None or listed == "":
        return []
    if not isinstance(listed, list):
        raise RecordError("`DanhSachHoSoBoSung` must be a list")
    found: list[Supplement] = []
    for n, supplement in enumerate(listed):
        where = f"DanhSachHoSoBoSung[{n}]"
        if not isinstance(supplement, dict):
            raise RecordError(f"`{where}` is not an object")
        requested = parse_instant(_text(supplement, "NgayBoSung", True), f"{where}.NgayBoSung")
        resumed = parse_instant(_text(supplement, "NgayTiepNhanBoSung"),
                                f"{where}.NgayTiepNhanBoSung")
        assert requested is not None
        if requested < received:
            raise RecordError(f"`{where}.NgayBoSung` is before `NgayTiepNhan`")
        if resumed is not None and resumed < requested:
            raise RecordError(f"`{where}.NgayTiepNhanBoSung` is before its `NgayBoSung`")
        before = parse_instant(_text(supplement, "NgayHenTraTruoc"), f"{where}.NgayHenTraTruoc")
        after = parse_instant(_text(supplement, "NgayHenTraMoi"), f"{where}.NgayHenTraMoi")
        found.append((requested, resumed, before, after))
    return sorted(found, key=lambda s: s[0])


def _first_due(supplements: list[Supplement]) -> datetime | None:
    """The slip's appointment as the first supplement recorded it (a re-sync after a change)."""
    return supplements[0][2] if supplements else None


def _apology(
    dossier_id: str,
    due: datetime,
    first_due: datetime,
    supplements: list[Supplement],
    known: DossierMemory,
    latest: datetime,
) -> list[DossierEvent]:
    """A NgayHenTra that neither the slip nor a supplement's NgayHenTraMoi explains is the
    apology letter's new appointment (apologies reach the portal only this way). It happened
    at the last step the system reported, else the record's latest instant before it."""
    explained = {first_due} | {after for *_rest, after in supplements if after is not None}
    if due in explained:
        return []
    at = known.last_step_at if known.last_step_at is not None else latest
    # Its id from the new appointment, not from `at`: `at` may differ between re-sends.
    return [_event(dossier_id, EventType.APOLOGY_ISSUED, at, identity=due, new_due_at=due)]


def _ending(
    item: Mapping[str, Any], dossier_id: str, code: int, received: datetime, rules: IntakeRules
) -> list[DossierEvent]:
    """The terminal events of codes 7-10, at the instants the record carries."""
    if code not in TERMINAL_CODES:
        return []  # 2, 4, 5, 6: open (supplements come from DanhSachHoSoBoSung)
    finished = _instant(item, "NgayKetThucXuLy")
    if code == 9 and finished is None and rules.nine_may_hide_pause:
        return []
    if code == 8:
        finished = finished or _instant(item, "NgayTuChoi")
        if finished is None:
            raise RecordError("`NgayKetThucXuLy` or `NgayTuChoi` is required for status 8")
    elif finished is None:
        raise RecordError(f"`NgayKetThucXuLy` is missing or empty for status {code}")
    if finished < received:
        raise RecordError("`NgayKetThucXuLy` is before `NgayTiepNhan`")
    kind = {7: EventType.WITHDRAWN, 8: EventType.STOPPED}.get(code, EventType.RESOLVED)
    events = [_event(dossier_id, kind, finished)]
    if code == 10:
        returned = _instant(item, "NgayTra", required=True)
        assert returned is not None
        if returned < finished:
            raise RecordError("`NgayTra` is before `NgayKetThucXuLy`")
        events.append(_event(dossier_id, EventType.RETURNED, returned))
    return events


def _went_backwards(before: int, now: int) -> bool:
    """A dossier that ended does not reopen; a returned result is not un-returned."""
    if before in TERMINAL_CODES and now not in TERMINAL_CODES:
        return True
    return before == 10 and now == 9
