"""Records the pipeline publishes: facts (events enriched with derived state) and alerts.

Facts go to the facts topic and on to ClickHouse; alerts go to the alerts topic (keyed by
handling unit) and to the alert log. Both are plain msgspec structs so that every writer
(the Faust worker, `dossierflow replay --store`) produces byte-identical records.
"""

from __future__ import annotations

from datetime import datetime

import msgspec


class DossierFact(msgspec.Struct, frozen=True, kw_only=True):
    """One event of a dossier and the dossier's derived state right after it.

    `position` is the event's index in the dossier's ordered, de-duplicated history and
    `version` the length of that history when the fact was computed: a late, out-of-order
    event re-issues every fact of the dossier with a higher version, so a store that keeps
    the highest version per `event_id` (ReplacingMergeTree) converges to the exact history.
    No personal data and no free text (`reason`) is carried.
    """

    event_id: str
    dossier_id: str
    type: str
    occurred_at: datetime
    sequence: int | None
    position: int
    version: int
    status: str
    unit_code: str | None
    handling_unit_code: str | None
    procedure_code: str | None
    sector_code: str | None
    channel: str | None
    online_level: str | None
    received_at: datetime | None
    due_at: datetime | None
    rescheduled_due_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    apologies: int
    procedure_unknown: bool = False
    """The dossier was received for a procedure code the catalogue does not hold, and the
    event gave neither `due_at` nor `processing_time`: it has no deadline and raises no alert
    until the catalogue learns the code (a reloaded catalogue re-evaluates it)."""
    # --- compliance of this event (rules/compliance.py, docs/compliance.md) ---
    supplement_request_late: bool = False
    """A SUPPLEMENT_REQUESTED made on a local date after the last day the catalogue's
    `compliance.supplement_request_days` allow after reception."""
    apology_late: bool = False
    """The dossier's first APOLOGY_ISSUED, made after the last day to apologise in time for
    the deadline in force (`compliance.apology_lead_days` working days before its date)."""
    # --- the Decision 766 progress index (rules/progress_index.py; migration 010) ---------
    # Defaults let facts written before these fields decode.
    appointment_at: datetime | None = None
    """The receipt's appointment (NgayHenTra), never moved by pauses."""
    supplement_requests: int = 0
    supplement_wait_ms: int = 0
    """Milliseconds of finished supplement waits (766 subtracts them from the end)."""
    supplement_waiting_since: datetime | None = None
    """When the supplement wait under way began; None unless waiting for a supplement."""
    processing_ended_at: datetime | None = None
    """End of processing: the first of resolved, returned, stopped, withdrawn."""
    outcome_by_instant: str | None = None
    """`ON_TIME`/`OVERDUE` by 766's instant reading with the portal's appointment, once
    processing ended (`outcome` is the reading by local date)."""
    processing_duration: float | None = None
    """2.2: reception to result of a resolved dossier, in `processing_unit`."""
    processing_unit: str | None = None
    processing_days: float | None = None
    """The same duration in days (working days, or calendar days for calendar-day units)."""
    # --- processing steps (rules/steps.py; migration 015) ---------------------------------
    ended_step_id: str | None = None
    """The step this event ended (STEP_COMPLETED, the next STEP_STARTED, or the end of
    processing); the fields below describe it."""
    ended_step_unit_code: str | None = None
    """Its department (`PhongBanXuLy`)."""
    ended_step_started_at: datetime | None = None
    ended_step_due_at: datetime | None = None
    """Its own deadline (`NgayKetThucTheoQuyDinh`)."""
    ended_step_allotted_ms: int | None = None
    """Working milliseconds from its start to its deadline."""
    ended_step_actual_ms: int | None = None
    """Working milliseconds the department held it, the applicant's waits left out."""
    ended_step_overrun_ms: int | None = None
    """Actual less allotted working milliseconds, zero when in time."""
    delay_caused_by: tuple[str, ...] = ()
    """On the event that resolved the dossier overdue: the departments whose steps caused
    the delay (`steps.delay_cause`); empty otherwise, or when no step overran."""
    # --- who would cause the delay of the open dossier (rules/steps.py; migration 017) ----
    open_delay_caused_by: tuple[str, ...] = ()
    """While the dossier is open after this event: the departments its delay is attributed
    to if it is overdue at an instant T before its next event, when T is at most
    `open_delay_changes_at` (or that is None); empty for a closed dossier."""
    open_delay_caused_by_later: tuple[str, ...] = ()
    """The same when T is after `open_delay_changes_at`."""
    open_delay_changes_at: datetime | None = None
    """When the open step's time running on changes the answer (rules/steps.py,
    `open_delay`); None when nothing will."""


class Recipient(msgspec.Struct, frozen=True):
    role: str
    """`handling_unit_head`, `receiving_unit_head` or `province_operations`."""
    unit_code: str | None


class AlertFields(msgspec.Struct, frozen=True, kw_only=True):
    """What an alert says, shared by the rules' `Alert` (which types `kind` as its enum) and
    the published `DossierAlert`, so that the two cannot drift apart."""

    alert_id: str
    """Deterministic from dossier, kind and deadline, so a re-sent alert keeps its id."""
    kind: str
    dossier_id: str
    at: datetime
    deadline: datetime
    unit_code: str | None
    handling_unit_code: str | None
    procedure_code: str | None
    apology_issued: bool
    # --- step alerts (STEP_AT_RISK, STEP_OVERDUE; rules/steps.py; migration 015) ----------
    step_id: str | None = None
    step_department: str | None = None
    """The step's department as the event gave it (`PhongBanXuLy`)."""
    step_unit_code: str | None = None
    """Whom the step alert is addressed to: `step_department` when the catalogue lists it as
    a unit, else the handling unit (the department is one of its own)."""


class DossierAlert(AlertFields, frozen=True, kw_only=True):
    """A deadline alert as the alerts topic and the alert log carry it: the alert's fields,
    then to whom it goes and its texts."""

    recipients: tuple[Recipient, ...]
    text_vi: str
    text_en: str


output_encoder = msgspec.json.Encoder()
"""Encodes the worker's outputs, facts and alerts alike, as the JSON of their topics."""
fact_decoder = msgspec.json.Decoder(DossierFact)
alert_decoder = msgspec.json.Decoder(DossierAlert)
