"""What the notifier believes of an alert record: its typed fields, checked, and nothing else.

Anyone who can write to the alerts topic can write a record, so a record is not trusted as
a message. Only the fields that say *what* happened are read (kind, alert id, dossier id,
unit codes, procedure code, instants, apology flag); the record's texts (`text_vi`,
`text_en`) and audience (`recipients`) are never decoded: messages are rendered from these
fields and the catalogue (`rules.texts`, `notify.render`) and the audience is computed from
the kind and the unit tree (`Alert.audience`, `notify.routing`). A record whose fields are
not what the worker writes is rejected with the field and the problem: counted, logged,
never sent.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import msgspec

from dossierflow.rules.alerts import Alert
from dossierflow.rules.catalog import Catalog

_decode = msgspec.json.Decoder(Alert).decode
_ALERT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
"""`rules.alerts.alert_id`: a version-5 UUID in lower-case hex."""
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""Instants outside these are no deadline the worker computes (and could not be shown in
local time near year 1 or 9999)."""
_FIELD_OF_ERROR = re.compile(r"at `\$\.(\w+)")


class RejectedAlert(ValueError):
    """A record that is not a well-formed alert of this catalogue: `field` names what is
    wrong (`record` for bytes that are no alert object)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def read_alert(data: bytes, catalog: Catalog, identifier: re.Pattern[str]) -> Alert:
    """The alert of a record, its instants in the calendar's time zone, or RejectedAlert.
    `identifier` is the pattern every dossier id and procedure code must match."""
    try:
        alert = _decode(data)
    except msgspec.ValidationError as exc:
        found = _FIELD_OF_ERROR.search(str(exc))
        # msgspec quotes the bad value with repr (no raw newline reaches the log); cut it short.
        raise RejectedAlert(found.group(1) if found else "record", str(exc)[:300]) from None
    except msgspec.DecodeError as exc:
        raise RejectedAlert("record", f"not an alert record: {exc}") from None
    except RecursionError:
        # msgspec recurses to skip an unknown field's value: a deeply nested one ends here.
        raise RejectedAlert("record", "JSON nested too deeply") from None
    if not _ALERT_ID.match(alert.alert_id):
        raise RejectedAlert("alert_id", "not an alert id (a version-5 UUID)")
    for field, value in (("dossier_id", alert.dossier_id),
                         ("procedure_code", alert.procedure_code)):
        if value is not None and not identifier.fullmatch(value):
            raise RejectedAlert(field, f"{value[:80]!r} does not match {identifier.pattern}")
    if alert.unit_code is None and alert.handling_unit_code is None:
        raise RejectedAlert("unit_code", "neither a receiving nor a handling unit")
    for field, code in (("unit_code", alert.unit_code),
                        ("handling_unit_code", alert.handling_unit_code),
                        ("step_unit_code", alert.step_unit_code)):
        if code is not None and code not in catalog.units:
            raise RejectedAlert(field, f"{code[:80]!r} is not a unit of the catalogue")
    for field, instant in (("at", alert.at), ("deadline", alert.deadline)):
        if instant.tzinfo is None:
            raise RejectedAlert(field, "an instant without a time zone")
        if not EARLIEST <= instant < LATEST:
            raise RejectedAlert(field, f"{instant.isoformat()} is outside "
                                f"{EARLIEST.year}-{LATEST.year}")
    local = catalog.calendar.local
    return msgspec.structs.replace(alert, at=local(alert.at), deadline=local(alert.deadline))
