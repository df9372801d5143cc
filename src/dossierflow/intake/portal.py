"""Events of schema v1 written as the bodies a one-stop system sends the portal (the inverse
of `translate`): `dossierflow simulate --format portal`, the sample province-week and the
benchmark's input.

Each event of a dossier becomes the body the system would push at that moment: its record
(`DongBoHoSoMC`) as it now stands, and for a transfer or an apology first a step
(`CapNhatTienDoHoSoMC`) at that instant, which is where `translate` dates an apology. The
bodies of all dossiers come in the order of their instants.

A processing step (STEP_STARTED, STEP_COMPLETED) is a step body only (`PhongBanXuLy`,
`NgayBatDau`, `NgayKetThucTheoQuyDinh`, and `ThoiDiemXuLy` the instant it was assigned,
then handed on), as one-stop systems report the control sheet.
What the format cannot carry is left out, as a real one-stop system leaves it out: a
transfer has no instant in the record (it becomes a step and status 4, no event), nor has a
financial obligation and its end (status 6 and back), and `online_level`, `processing_time`,
`sequence` and `reason` have no field. `NgayHenTra` is the slip's appointment: the event's
`due_at`, else the deadline the rules compute for the procedure (`rules.lifecycle`), so
the worker computes from the translated events the deadlines it computes from the originals.
Personal fields are filled with values that are obviously fake (`FAKE_PERSONAL`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import msgspec

from dossierflow.intake.translate import INSTANT_FORMAT, RECORD_SERVICE, STEP_SERVICE, VIETNAM
from dossierflow.rules.catalog import Catalog
from dossierflow.rules.lifecycle import DossierState, apply_event
from dossierflow.schemas.event import decode_event

CHANNEL_CODES = {"IN_PERSON": "1", "ONLINE": "2", "POSTAL": "3"}
STATUS_CODES = {"SUBMITTED": 1, "RECEIVED": 2, "NOT_ACCEPTED": 3, "TRANSFERRED": 4,
                "SUPPLEMENT_REQUESTED": 5, "FINANCIAL_OBLIGATION_REQUESTED": 6,
                "WITHDRAWN": 7, "STOPPED": 8, "RESOLVED": 9, "RETURNED": 10}
"""TrangThaiHoSo of each event type (docs/domain.md, "Events")."""
ENDINGS = {"WITHDRAWN", "STOPPED", "RESOLVED"}
STEP_EVENTS = {"STEP_STARTED", "STEP_COMPLETED"}


def fake_personal(number: int) -> dict[str, str]:
    """Personal fields no one could take for real ones."""
    return {
        "ChuHoSo": f"Người Giả Lập {number}",
        "SoGiayToChuHoSo": "000000000000",
        "Email": f"gia-lap-{number}@example.invalid",
        "SoDienThoai": "0000000000",
        "TrichYeuHoSo": "Hồ sơ giả lập (dữ liệu mẫu, không có thật)",
    }


FAKE_PERSONAL = tuple(fake_personal(0))


def stamp(at: datetime) -> str:
    return at.astimezone(VIETNAM).strftime(INSTANT_FORMAT)


def portal_bodies(
    events: Iterable[Mapping[str, Any]], catalog: Catalog
) -> Iterator[dict[str, Any]]:
    """The bodies of `events` (dicts of schema v1, in any order, copies included), in the
    order of their instants."""
    by_dossier: dict[str, dict[str, Mapping[str, Any]]] = {}
    for event in events:
        by_dossier.setdefault(event["dossier_id"], {}).setdefault(event["event_id"], event)
    timed: list[tuple[datetime, int, int, dict[str, Any]]] = []
    for number, (dossier_id, unique) in enumerate(by_dossier.items()):
        history = sorted(unique.values(), key=_history_key)
        for n, (at, body) in enumerate(_DossierBodies(dossier_id, number, catalog).of(history)):
            timed.append((at, number, n, body))
    timed.sort(key=lambda item: item[:3])
    for *_, body in timed:
        yield body


def _history_key(event: Mapping[str, Any]) -> tuple[datetime, int]:
    return datetime.fromisoformat(event["occurred_at"]), event.get("sequence") or 0


class _DossierBodies:
    """One dossier's record as it changes, and the bodies that say so."""

    def __init__(self, dossier_id: str, number: int, catalog: Catalog) -> None:
        self.catalog = catalog
        self.record: dict[str, Any] = {"MaHoSo": dossier_id, **fake_personal(number)}
        self.supplements: list[dict[str, str]] = []
        self.waiting_for: str | None = None
        self.open_code = 2
        self.steps: dict[str, tuple[str, datetime, datetime]] = {}
        """Each step's department, start and deadline, by `step_id`."""

    def of(self, history: list[Mapping[str, Any]]) -> Iterator[tuple[datetime, dict[str, Any]]]:
        for event in history:
            kind = event["type"]
            at = datetime.fromisoformat(event["occurred_at"])
            if kind in STEP_EVENTS:
                yield at, self._processing_step(kind, at, event)
                continue
            if kind in ("TRANSFERRED", "APOLOGY_ISSUED"):
                yield at, self._step(at, event.get("unit_code"))
            self._apply(kind, at, event)
            yield at, self._body()

    def _processing_step(self, kind: str, at: datetime, event: Mapping[str, Any]
                         ) -> dict[str, Any]:
        """A step of the control sheet as the system reports it: when it is assigned
        (`ThoiDiemXuLy` = `NgayBatDau`), and again when the department hands it on."""
        if kind == "STEP_STARTED":
            self.steps[event["step_id"]] = (
                event["step_unit_code"], at, datetime.fromisoformat(event["step_due_at"]))
        unit, started, due = self.steps[event["step_id"]]
        body = self._step(at, unit)
        body["data"][0].update(NgayBatDau=stamp(started), NgayKetThucTheoQuyDinh=stamp(due))
        return body

    def _apply(self, kind: str, at: datetime, event: Mapping[str, Any]) -> None:
        record = self.record
        if kind == "SUBMITTED":
            record.update(KenhThucHien=CHANNEL_CODES["ONLINE"], NgayNopHoSo=stamp(at))
        elif kind == "NOT_ACCEPTED":
            record["NgayTuChoi"] = stamp(at)
        elif kind == "RECEIVED":
            record.update(
                KenhThucHien=CHANNEL_CODES[event["channel"]], NgayTiepNhan=stamp(at),
                NgayHenTra=stamp(self._appointment(event)), MaTTHC=event["procedure_code"],
                DonViXuLy=event["unit_code"],
            )
            if event.get("sector_code"):
                record["MaLinhVuc"] = event["sector_code"]
        elif kind == "TRANSFERRED":
            self.open_code = STATUS_CODES[kind]
        elif kind in ("SUPPLEMENT_REQUESTED", "FINANCIAL_OBLIGATION_REQUESTED"):
            self.waiting_for = kind
            if kind == "SUPPLEMENT_REQUESTED":
                self.supplements.append({"NgayBoSung": stamp(at)})
        elif kind == "RESUMED":
            if self.waiting_for == "SUPPLEMENT_REQUESTED":
                self.supplements[-1]["NgayTiepNhanBoSung"] = stamp(at)
            self.waiting_for = None
        elif kind == "APOLOGY_ISSUED":
            record["NgayHenTra"] = stamp(datetime.fromisoformat(event["new_due_at"]))
        elif kind in ENDINGS:
            record["NgayKetThucXuLy"] = stamp(at)
        elif kind == "RETURNED":
            record["NgayTra"] = stamp(at)
        record["TrangThaiHoSo"] = str(self._code(kind, record.get("TrangThaiHoSo")))

    def _code(self, kind: str, now: str | None) -> int:
        if kind in STATUS_CODES and kind != "TRANSFERRED":
            return STATUS_CODES[kind]
        if kind == "RESUMED" or kind == "TRANSFERRED":
            return self.open_code
        return int(now) if now else self.open_code  # an apology changes no status

    def _appointment(self, received: Mapping[str, Any]) -> datetime:
        """The slip's appointment: the event's own, else the rules' deadline."""
        state = apply_event(DossierState(received["dossier_id"]),
                            decode_event(msgspec.json.encode(received)), self.catalog)
        if state.due_at is None:
            raise ValueError(f"dossier {received['dossier_id']}: procedure "
                             f"{received['procedure_code']} has no processing time to print")
        return state.due_at

    def _body(self) -> dict[str, Any]:
        record = copy.deepcopy(self.record)
        if self.supplements:
            record["DanhSachHoSoBoSung"] = copy.deepcopy(self.supplements)
        return {"service": RECORD_SERVICE, "isUpdating": "True", "data": [record]}

    def _step(self, at: datetime, unit: str | None) -> dict[str, Any]:
        step = {"MaHoSo": self.record["MaHoSo"], "ThoiDiemXuLy": stamp(at),
                "NgayBatDau": stamp(at), "TrangThai": "1",
                "NguoiXuLy": "Cán Bộ Giả Lập", "NoiDungXuLy": "Xử lý (dữ liệu mẫu)"}
        if unit:
            step["PhongBanXuLy"] = unit
        return {"service": STEP_SERVICE, "data": [step]}
