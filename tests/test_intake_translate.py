"""The DVCQG sync bodies to events (src/dossierflow/intake/translate.py): hand-worked cases."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dossierflow.intake.translate import IntakeRules, translate_body, translate_raw
from dossierflow.schemas.event import EventType, encode_event

PERSONAL = ("ChuHoSo", "SoGiayToChuHoSo", "DinhDanhCHS", "Email", "SoDienThoai", "Fax",
            "TrichYeuHoSo", "ThongTinKhac", "TaiLieuNop", "UnknownField")


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "MaHoSo": "H1", "MaTTHC": "1.001", "MaLinhVuc": "LV1", "KenhThucHien": "1",
        "NgayTiepNhan": "20260302080000", "NgayHenTra": "20260309080000",
        "TrangThaiHoSo": "2", "DonViXuLy": "UBND X",
    }
    base.update({name: f"MARKER-{name}" for name in PERSONAL})
    base.update(fields)
    return base


def body(*records: dict[str, Any]) -> dict[str, Any]:
    return {"service": "DongBoHoSoMC", "isUpdating": "False", "data": list(records)}


def types(result: Any) -> list[str]:
    return [str(e.type) for e in result.events]


def test_returned_record_gives_its_history_with_the_slip_due() -> None:
    r = translate_body(body(record(
        TrangThaiHoSo="10", NgayKetThucXuLy="20260305100000", NgayTra="20260306090000",
        DanhSachHoSoBoSung=[{"NgayBoSung": "20260303090000",
                              "NgayTiepNhanBoSung": "20260304090000"}],
    )), {}, IntakeRules(unit_codes={"UBND X": "X01"}))
    assert types(r) == ["RECEIVED", "SUPPLEMENT_REQUESTED", "RESUMED", "RESOLVED", "RETURNED"]
    received = r.events[0]
    assert received.unit_code == "X01" and received.channel == "IN_PERSON"
    assert received.due_at is not None
    assert received.due_at.isoformat() == "2026-03-09T08:00:00+07:00"
    assert r.rejections == ()


def test_resent_body_gives_the_same_event_ids() -> None:
    first = translate_body(body(record()), {}, IntakeRules())
    again = translate_body(body(record()), first.memory, IntakeRules())
    fresh = translate_body(body(record()), {}, IntakeRules())
    assert [e.event_id for e in first.events] == [e.event_id for e in again.events]
    assert [e.event_id for e in first.events] == [e.event_id for e in fresh.events]


def test_unexplained_new_appointment_is_an_apology_at_the_last_step() -> None:
    first = translate_body(body(record()), {}, IntakeRules())
    step = {"service": "CapNhatTienDoHoSoMC",
            "data": [{"MaHoSo": "H1", "ThoiDiemXuLy": "20260305150000", "NguoiXuLy": "MARK"}]}
    stepped = translate_body(step, first.memory, IntakeRules())
    later = translate_body(body(record(NgayHenTra="20260312080000")), stepped.memory,
                           IntakeRules())
    apology = [e for e in later.events if e.type is EventType.APOLOGY_ISSUED]
    assert len(apology) == 1
    assert apology[0].occurred_at.isoformat() == "2026-03-05T15:00:00+07:00"
    assert apology[0].new_due_at is not None and apology[0].new_due_at.day == 12
    assert later.events[0].due_at is not None and later.events[0].due_at.day == 9


def test_appointment_moved_by_a_supplement_is_no_apology() -> None:
    first = translate_body(body(record()), {}, IntakeRules())
    moved = translate_body(body(record(NgayHenTra="20260313080000", DanhSachHoSoBoSung=[{
        "NgayBoSung": "20260303090000", "NgayTiepNhanBoSung": "20260304090000",
        "NgayHenTraTruoc": "20260309080000", "NgayHenTraMoi": "20260313080000"}])),
        first.memory, IntakeRules())
    assert "APOLOGY_ISSUED" not in types(moved)


def test_each_record_is_translated_or_rejected_on_its_own() -> None:
    r = translate_body(body(record(), record(MaHoSo="H2", NgayTiepNhan="20261332080000"),
                            record(MaHoSo="H3", TrangThaiHoSo="11")), {}, IntakeRules())
    assert types(r) == ["RECEIVED"]
    assert [(x.index, x.dossier_id) for x in r.rejections] == [(1, "H2"), (2, "H3")]
    assert "`NgayTiepNhan`" in r.rejections[0].reason
    assert "`TrangThaiHoSo`" in r.rejections[1].reason


def test_status_going_backwards_is_rejected() -> None:
    done = translate_body(body(record(TrangThaiHoSo="9", NgayKetThucXuLy="20260305100000")),
                          {}, IntakeRules())
    back = translate_body(body(record(TrangThaiHoSo="4")), done.memory, IntakeRules())
    assert back.events == () and "went backwards" in back.rejections[0].reason


def test_nine_without_an_end_is_tolerated_only_when_configured() -> None:
    nine = body(record(TrangThaiHoSo="9"))
    assert "NgayKetThucXuLy" in translate_body(nine, {}, IntakeRules()).rejections[0].reason
    tolerant = translate_body(nine, {}, IntakeRules(nine_may_hide_pause=True))
    assert types(tolerant) == ["RECEIVED"] and tolerant.rejections == ()


def test_malformed_bodies_are_rejected_with_a_reason() -> None:
    assert "not JSON" in translate_raw(b"{nope", {}, IntakeRules()).rejections[0].reason
    assert "`service`" in translate_body({"service": "X", "data": []}, {},
                                         IntakeRules()).rejections[0].reason
    assert "`data`" in translate_body({"service": "DongBoHoSoMC"}, {},
                                      IntakeRules()).rejections[0].reason


def test_personal_data_never_reaches_events_or_rejections() -> None:
    good = record()
    bad = record(MaHoSo="H2", KenhThucHien="9")
    r = translate_body(body(good, bad), {}, IntakeRules())
    out = b"".join(encode_event(e) for e in r.events)
    out += json.dumps([x.as_json() for x in r.rejections], ensure_ascii=False).encode()
    assert r.events and r.rejections
    assert b"MARKER" not in out


def test_intake_command_writes_events_and_clean_rejections(tmp_path: Any) -> None:
    from dossierflow.cli import main
    from dossierflow.schemas.event import decode_event

    source = tmp_path / "bodies.jsonl"
    lines = [body(record()), body(record()), body(record(MaHoSo="H2", TrangThaiHoSo="x"))]
    source.write_text("".join(json.dumps(b) + "\n" for b in lines) + "{bad\n")
    out, dead = tmp_path / "events.jsonl", tmp_path / "dead.jsonl"
    assert main(["intake", str(source), "--out", str(out), "--rejections", str(dead)]) == 0
    events = [decode_event(line) for line in out.read_bytes().splitlines()]
    assert [e.type for e in events] == [EventType.RECEIVED]  # the re-sent body adds nothing
    assert len(dead.read_text().splitlines()) == 2
    assert b"MARKER" not in out.read_bytes() + dead.read_bytes()


def test_the_rejections_file_is_the_setting_the_option_overrides_and_is_appended_to(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--rejections` is DOSSIERFLOW_INTAKE_REJECTIONS_FILE's option: the file command
    appends to the variable's file (which `intake serve` may share), never truncating it,
    and the option given beats the variable."""
    from dossierflow.cli import main

    source = tmp_path / "bodies.jsonl"
    source.write_text(json.dumps(body(record(MaHoSo="H2", TrangThaiHoSo="x"))) + "\n")
    kept, other = tmp_path / "kept.jsonl", tmp_path / "other.jsonl"
    kept.write_text('{"reason": "an earlier one"}\n')
    monkeypatch.setenv("DOSSIERFLOW_INTAKE_REJECTIONS_FILE", str(kept))
    out = str(tmp_path / "events.jsonl")
    assert main(["intake", str(source), "--out", out]) == 0
    assert len(kept.read_text().splitlines()) == 2
    assert main(["intake", str(source), "--out", out, "--rejections", str(other)]) == 0
    assert (len(kept.read_text().splitlines()), len(other.read_text().splitlines())) == (2, 1)


def step(**fields: Any) -> dict[str, Any]:
    base = {"MaHoSo": "H1", "PhongBanXuLy": "Phòng Địa chính", "NguoiXuLy": "MARKER-name",
            "NoiDungXuLy": "MARKER-note", "TrangThai": "4", "NgayBatDau": "20260302140000",
            "NgayKetThucTheoQuyDinh": "20260303140000", "ThoiDiemXuLy": "20260304100000"}
    base.update(fields)
    return {"service": "CapNhatTienDoHoSoMC", "data": [base]}


def test_a_step_that_was_handed_on_starts_and_completes_for_its_department() -> None:
    rules = IntakeRules(unit_codes={"Phòng Địa chính": "PB-DC"})
    r = translate_body(step(), {}, rules)
    started, completed = r.events
    assert (started.type, completed.type) == (EventType.STEP_STARTED, EventType.STEP_COMPLETED)
    assert started.step_unit_code == "PB-DC" and started.step_id == completed.step_id
    assert started.occurred_at.isoformat() == "2026-03-02T14:00:00+07:00"
    assert started.step_due_at is not None
    assert started.step_due_at.isoformat() == "2026-03-03T14:00:00+07:00"
    assert completed.occurred_at.isoformat() == "2026-03-04T10:00:00+07:00"
    assert b"MARKER" not in b"".join(encode_event(e) for e in r.events)


def test_a_step_sent_when_assigned_then_when_done_is_one_step() -> None:
    assigned = translate_body(step(ThoiDiemXuLy="20260302140000"), {}, IntakeRules())
    done = translate_body(step(), assigned.memory, IntakeRules())
    assert [str(e.type) for e in assigned.events] == ["STEP_STARTED"]
    assert assigned.events[0].event_id == done.events[0].event_id
    other = translate_body(step(PhongBanXuLy="Phòng B"), {}, IntakeRules())
    assert other.events[0].step_id != done.events[0].step_id


def test_a_step_re_sent_with_a_new_deadline_is_a_restatement_not_a_repeat() -> None:
    first = translate_body(step(ThoiDiemXuLy="20260302140000"), {}, IntakeRules())
    moved = translate_body(step(ThoiDiemXuLy="20260302140000",
                                NgayKetThucTheoQuyDinh="20260305140000"), first.memory,
                           IntakeRules())
    assert moved.events[0].event_id != first.events[0].event_id
    assert moved.events[0].step_id == first.events[0].step_id


def test_a_department_name_too_long_for_a_code_is_rejected_naming_its_field() -> None:
    long_name = "Phòng Quản lý đô thị và Tài nguyên môi trường, Ủy ban nhân dân thành phố"
    assert len(long_name) > 64
    r = translate_body(step(PhongBanXuLy=long_name), {}, IntakeRules())
    (rejection,) = r.rejections
    assert rejection.field == "PhongBanXuLy"
    assert "DOSSIERFLOW_INTAKE_UNIT_CODES_FILE" in rejection.reason
    mapped = translate_body(step(PhongBanXuLy=long_name), {},
                            IntakeRules(unit_codes={long_name: "PB-QLDT"}))
    assert mapped.rejections == () and mapped.events[0].step_unit_code == "PB-QLDT"


def test_a_step_without_its_dates_gives_no_event_and_bad_dates_are_rejected() -> None:
    blank = translate_body(step(PhongBanXuLy="", NgayBatDau="", NgayKetThucTheoQuyDinh=""), {},
                           IntakeRules())
    assert blank.events == () and blank.rejections == () and blank.memory["H1"].last_step_at
    early = translate_body(step(NgayKetThucTheoQuyDinh="20260301080000"), {}, IntakeRules())
    assert early.events == () and early.rejections[0].field == "NgayKetThucTheoQuyDinh"


def test_steps_sent_as_the_portal_does_say_who_caused_the_delay() -> None:
    """tests/test_steps.py's hand-worked dossier written as the bodies a one-stop system
    sends: the same allotted, actual and overrun times per step, and PB-B caused the delay."""
    from dossierflow.intake.session import IntakeSession
    from dossierflow.rules.evaluation import evaluate
    from dossierflow.rules.records import fact_records
    from tests.test_steps import AFTER, CATALOG, EXPECTED_STEPS

    def steps_body(unit: str, start: str, due: str, at: str) -> dict[str, Any]:
        return step(MaHoSo="D1", PhongBanXuLy=unit, NgayBatDau=start,
                    NgayKetThucTheoQuyDinh=due, ThoiDiemXuLy=at)

    received = dict(MaHoSo="D1", MaTTHC="P3", DonViXuLy="X-01", NgayTiepNhan="20260302080000",
                    NgayHenTra="20260305080000")
    bodies = [
        body(record(**received)),
        steps_body("PB-A", "20260302080000", "20260302163000", "20260302160000"),
        steps_body("PB-B", "20260302160000", "20260303160000", "20260302160000"),  # assigned
        steps_body("PB-B", "20260302160000", "20260303160000", "20260305100000"),  # handed on
        steps_body("PB-X", "20260305100000", "20260306110000", "20260305100000"),
        body(record(**received, TrangThaiHoSo="9", NgayKetThucXuLy="20260306090000")),
    ]
    session = IntakeSession()
    events = []
    for one in bodies:
        result = session.take_body(one)
        assert result.rejections == ()
        fresh = session.fresh(result.events)
        session.mark_published(fresh)
        events.extend(fresh)
    evaluation = evaluate("D1", events, CATALOG, AFTER)
    facts = fact_records(evaluation, CATALOG)
    assert [(f.ended_step_unit_code, f.ended_step_allotted_ms, f.ended_step_actual_ms,
             f.ended_step_overrun_ms) for f in facts if f.ended_step_id is not None] == [
        row[2:] for row in EXPECTED_STEPS]
    assert facts[-1].delay_caused_by == ("PB-B",)
