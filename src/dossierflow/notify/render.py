"""Messages from templates: subject, plain text and HTML, in Vietnamese or English.

One template set serves a single alert, a burst or held-over digest, the morning digest of
open dossiers and a test message. Values are escaped for HTML. A message carries the dossier
code, kind, procedure, unit and deadlines, which is all an alert holds: alerts carry no
applicant data (docs/domain.md, Events), so none can leak into a message. Every word comes from
these templates, `rules.texts` and the catalogue's unit and procedure names; of the alert, only
its checked codes and instants (notify.intake) are shown, never a text the record carried.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from string import Template

import msgspec

from dossierflow.rules.alerts import Alert
from dossierflow.rules.catalog import Catalog
from dossierflow.rules.texts import alert_texts

KIND_LABELS = {
    "vi": {
        "AT_RISK": "Sắp đến hạn",
        "APOLOGY_DUE": "Hạn cuối gửi phiếu xin lỗi",
        "OVERDUE": "Quá hạn",
        "RESCHEDULED_OVERDUE": "Quá ngày hẹn lại",
        "RESCHEDULE_LIMIT_EXCEEDED": "Hẹn lại quá một lần",
        "STEP_AT_RISK": "Bước xử lý sắp hết thời gian",
        "STEP_OVERDUE": "Bước xử lý quá thời gian",
    },
    "en": {
        "AT_RISK": "At risk",
        "APOLOGY_DUE": "Last day to apologise",
        "OVERDUE": "Overdue",
        "RESCHEDULED_OVERDUE": "Rescheduled date missed",
        "RESCHEDULE_LIMIT_EXCEEDED": "Rescheduled more than once",
        "STEP_AT_RISK": "Step running out of time",
        "STEP_OVERDUE": "Step past its allotted time",
    },
}

_SUBJECTS = {
    "vi": {
        "alert": Template("[Cảnh báo hồ sơ] $label: hồ sơ $dossier"),
        "batch": Template("[Cảnh báo hồ sơ] $count hồ sơ cần xử lý"),
        "digest": Template("[Cảnh báo hồ sơ] Tổng hợp $count cảnh báo ngoài giờ hành chính"),
        "morning": Template("[Cảnh báo hồ sơ] $unit: $count hồ sơ sắp đến hạn hoặc quá hạn"),
        "test": Template("[Cảnh báo hồ sơ] Thư thử nghiệm cho $unit"),
    },
    "en": {
        "alert": Template("[Dossier alert] $label: dossier $dossier"),
        "batch": Template("[Dossier alert] $count dossiers need attention"),
        "digest": Template("[Dossier alert] Digest of $count alerts from outside office hours"),
        "morning": Template("[Dossier alert] $unit: $count dossiers at risk or overdue"),
        "test": Template("[Dossier alert] Test message for $unit"),
    },
}
_GREETING = {"vi": Template("Kính gửi $name,"), "en": Template("Dear $name,")}
_INTRO = {
    "vi": {
        "alert": "Hệ thống theo dõi hạn xử lý hồ sơ thông báo:",
        "batch": "Hệ thống theo dõi hạn xử lý hồ sơ thông báo các cảnh báo sau:",
        "digest": "Các cảnh báo phát sinh ngoài giờ hành chính:",
        "morning": "Các hồ sơ của đơn vị đang sắp đến hạn hoặc đã quá hạn, chưa giải quyết:",
        "test": "Đây là thư thử nghiệm của hệ thống cảnh báo; không cần xử lý.",
    },
    "en": {
        "alert": "The dossier deadline monitor reports:",
        "batch": "The dossier deadline monitor reports these alerts:",
        "digest": "Alerts raised outside office hours:",
        "morning": "Dossiers of the unit that are at risk or overdue and still open:",
        "test": "This is a test message of the alerting system; nothing to do.",
    },
}
_HEADERS = {
    "vi": ("Mã hồ sơ", "Cảnh báo", "Thủ tục", "Đơn vị", "Hạn"),
    "en": ("Dossier", "Alert", "Procedure", "Unit", "Deadline"),
}
_FOOTER = {
    "vi": "Thư tự động từ dossierflow; mã thông báo $message_id.",
    "en": "Sent automatically by dossierflow; message id $message_id.",
}
_HTML = Template(
    '<!DOCTYPE html><html lang="$lang"><head><meta charset="utf-8"><title>$subject</title>'
    "</head><body><p>$greeting</p><p>$intro</p>$details<p><small>$footer</small></p>"
    "</body></html>"
)


class Rendered(msgspec.Struct, frozen=True):
    kind: str
    """alert, batch, digest, morning or test: a message of one alert is an `alert`."""
    subject: str
    text: str
    html: str
    lines: tuple[str, ...]
    """One short line per alert (the webhook's and Zalo's summary)."""


def _when(instant: datetime) -> str:
    return instant.strftime("%H:%M %d/%m/%Y")


def _row(alert: Alert, lang: str, catalog: Catalog) -> tuple[str, str, str, str, str]:
    unit_code = alert.handling_unit_code or alert.unit_code or "?"
    unit = catalog.units.get(unit_code)
    procedure = catalog.procedures.get(alert.procedure_code or "")
    return (
        alert.dossier_id,
        KIND_LABELS[lang].get(alert.kind, alert.kind),
        procedure.name if procedure else alert.procedure_code or "?",
        unit.name if unit else unit_code,
        _when(catalog.calendar.local(alert.deadline)),
    )


def render(
    kind: str,
    alerts: Sequence[Alert],
    *,
    person_name: str,
    lang: str,
    message_id: str,
    catalog: Catalog,
    unit_code: str | None = None,
) -> Rendered:
    """`kind` is alert, batch, digest, morning or test (a single alert renders as `alert`
    whatever it was planned as)."""
    if kind in {"batch", "digest"} and len(alerts) == 1:
        kind = "alert"
    units = catalog.units
    unit_name = units[unit_code].name if unit_code and unit_code in units else unit_code or ""
    rows = [_row(a, lang, catalog) for a in alerts]
    first = alerts[0] if alerts else None
    subject = _SUBJECTS[lang][kind].substitute(
        label=KIND_LABELS[lang].get(first.kind, "") if first else "",
        dossier=first.dossier_id if first else "",
        count=len(alerts),
        unit=unit_name,
    )
    greeting = _GREETING[lang].substitute(name=person_name)
    intro = _INTRO[lang][kind]
    footer = Template(_FOOTER[lang]).substitute(message_id=message_id)
    lines = tuple(" | ".join(row) for row in rows)
    if kind == "alert" and first is not None:
        text_vi, text_en = alert_texts(first, catalog)
        text_details = text_vi if lang == "vi" else text_en
        html_details = f"<p>{html.escape(text_details)}</p>"
    else:
        text_details = "\n".join(f"- {line}" for line in lines)
        header = "".join(f"<th>{html.escape(h)}</th>" for h in _HEADERS[lang])
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
            for row in rows
        )
        html_details = f'<table border="1" cellpadding="4"><tr>{header}</tr>{body}</table>'
    text = f"{greeting}\n\n{intro}\n{text_details}\n\n{footer}\n"
    page = _HTML.substitute(
        lang=lang,
        subject=html.escape(subject),
        greeting=html.escape(greeting),
        intro=html.escape(intro),
        details=html_details,
        footer=html.escape(footer),
    )
    return Rendered(kind=kind, subject=subject, text=text, html=page, lines=lines)
