"""What the worker does with one event, timer or catalogue reload of a dossier, without Faust.

The runtime (streams/runtime.py) loads the dossier's record, calls these, publishes the
returned alerts and facts, and stores the returned record. `on_event` leaves the record
it is given as it was (it works on a copy, so that an event the rules fail on changes
nothing); `on_timer` and `on_catalog_reloaded` update the record given in place and return
it in `Effects.record` (or None when the dossier leaves the table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import msgspec

from dossierflow.rules.alerts import Alert
from dossierflow.rules.catalog import Catalog
from dossierflow.rules.evaluation import NOTHING_FOLDED, Evaluation, Folded, evaluate_folded, fold
from dossierflow.rules.lifecycle import order_history
from dossierflow.rules.records import alert_record, fact_records
from dossierflow.schemas.event import DossierEvent, without_free_text
from dossierflow.schemas.facts import DossierAlert, DossierFact
from dossierflow.streams.state import DOSSIERS_KEPT, DossierRecord


@dataclass
class Effects:
    """What one event, timer or catalogue reload does to a dossier: the record to store and
    the alerts and facts to publish (not the dossier's outcome, `rules.lifecycle.Outcome`)."""

    record: DossierRecord | None
    """The record to store, or None to delete the dossier from the table."""
    alerts: list[DossierAlert] = field(default_factory=list)
    facts: list[DossierFact] = field(default_factory=list)
    duplicate: bool = False
    contradicted: list[Alert] = field(default_factory=list)
    """Alerts published before a late event that the history with it no longer fires."""
    newly_unknown_procedure: bool = False
    """This event made the dossier one whose procedure the catalogue does not know."""


class _Leaving(NamedTuple):
    """A closed dossier whose evaluation at `since` left no alert to come: with the same
    history and its alerts published, its timer at `expires` only takes it out of the
    table, whatever a later clock (a later clock fires no alert an earlier one left out)."""

    events: int
    last_event_id: str
    """The history, without holding it: a record's history only grows, by one event at a
    time, so its length and its last event tell it (a record decoded again included)."""
    alerts: tuple[str, ...]
    """The ids of the alerts that evaluation fired: published if in the record's `emitted`."""
    since: datetime
    expires: datetime

    def leaves(self, record: DossierRecord, clock: datetime) -> bool:
        history = record.history
        return (len(history) == self.events and history[-1].event_id == self.last_event_id
                and self.since <= clock and self.expires <= clock
                and all(alert in record.emitted for alert in self.alerts))


@dataclass(frozen=True)
class DossierProcessor:
    catalog: Catalog
    closed_retention: timedelta = timedelta(days=30)
    """How long a closed dossier stays in the table (late duplicates stay harmless)."""
    keep_reason: bool = False
    """Keep the events' free-text `reason` in the records (the table and its changelog).
    Off: no rule reads it, so it is dropped, from the records of earlier events too."""
    folds_kept: int = DOSSIERS_KEPT
    """Dossiers whose last fold is kept: those a replay or a live worker touches again soon.
    One not kept is folded from its first event, with the same result."""
    _folds: dict[str, Folded] = field(default_factory=dict, init=False, compare=False, repr=False)
    """The last fold of each recently evaluated dossier, the oldest first: the next event
    or timer of the dossier folds only what its history adds (`rules.evaluation.fold`), so
    the rules cost per event no longer grows with the history. At most `folds_kept`; a
    fresh processor (a reloaded catalogue) starts without any."""
    _leaving: dict[str, _Leaving] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    """Closed dossiers with no alert to come (at most `folds_kept`, the first noted dropped
    first): most timers are such a dossier's expiry (docs/benchmarks.md, *The rules per
    event*), which `on_timer` then settles without evaluating it."""

    def on_event(
        self,
        record: DossierRecord | None,
        event: DossierEvent,
        partition: int,
        clock: datetime,
        late: bool = False,
    ) -> Effects:
        """Apply `event`. `late`: it occurred before the clock had already reached, so
        alerts published by then may be ones its history does not fire."""
        if record is not None and any(seen.event_id == event.event_id for seen in record.history):
            return Effects(record=record, duplicate=True)
        history = [*record.history, event] if record is not None else [event]
        if not self.keep_reason:
            history = [without_free_text(seen) for seen in history]
        # A new record, the one given left as it was: the worker dead-letters an event the
        # rules fail on, and the dossier goes on from its state before it.
        record = (
            DossierRecord(history=history, partition=partition)
            if record is None
            else msgspec.structs.replace(
                record, history=history, emitted=list(record.emitted), partition=partition
            )
        )
        evaluation = self._evaluate(event.dossier_id, record.history, clock)
        steps, event_id = evaluation.steps, event.event_id
        position = len(steps) - 1  # an event in order is the last
        if steps[position].event.event_id != event_id:
            position = next(i for i, step in enumerate(steps) if step.event.event_id == event_id)
        published = set(record.emitted) if late and record.emitted else None
        # A late event shifts every later step: re-issue their facts with the new version.
        effects = self._settle(record, evaluation, clock)
        effects.facts = fact_records(evaluation, self.catalog, position)
        if published:
            effects.contradicted = self._contradicted(record, published, evaluation, clock)
        unknown = evaluation.state.procedure_unknown
        effects.newly_unknown_procedure = unknown and not record.procedure_unknown
        record.procedure_unknown = unknown
        return effects

    def on_catalog_reloaded(self, record: DossierRecord, clock: datetime) -> Effects | None:
        """Re-evaluate a dossier whose procedure was unknown with this (reloaded) catalogue:
        every fact again (its deadline now known) and the alerts due by `clock`; None if the
        catalogue still does not know the procedure."""
        dossier_id = record.history[0].dossier_id
        evaluation = self._evaluate(dossier_id, record.history, clock)
        if evaluation.state.procedure_unknown:
            return None
        record.procedure_unknown = False
        effects = self._settle(record, evaluation, clock)
        effects.facts = fact_records(evaluation, self.catalog)
        return effects

    def _contradicted(
        self, record: DossierRecord, published: set[str], evaluation: Evaluation,
        clock: datetime,
    ) -> list[Alert]:
        """The published alerts the history with the late event (the last in `record`)
        does not fire: found in the history without it, which fired all of them."""
        still = {alert.alert_id for alert in evaluation.alerts}
        if published <= still:
            return []
        dossier_id = record.history[0].dossier_id
        before = self._evaluate(dossier_id, record.history[:-1], clock, keep=False)
        return [a for a in before.alerts if a.alert_id in published - still]

    def on_timer(self, record: DossierRecord, clock: datetime) -> Effects:
        dossier_id = record.history[0].dossier_id
        leaving = self._leaving.pop(dossier_id, None)
        if leaving is not None and leaving.leaves(record, clock):
            effects = Effects(record=None)
        else:
            effects = self._settle(record, self._evaluate(dossier_id, record.history, clock),
                                   clock)
        if effects.record is None:  # it leaves the table: its fold would only hold memory
            self._folds.pop(dossier_id, None)
        return effects

    def _evaluate(
        self, dossier_id: str, history: list[DossierEvent], clock: datetime, keep: bool = True
    ) -> Evaluation:
        """`rules.evaluation.evaluate`, going on from the dossier's last fold; `keep`: this
        fold becomes the last."""
        folds = self._folds
        prior = folds.pop(dossier_id, NOTHING_FOLDED)
        folded = fold(dossier_id, order_history(history), self.catalog, prior)
        folds[dossier_id] = folded if keep else prior
        if len(folds) > self.folds_kept:
            del folds[next(iter(folds))]
        return evaluate_folded(dossier_id, folded, self.catalog, clock)

    def on_evaluated(
        self, record: DossierRecord, evaluation: Evaluation, clock: datetime
    ) -> Effects:
        """`on_timer` given the dossier's evaluation at `clock` (`dossierflow golive`)."""
        return self._settle(record, evaluation, clock)

    def _settle(self, record: DossierRecord, evaluation: Evaluation, clock: datetime) -> Effects:
        emitted = set(record.emitted)
        fresh: list[Alert] = [a for a in evaluation.alerts if a.alert_id not in emitted]
        record.emitted.extend(a.alert_id for a in fresh)
        state = evaluation.state
        record.open = state.is_open
        record.overdue_at = evaluation.overdue_at
        alerts = [alert_record(a, self.catalog) for a in fresh]
        closed_at = state.closed_at
        pending = evaluation.next_alert_at
        if closed_at is None or state.is_open:
            record.next_timer_at = pending
            return Effects(record=record, alerts=alerts)
        # A closed dossier may still owe alerts whose instants come before its closing event
        # (the clock, the watermark in event-time mode, has not passed them yet): it stays
        # in the table and its timer is the next of them until none is left.
        expires = closed_at + self.closed_retention
        record.next_timer_at = expires if pending is None else min(pending, expires)
        kept = record if pending is not None or clock < expires else None  # None: leaves
        if kept is not None and pending is None:
            leaving = self._leaving
            history = record.history
            leaving[history[0].dossier_id] = _Leaving(
                len(history), history[-1].event_id,
                tuple(a.alert_id for a in evaluation.alerts), clock, expires)
            if len(leaving) > self.folds_kept:
                del leaving[next(iter(leaving))]
        return Effects(record=kept, alerts=alerts)
