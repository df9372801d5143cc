-- The period report and the dashboards read one row per dossier instead of every fact.
--
-- `dossier_state` (002) already keeps, per dossier, the fact with the highest (version,
-- position): the state after the last event of the newest history. The milestones the
-- report needs are fixed once set in that history (rules/lifecycle.py): `received_at`,
-- `unit_code`, `channel` and `procedure_code` at RECEIVED; `closed_at`, the ending status and
-- `outcome` at the closing event (RETURNED after RESOLVED keeps both). So the state as of any
-- instant T is readable from the latest row: received before T iff received_at < T, closed
-- before T iff closed_at < T, with the same outcome. Two things are not: the deadline in force
-- at T (RESUMED moves it) and when apologies were issued. `dossier_milestones` keeps exactly
-- those events: RECEIVED and RESUMED (the only events that set `due_at`) and APOLOGY_ISSUED,
-- with the receiving unit known after them (NULL before RECEIVED). Keyed by the event,
-- (type, dossier_id, event_id) with `version` (an event's type never changes), so a
-- re-delivered or re-issued fact replaces its row instead of adding one; read with FINAL.
-- `type` leads the key so that apologies, and the deadlines of given dossiers, are read
-- without touching the rest.
--
-- `dossier_state` also carries `procedure_unknown` (005) for the report's unknown_procedure.
ALTER TABLE dossier_state ADD COLUMN IF NOT EXISTS procedure_unknown Bool DEFAULT false;

-- The view is recreated to carry the new column; run migrations with the sink stopped (chDB
-- enforces that: one process per data directory).
DROP VIEW IF EXISTS dossier_state_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS dossier_state_mv TO dossier_state AS
SELECT
    dossier_id,
    bitShiftLeft(toUInt64(version), 32) + position AS state_version,
    event_id AS last_event_id,
    type AS last_event_type,
    occurred_at AS as_of,
    status,
    unit_code,
    handling_unit_code,
    procedure_code,
    sector_code,
    channel,
    online_level,
    received_at,
    due_at,
    rescheduled_due_at,
    resolved_at,
    closed_at,
    outcome,
    apologies,
    procedure_unknown
FROM dossier_facts;

CREATE TABLE IF NOT EXISTS dossier_milestones
(
    dossier_id String,
    event_id String,
    type LowCardinality(String),
    occurred_at DateTime64(3, 'Asia/Ho_Chi_Minh'),
    position UInt32,
    version UInt32,
    unit_code LowCardinality(Nullable(String)),
    due_at Nullable(DateTime64(3, 'Asia/Ho_Chi_Minh'))
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (type, dossier_id, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS dossier_milestones_mv TO dossier_milestones AS
SELECT dossier_id, event_id, type, occurred_at, position, version, unit_code, due_at
FROM dossier_facts
WHERE type IN ('RECEIVED', 'RESUMED', 'APOLOGY_ISSUED');

-- Facts stored before this migration; a re-run inserts rows that FINAL collapses.
INSERT INTO dossier_milestones
SELECT dossier_id, event_id, type, occurred_at, position, version, unit_code, due_at
FROM dossier_facts
WHERE type IN ('RECEIVED', 'RESUMED', 'APOLOGY_ISSUED');
