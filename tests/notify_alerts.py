"""Alerts for the notifier's tests, built the way the worker builds them: `make_alert` the
rules' alert (what the notifier keeps of a record), `record` the record the worker publishes."""

from __future__ import annotations

from datetime import datetime, timedelta

from dossierflow.rules.alerts import Alert, AlertKind, alert_id
from dossierflow.rules.calendar import VIETNAM
from dossierflow.rules.catalog import Catalog, load_catalog
from dossierflow.rules.records import alert_record
from dossierflow.schemas.facts import DossierAlert

CATALOG: Catalog = load_catalog()


def vn(text: str) -> datetime:
    """A local time in Vietnam: `vn("2026-02-13 17:30")`."""
    return datetime.fromisoformat(text).replace(tzinfo=VIETNAM)


def make_alert(
    kind: AlertKind,
    dossier_id: str,
    unit: str = "X-01",
    *,
    handling_unit: str | None = None,
    at: datetime | None = None,
    deadline: datetime | None = None,
    procedure: str = "1.000894",
) -> Alert:
    at = at or vn("2026-03-02 09:00")
    deadline = deadline or at + timedelta(hours=8)
    return Alert(
        alert_id=alert_id(dossier_id, kind, deadline),
        kind=kind,
        dossier_id=dossier_id,
        at=at,
        deadline=deadline,
        unit_code=unit,
        handling_unit_code=handling_unit or unit,
        procedure_code=procedure,
        apology_issued=False,
    )


def record(alert: Alert) -> DossierAlert:
    """The alerts topic's record of `alert`, as the worker publishes it."""
    return alert_record(alert, CATALOG)
