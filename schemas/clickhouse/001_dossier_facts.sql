-- The fact log: one row per event of a dossier with the dossier's derived state right after it.
-- No personal data: the facts carry codes, instants and the derived state, never names,
-- identity numbers, addresses or free text.
--
-- Idempotent under re-delivery: the sorting key is (dossier_id, event_id), so a re-delivered
-- fact and a re-issued fact (a late event makes the worker re-issue the dossier's facts with a
-- higher `version`) collapse to one row, the highest `version`, when read with FINAL.
-- The partition is the local month of `occurred_at`, a property of the event itself, so every
-- copy of a fact lands in the same partition (ReplacingMergeTree only collapses within one).
-- non_replicated_deduplication_window lets the sink's insert_deduplication_token drop a batch
-- that is sent twice before it even becomes a part.
CREATE TABLE IF NOT EXISTS dossier_facts
(
    event_id String,
    dossier_id String,
    type LowCardinality(String),
    occurred_at DateTime64(3, 'Asia/Ho_Chi_Minh'),
    sequence Nullable(UInt64),
    position UInt32,
    version UInt32,
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
    apologies UInt16,
    inserted_at DateTime64(3, 'Asia/Ho_Chi_Minh') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (dossier_id, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
