"""Turn evaluations into the published records (facts and alerts) of schemas/facts.py.

Shared by the Faust worker and `dossierflow replay --store`, so that a backfill and the live
stream write identical rows.
"""

from __future__ import annotations

from dossierflow.rules.alerts import Alert
from dossierflow.rules.catalog import Catalog
from dossierflow.rules.evaluation import Evaluation
from dossierflow.rules.texts import alert_texts
from dossierflow.schemas.facts import DossierAlert, DossierFact, Recipient


def fact_records(evaluation: Evaluation, from_position: int = 0) -> list[DossierFact]:
    """Facts of the steps from `from_position` on; `version` is the history length."""
    version = len(evaluation.steps)
    facts = []
    for position in range(from_position, version):
        step = evaluation.steps[position]
        event, state = step.event, step.state
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
            )
        )
    return facts


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
