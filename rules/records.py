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
from dossierflow.rules.lifecycle import DossierState, Outcome
from dossierflow.rules.progress_index import (
    outcome_by_instant,
    processing_duration,
    waiting_for_supplement,
)
from dossierflow.rules.steps import actual, allotted, delay_causes, open_delay, overrun
from dossierflow.rules.texts import alert_texts
from dossierflow.schemas.facts import DossierAlert, DossierFact, Recipient


def fact_records(
    evaluation: Evaluation, catalog: Catalog, from_position: int = 0
) -> list[DossierFact]:
    """Facts of the steps from `from_position` on; `version` is the history length."""
    steps = evaluation.steps
    version = len(steps)
    calendar = catalog.calendar
    before = steps[from_position - 1].state if from_position else None
    facts = []
    for position in range(from_position, version):
        step = steps[position]
        event, state = step.event, step.state
        outcome = state.outcome
        # The Decision 766 fields (schemas/facts.py), built in place: this runs per event.
        duration = processing_duration(state, calendar)
        reading = outcome_by_instant(state)
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
                outcome=outcome.value if outcome else None,
                apologies=state.apologies,
                procedure_unknown=state.procedure_unknown,
                supplement_request_late=state.late_supplement_requests
                > (before.late_supplement_requests if before else 0),
                apology_late=state.apology_late and not (before and before.apology_late),
                appointment_at=state.appointment_at,
                supplement_requests=state.supplement_requests,
                supplement_wait_ms=state.supplement_wait // _MS,
                supplement_waiting_since=(
                    state.paused_since if waiting_for_supplement(state) else None
                ),
                processing_ended_at=state.closed_at if state.received_at else None,
                outcome_by_instant=reading.value if reading else None,
                processing_duration=duration.value if duration else None,
                processing_unit=duration.unit.value if duration else None,
                processing_days=duration.days if duration else None,
                **step_fields(before, state, catalog),
            )
        )
        before = state
    return facts


_MS = timedelta(milliseconds=1)


def step_fields(
    before: DossierState | None, state: DossierState, catalog: Catalog
) -> dict[str, Any]:
    """The facts' step fields (schemas/facts.py): the step this event ended; on the event
    that resolved the dossier overdue, the departments that caused the delay; while it is
    open, those that would cause it if it were overdue (`open_delay`)."""
    calendar = catalog.calendar
    fields: dict[str, Any] = {}
    if len(state.ended_steps) > (len(before.ended_steps) if before else 0):
        step = state.ended_steps[-1]
        spent, late = actual(step, calendar), overrun(step, calendar)
        assert spent is not None and late is not None
        fields |= {
            "ended_step_id": step.step_id,
            "ended_step_unit_code": step.unit_code,
            "ended_step_started_at": step.started_at,
            "ended_step_due_at": step.due_at,
            "ended_step_allotted_ms": allotted(step, calendar) // _MS,
            "ended_step_actual_ms": spent // _MS,
            "ended_step_overrun_ms": late // _MS,
        }
    rule = catalog.steps.delay_cause
    if state.outcome is Outcome.OVERDUE and (before is None or before.outcome is None):
        fields["delay_caused_by"] = delay_causes(state.ended_steps, calendar, rule)
    if state.is_open and (state.open_step or state.ended_steps):
        assert state.as_of is not None
        delay = open_delay(
            state.ended_steps, state.open_step, state.paused_since, calendar, rule, state.as_of
        )
        fields |= {
            "open_delay_caused_by": delay.caused_by,
            "open_delay_caused_by_later": delay.caused_by_later,
            "open_delay_changes_at": delay.changes_at,
        }
    return fields


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
        step_id=alert.step_id,
        step_department=alert.step_department,
        step_unit_code=alert.step_unit_code,
        recipients=tuple(Recipient(role.value, unit) for role, unit in alert.audience()),
        text_vi=text_vi,
        text_en=text_en,
    )
