"""Turn evaluations into the published records (facts and alerts) of schemas/facts.py.

Shared by the Faust worker and `dossierflow replay --store`, so that a backfill and the live
stream write identical rows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dossierflow.rules.alerts import Alert
from dossierflow.rules.catalog import Catalog
from dossierflow.rules.evaluation import Evaluation
from dossierflow.rules.lifecycle import DossierState
from dossierflow.rules.progress_index import (
    outcome_by_instant,
    processing_duration,
    waiting_for_supplement,
)
from dossierflow.rules.texts import alert_texts
from dossierflow.schemas.facts import DossierAlert, DossierFact, Recipient


def fact_records(
    evaluation: Evaluation, catalog: Catalog, from_position: int = 0
) -> list[DossierFact]:
    """Facts of the steps from `from_position` on; `version` is the history length."""
    version = len(evaluation.steps)
    facts = []
    for position in range(from_position, version):
        step = evaluation.steps[position]
        event, state = step.event, step.state
        before = evaluation.steps[position - 1].state if position else None
        facts.append(
            DossierFact(
                event_id=event.event_id,
                dossier_id=event.dossier_id,
                type=event.type.value,
                occurred_at=state.as_of or event.occurred_at,
                sequence=event.sequence,
                position=position,
                version=version,
                status=state.status.value,
                unit_code=state.unit_code,
                handling_unit_code=state.handling_unit_code,
                procedure_code=state.procedure_code,
                sector_code=state.sector_code,
                channel=state.channel,
                online_level=state.online_level,
                received_at=state.received_at,
                due_at=state.due_at,
                rescheduled_due_at=state.rescheduled_due_at,
                resolved_at=state.resolved_at,
                closed_at=state.closed_at,
                outcome=state.outcome.value if state.outcome else None,
                apologies=state.apologies,
                procedure_unknown=state.procedure_unknown,
                supplement_request_late=state.late_supplement_requests
                > (before.late_supplement_requests if before else 0),
                apology_late=state.apology_late and not (before and before.apology_late),
                **progress_fields(state, catalog),
            )
        )
    return facts


def progress_fields(state: DossierState, catalog: Catalog) -> dict[str, Any]:
    """The facts' Decision 766 fields (schemas/facts.py) of one state."""
    duration = processing_duration(state, catalog.calendar)
    reading = outcome_by_instant(state)
    return {
        "appointment_at": state.appointment_at,
        "supplement_requests": state.supplement_requests,
        "supplement_wait_ms": state.supplement_wait // timedelta(milliseconds=1),
        "supplement_waiting_since": state.paused_since if waiting_for_supplement(state) else None,
        "processing_ended_at": state.closed_at if state.received_at else None,
        "outcome_by_instant": reading.value if reading else None,
        "processing_duration": duration.value if duration else None,
        "processing_unit": duration.unit.value if duration else None,
        "processing_days": duration.days if duration else None,
    }


def alert_record(alert: Alert, catalog: Catalog) -> DossierAlert:
    text_vi, text_en = alert_texts(alert, catalog)
    return DossierAlert(
        alert_id=alert.alert_id,
        kind=alert.kind.value,
        dossier_id=alert.dossier_id,
        at=alert.at,
        deadline=catalog.calendar.local(alert.deadline),
        unit_code=alert.unit_code,
        handling_unit_code=alert.handling_unit_code,
        procedure_code=alert.procedure_code,
        apology_issued=alert.apology_issued,
        recipients=tuple(Recipient(role.value, unit) for role, unit in alert.audience()),
        text_vi=text_vi,
        text_en=text_en,
    )
