-- The alert log. `alert_id` is deterministic from dossier, kind and deadline, so a re-sent or
-- re-delivered alert collapses to one row (read with FINAL). The partition is the local month
-- of `deadline`, part of the id, so every copy of an alert lands in the same partition.
CREATE TABLE IF NOT EXISTS dossier_alerts
(
    alert_id String,
    kind LowCardinality(String),
    dossier_id String,
    at DateTime64(3, 'Asia/Ho_Chi_Minh'),
    deadline DateTime64(3, 'Asia/Ho_Chi_Minh'),
    unit_code LowCardinality(Nullable(String)),
    handling_unit_code LowCardinality(Nullable(String)),
    procedure_code LowCardinality(Nullable(String)),
    apology_issued Bool,
    recipients Array(Tuple(role LowCardinality(String), unit_code Nullable(String))),
    text_vi String,
    text_en String,
    inserted_at DateTime64(3, 'Asia/Ho_Chi_Minh') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(deadline)
ORDER BY alert_id
SETTINGS non_replicated_deduplication_window = 1000;
