"""What the worker does with one event or one timer, without Faust: record in, record out.

The Faust shell (streams/worker.py) reads the record from its table, calls these, publishes
the returned alerts and facts, and writes the record back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dossierflow.rules.alerts import Alert, overdue_at
from dossierflow.rules.catalog import Catalog
from dossierflow.rules.evaluation import Evaluation, evaluate
from dossierflow.rules.records import alert_record, fact_records
from dossierflow.schemas.event import DossierEvent
from dossierflow.schemas.facts import DossierAlert, DossierFact
from dossierflow.streams.state import DossierRecord


@dataclass
class Outcome:
    record: DossierRecord | None
    """The record to store, or None to delete the dossier from the table."""
    alerts: list[DossierAlert] = field(default_factory=list)
    facts: list[DossierFact] = field(default_factory=list)
    evaluation: Evaluation | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class DossierProcessor:
    catalog: Catalog
    closed_retention: timedelta = timedelta(days=30)
    """How long a closed dossier stays in the table (late duplicates stay harmless)."""

    def on_event(
        self, record: DossierRecord | None, event: DossierEvent, partition: int, clock: datetime
    ) -> Outcome:
        if record is None:
            record = DossierRecord(history=[], partition=partition)
        elif any(seen.event_id == event.event_id for seen in record.history):
            return Outcome(record=record, duplicate=True)
        record.history.append(event)
        record.partition = partition
        evaluation = evaluate(event.dossier_id, record.history, self.catalog, clock)
        position = next(
            i for i, step in enumerate(evaluation.steps) if step.event.event_id == event.event_id
        )
        # A late event shifts every later step: re-issue their facts with the new version.
        outcome = self._settle(record, evaluation, clock)
        outcome.facts = fact_records(evaluation, position)
        return outcome

    def on_timer(self, record: DossierRecord, clock: datetime) -> Outcome:
        dossier_id = record.history[0].dossier_id
        evaluation = evaluate(dossier_id, record.history, self.catalog, clock)
        return self._settle(record, evaluation, clock)

    def _settle(self, record: DossierRecord, evaluation: Evaluation, clock: datetime) -> Outcome:
        emitted = set(record.emitted)
        fresh: list[Alert] = [a for a in evaluation.alerts if a.alert_id not in emitted]
        record.emitted.extend(a.alert_id for a in fresh)
        state = evaluation.state
        record.open = state.is_open
        due = state.due_at
        record.overdue_at = overdue_at(self.catalog.calendar, due) if due else None
        alerts = [alert_record(a, self.catalog) for a in fresh]
        closed_at = state.closed_at
        if closed_at is None or state.is_open:
            record.next_timer_at = evaluation.next_alert_at
            return Outcome(record=record, alerts=alerts, evaluation=evaluation)
        expires = closed_at + self.closed_retention
        # An alert of the history before closing may still be ahead of an event-time clock
        # (the closing event came in the same batch): its timer comes first.
        pending = evaluation.next_alert_at
        record.next_timer_at = min(pending, expires) if pending else expires
        kept = record if clock < expires else None  # None: the dossier leaves the table
        return Outcome(record=kept, alerts=alerts, evaluation=evaluation)
