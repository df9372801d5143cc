"""Generated DVCQG sync bodies for the intake tests: dossiers received, supplemented,
apologised for, resolved and returned, batches of several records, and a share of bad
records, every personal field holding a `MARKER-` string that must never come out."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

PERSONAL = ("ChuHoSo", "SoGiayToChuHoSo", "DinhDanhCHS", "Email", "SoDienThoai", "Fax",
            "TrichYeuHoSo", "ThongTinKhac", "TaiLieuNop", "UnknownField")
MARKER = "MARKER-"


def instant(at: datetime) -> str:
    return at.strftime("%Y%m%d%H%M%S")


def record(dossier: str, status: int, received: datetime, due: datetime,
           **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "MaHoSo": dossier, "MaTTHC": "1.001", "MaLinhVuc": "LV1", "KenhThucHien": "1",
        "NgayTiepNhan": instant(received), "NgayHenTra": instant(due),
        "TrangThaiHoSo": str(status), "DonViXuLy": "UBND X",
    }
    base.update({name: f"{MARKER}{name}-{dossier}" for name in PERSONAL})
    base.update(fields)
    return base


def records_body(*records: dict[str, Any]) -> dict[str, Any]:
    return {"service": "DongBoHoSoMC", "isUpdating": "True", "data": list(records)}


def step_body(dossier: str, at: datetime) -> dict[str, Any]:
    return {"service": "CapNhatTienDoHoSoMC", "data": [{
        "MaHoSo": dossier, "PhongBanXuLy": "Phòng A", "ThoiDiemXuLy": instant(at),
        "NguoiXuLy": f"{MARKER}NguoiXuLy", "NoiDungXuLy": f"{MARKER}NoiDungXuLy",
        "TrangThai": "1", "NgayBatDau": instant(at),
    }]}


def history(dossiers: int, seed: int = 20) -> list[dict[str, Any]]:
    """The bodies of `dossiers` dossiers in the order a one-stop system sends them: each
    dossier's record at reception, a step, then its record at the end; every tenth record
    is bad (an impossible date), every seventh dossier's end comes in a batch of two."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 2, 8, 0)
    bodies: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for n in range(dossiers):
        dossier = f"H{n:05d}"
        received = start + timedelta(minutes=7 * n)
        due = received + timedelta(days=rng.choice((3, 5, 10)))
        extra: dict[str, Any] = {}
        if n % 10 == 9:
            extra["NgayHenTra"] = "20261340080000"
        bodies.append(records_body(record(dossier, 2, received, due, **extra)))
        bodies.append(step_body(dossier, received + timedelta(hours=2)))
        finished = received + timedelta(days=rng.randint(1, 12), hours=1)
        end: dict[str, Any] = {"NgayKetThucXuLy": instant(finished),
                               "NgayTra": instant(finished + timedelta(hours=3))}
        new_due = due
        if n % 5 == 1:
            requested = received + timedelta(hours=5)
            new_due = due + timedelta(days=2)
            end["DanhSachHoSoBoSung"] = [{
                "NgayBoSung": instant(requested),
                "NgayTiepNhanBoSung": instant(requested + timedelta(hours=20)),
                "NgayHenTraTruoc": instant(due), "NgayHenTraMoi": instant(new_due),
                "NoiDungBoSung": f"{MARKER}NoiDungBoSung",
            }]
        elif n % 5 == 3:
            new_due = due + timedelta(days=4)  # an apology: no supplement explains it
        final = record(dossier, 10, received, new_due, **{**extra, **end})
        if n % 7 == 0:
            pending.append(final)
            if len(pending) == 2:
                bodies.append(records_body(*pending))
                pending = []
        else:
            bodies.append(records_body(final))
    if pending:
        bodies.append(records_body(*pending))
    return bodies


def jsonl(bodies: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(body, ensure_ascii=False) + "\n" for body in bodies)
