-- Daily rollups for dashboards: local day x receiving unit x procedure x sector x channel.
-- A plain view over the de-duplicated tables (FINAL), not an insert-triggered aggregate:
-- an AggregatingMergeTree fed by a materialized view sees every inserted block, so a
-- re-delivered batch or a re-issued history (higher version) would be counted again and
-- could never be taken back. Reading FINAL keeps the rollup exactly what the report says.
-- Received counts fall on the day of receipt, resolutions and other endings on the day they
-- ended, apologies on the day they were issued; the dimensions are the dossier's current ones.
CREATE VIEW IF NOT EXISTS daily_rollup AS
SELECT
    day,
    unit_code,
    procedure_code,
    sector_code,
    channel,
    countIf(kind = 'RECEIVED') AS received,
    countIf(kind = 'EARLY') AS resolved_early,
    countIf(kind = 'ON_TIME') AS resolved_on_time,
    countIf(kind = 'OVERDUE') AS resolved_overdue,
    countIf(kind = 'WITHDRAWN') AS withdrawn,
    countIf(kind = 'STOPPED') AS stopped,
    countIf(kind = 'APOLOGY_ISSUED') AS apologies
FROM
(
    SELECT toDate(received_at) AS day, unit_code, procedure_code, sector_code, channel,
        'RECEIVED' AS kind
    FROM dossier_state FINAL
    WHERE received_at IS NOT NULL
    UNION ALL
    SELECT toDate(closed_at) AS day, unit_code, procedure_code, sector_code, channel,
        if(status IN ('RESOLVED', 'RETURNED'), ifNull(outcome, 'NO_OUTCOME'), status) AS kind
    FROM dossier_state FINAL
    WHERE received_at IS NOT NULL AND closed_at IS NOT NULL
    UNION ALL
    SELECT toDate(occurred_at) AS day, unit_code, procedure_code, sector_code, channel,
        'APOLOGY_ISSUED' AS kind
    FROM dossier_facts FINAL
    WHERE type = 'APOLOGY_ISSUED'
)
GROUP BY day, unit_code, procedure_code, sector_code, channel;
