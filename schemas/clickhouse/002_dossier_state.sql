-- The current state of every dossier, for dashboards and look-ups by dossier_id.
-- Fed by a materialized view from the fact log; the row kept per dossier is the fact with the
-- highest (version, position): the last event of the newest history the worker computed.
-- `state_version` packs that pair into one UInt64 for ReplacingMergeTree. Re-delivered facts
-- carry the same pair and collapse; read with FINAL (or argMax(..., state_version)).
CREATE TABLE IF NOT EXISTS dossier_state
(
    dossier_id String,
    state_version UInt64,
    last_event_id String,
    last_event_type LowCardinality(String),
    as_of DateTime64(3, 'Asia/Ho_Chi_Minh'),
    status LowCardinality(String),
    unit_code LowCardinality(Nullable(String)),
    handling_unit_code LowCardinality(Nullable(String)),
    procedure_code LowCardinality(Nullable(String)),
    sector_code LowCardinality(Nullable(String)),
    channel LowCardinality(Nullable(String)),
    online_level LowCardinality(Nullable(String)),
    received_at Nullable(DateTime64(3, 'Asia/Ho_Chi_Minh')),
    due_at Nullable(DateTime64(3, 'Asia/Ho_Chi_Minh')),
    rescheduled_due_at Nullable(DateTime64(3, 'Asia/Ho_Chi_Minh')),
    resolved_at Nullable(DateTime64(3, 'Asia/Ho_Chi_Minh')),
    closed_at Nullable(DateTime64(3, 'Asia/Ho_Chi_Minh')),
    outcome LowCardinality(Nullable(String)),
    apologies UInt16
)
ENGINE = ReplacingMergeTree(state_version)
ORDER BY dossier_id;

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
    apologies
FROM dossier_facts;
