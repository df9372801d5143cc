"""What the notifier keeps of an alert record: the checked fields, never its texts or
audience; an unsound record is rejected naming the field."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from dossierflow.notify.intake import RejectedAlert, read_alert
from dossierflow.notify.settings import NotifySettings
from dossierflow.rules.alerts import AlertKind, Role
from tests.notify_alerts import CATALOG, make_alert, record, vn

IDENTIFIER = NotifySettings().identifier
SOUND = msgspec.to_builtins(record(make_alert(AlertKind.OVERDUE, "000.00.12.H12-231020-0001",
                                              "X-02", handling_unit="X-01")))


def read(**fields: Any) -> Any:
    return read_alert(msgspec.json.encode({**SOUND, **fields}), CATALOG, IDENTIFIER)


def test_a_sound_record_keeps_its_fields_in_local_time_and_drops_texts_and_audience() -> None:
    alert = read(text_vi="Đăng nhập tại https://x.example", recipients=[], link="https://x")
    assert alert.kind is AlertKind.OVERDUE
    assert (alert.dossier_id, alert.unit_code, alert.handling_unit_code) == (
        "000.00.12.H12-231020-0001", "X-02", "X-01")
    assert not hasattr(alert, "text_vi") and not hasattr(alert, "recipients")
    assert alert.deadline == vn("2026-03-02 17:00") and alert.deadline.utcoffset() is not None
    # the audience is the kind's, resolved at the record's units
    assert alert.audience() == (
        (Role.HANDLING_UNIT_HEAD, "X-01"), (Role.RECEIVING_UNIT_HEAD, "X-02"))


def test_an_instant_given_in_utc_is_read_in_the_calendars_time_zone() -> None:
    alert = read(deadline="2026-03-02T10:00:00Z")
    assert alert.deadline.strftime("%H:%M %z") == "17:00 +0700"


@pytest.mark.parametrize(("fields", "field"), [
    ({"kind": "PHISHING"}, "kind"),
    ({"kind": None}, "kind"),
    ({"alert_id": "x" * 36}, "alert_id"),
    ({"dossier_id": "HS 1"}, "dossier_id"),
    ({"dossier_id": "HS-1\nBcc: a@b.c"}, "dossier_id"),
    ({"dossier_id": "https://evil.example/login"}, "dossier_id"),
    ({"dossier_id": ""}, "dossier_id"),
    ({"dossier_id": "D" * 65}, "dossier_id"),
    ({"procedure_code": "<b>1</b>"}, "procedure_code"),
    ({"unit_code": "X-99"}, "unit_code"),
    ({"unit_code": None, "handling_unit_code": None}, "unit_code"),
    ({"handling_unit_code": "../P"}, "handling_unit_code"),
    ({"kind": "STEP_OVERDUE", "step_id": "2", "step_unit_code": "PB-99"}, "step_unit_code"),
    ({"at": "2026-03-02T09:00:00"}, "at"),
    ({"deadline": "9999-12-31T23:59:59+07:00"}, "deadline"),
    ({"deadline": "0001-01-01T00:00:00Z"}, "deadline"),
    ({"apology_issued": "yes"}, "apology_issued"),
])
def test_an_unsound_record_is_rejected_naming_the_field(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(RejectedAlert) as rejected:
        read(**fields)
    assert rejected.value.field == field


@pytest.mark.parametrize("data", [
    b"", b"not json", b"[]", b'"a string"', b"{" * 10, b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
])
def test_bytes_that_are_no_alert_are_rejected_as_a_record(data: bytes) -> None:
    with pytest.raises(RejectedAlert) as rejected:
        read_alert(data, CATALOG, IDENTIFIER)
    assert rejected.value.field == "record"


def test_the_message_of_a_long_bad_value_is_cut_short() -> None:
    with pytest.raises(RejectedAlert) as rejected:
        read(kind="A" * 10_000)
    assert len(str(rejected.value)) < 400
