"""Alert texts for unit heads and province operations, in Vietnamese and English."""

from __future__ import annotations

from datetime import datetime

from dossierflow.rules.alerts import Alert, AlertKind
from dossierflow.rules.catalog import Catalog

_VI = {
    AlertKind.AT_RISK: "Hồ sơ {dossier} ({procedure}) tại {unit} sắp đến hạn trả kết quả "
    "lúc {deadline}. Nếu không kịp, đơn vị phải gửi phiếu xin lỗi và hẹn lại ngày trả "
    "chậm nhất trước hạn một ngày làm việc.",
    AlertKind.APOLOGY_DUE: "Hồ sơ {dossier} ({procedure}) tại {unit} có hạn trả kết quả lúc "
    "{deadline}. Nếu không kịp trả đúng hạn, hôm nay ({day}) là ngày cuối cùng để gửi phiếu "
    "xin lỗi và hẹn lại ngày trả kết quả đúng quy định (chậm nhất trước hạn một ngày).",
    AlertKind.OVERDUE: "Hồ sơ {dossier} ({procedure}) tại {unit} đã quá hạn trả kết quả "
    "({deadline}). {apology}",
    AlertKind.RESCHEDULED_OVERDUE: "Hồ sơ {dossier} ({procedure}) tại {unit} đã quá ngày "
    "hẹn lại ({deadline}) ghi trong phiếu xin lỗi.",
    AlertKind.RESCHEDULE_LIMIT_EXCEEDED: "Hồ sơ {dossier} ({procedure}) tại {unit} được "
    "xin lỗi và hẹn lại lần thứ hai; chỉ được hẹn lại một lần (ngày hẹn lại: {deadline}).",
    AlertKind.STEP_AT_RISK: "Hồ sơ {dossier} ({procedure}): bước xử lý {step} tại {department} "
    "sắp hết thời gian được giao lúc {deadline}.",
    AlertKind.STEP_OVERDUE: "Hồ sơ {dossier} ({procedure}): bước xử lý {step} tại {department} "
    "đã quá thời gian được giao ({deadline}); phiếu kiểm soát quá trình sẽ ghi chậm tại bước "
    "này.",
}
_EN = {
    AlertKind.AT_RISK: "Dossier {dossier} ({procedure}) at {unit} is due at {deadline}. "
    "If it cannot be met, the unit must send an apology with a new date at least one "
    "working day before.",
    AlertKind.APOLOGY_DUE: "Dossier {dossier} ({procedure}) at {unit} is due at {deadline}. "
    "If it cannot be met, today ({day}) is the last day to send the apology with a new date "
    "in time (at the latest one day before the deadline).",
    AlertKind.OVERDUE: "Dossier {dossier} ({procedure}) at {unit} is overdue (due {deadline}). "
    "{apology}",
    AlertKind.RESCHEDULED_OVERDUE: "Dossier {dossier} ({procedure}) at {unit} missed the "
    "rescheduled date ({deadline}) of its apology letter.",
    AlertKind.RESCHEDULE_LIMIT_EXCEEDED: "Dossier {dossier} ({procedure}) at {unit} received "
    "a second apology; a dossier may be rescheduled only once (rescheduled date {deadline}).",
    AlertKind.STEP_AT_RISK: "Dossier {dossier} ({procedure}): processing step {step} at "
    "{department} runs out of its allotted time at {deadline}.",
    AlertKind.STEP_OVERDUE: "Dossier {dossier} ({procedure}): processing step {step} at "
    "{department} is past its allotted time ({deadline}); the control sheet will show the "
    "delay at this step.",
}
_APOLOGY = {
    "vi": ("Đã gửi phiếu xin lỗi và hẹn lại.", "Chưa gửi phiếu xin lỗi và hẹn lại."),
    "en": ("An apology with a new date was issued.", "No apology with a new date was issued."),
}


def _when(instant: datetime) -> str:
    """`instant.strftime("%H:%M %d/%m/%Y")`, in a third of its time."""
    return f"{instant.hour:02d}:{instant.minute:02d} {_day(instant)}"


def _day(instant: datetime) -> str:
    """`instant.strftime("%d/%m/%Y")`, in a third of its time."""
    return f"{instant.day:02d}/{instant.month:02d}/{instant.year}"


def alert_texts(alert: Alert, catalog: Catalog) -> tuple[str, str]:
    """The (Vietnamese, English) text of an alert."""
    unit_code = alert.handling_unit_code or alert.unit_code or "?"
    unit = catalog.units.get(unit_code)
    procedure = catalog.procedures.get(alert.procedure_code or "")
    department_code = alert.step_department or "?"
    department = catalog.units.get(department_code)
    values = {
        "dossier": alert.dossier_id,
        "unit": unit.name if unit else unit_code,
        "procedure": procedure.name if procedure else (alert.procedure_code or "?"),
        "deadline": _when(catalog.calendar.local(alert.deadline)),
        "day": _day(catalog.calendar.local(alert.at)),
        "step": alert.step_id or "?",
        "department": department.name if department else department_code,
    }
    index = 0 if alert.apology_issued else 1
    vi = _VI[alert.kind].format(apology=_APOLOGY["vi"][index], **values).strip()
    en = _EN[alert.kind].format(apology=_APOLOGY["en"][index], **values).strip()
    return vi, en
