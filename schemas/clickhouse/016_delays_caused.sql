-- Who caused the delay, for the period report (docs/domain.md, "Processing steps"; docs/bi.md,
-- `bi_delays_caused`): per department, the dossiers resolved overdue in a period whose delay
-- its steps caused — the unit that signs the apology (Decree 61/2018/NĐ-CP Art. 19 as amended).
--
-- The departments are on the fact of the event that resolved the dossier (`delay_caused_by`,
-- migration 015). Reading them off `dossier_facts FINAL` merges every fact of the period;
-- `dossier_resolutions` keeps only the facts of the events that may resolve a dossier
-- (RESOLVED and RETURNED, rules/lifecycle.py), every version of them, keyed by the event like
-- the facts, so FINAL gives each event's fact of the newest history. Every version matters:
-- a late event that re-issues the history may turn the resolving fact into one without
-- `delay_caused_by` (a WITHDRAWN before it: the RESOLVED then changes nothing), and that
-- version must replace the one with it, not be left out.
CREATE TABLE IF NOT EXISTS dossier_resolutions
(
    dossier_id String,
    event_id String,
    version UInt32,
    occurred_at DateTime64(3, 'Asia/Ho_Chi_Minh'),
    delay_caused_by Array(String)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (dossier_id, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS dossier_resolutions_mv TO dossier_resolutions AS
SELECT dossier_id, event_id, version, occurred_at, delay_caused_by
FROM dossier_facts
WHERE type IN ('RESOLVED', 'RETURNED');

-- Facts stored before this migration; a re-run inserts rows that FINAL collapses.
INSERT INTO dossier_resolutions
SELECT dossier_id, event_id, version, occurred_at, delay_caused_by
FROM dossier_facts
WHERE type IN ('RESOLVED', 'RETURNED');

-- Per department, for [period_from, period_to) (local instants, e.g. '2026-03-01'):
--     SELECT * FROM bi_delays_caused(period_from = '2026-03-01', period_to = '2026-04-01')
-- `resolved_overdue_caused`: dossiers resolved overdue in the period (by the date reading,
-- as `resolved_overdue`) whose delay the department's steps caused. A dossier whose delay
-- several departments caused (`steps.delay_cause: every`) counts for each of them.
CREATE VIEW IF NOT EXISTS bi_delays_caused AS
WITH
    toDateTime64({period_from:String}, 3, 'Asia/Ho_Chi_Minh') AS p_from,
    toDateTime64({period_to:String}, 3, 'Asia/Ho_Chi_Minh') AS p_to
SELECT unit_code, count() AS resolved_overdue_caused
FROM
(
    SELECT delay_caused_by
    FROM dossier_resolutions FINAL
    WHERE notEmpty(delay_caused_by) AND occurred_at >= p_from AND occurred_at < p_to
)
ARRAY JOIN delay_caused_by AS unit_code
GROUP BY unit_code
ORDER BY unit_code;

-- `bi_step_delays` (015) counted the same dossiers off `dossier_facts FINAL`; it now reads
-- them from the small table, with the same figures.
CREATE OR REPLACE VIEW bi_step_delays AS
WITH
    toDateTime64({period_from:String}, 3, 'Asia/Ho_Chi_Minh') AS p_from,
    toDateTime64({period_to:String}, 3, 'Asia/Ho_Chi_Minh') AS p_to
SELECT
    unit_code,
    toUInt64(sum(is_step)) AS steps,
    toUInt64(sum(overran)) AS overrun_steps,
    toUInt64(sum(overrun)) AS overrun_ms,
    overrun_ms / 3600000 AS overrun_working_hours,
    toUInt64(sum(caused)) AS dossiers_delayed
FROM
(
    SELECT
        assumeNotNull(ended_step_unit_code) AS unit_code,
        1 AS is_step,
        ifNull(ended_step_overrun_ms, 0) > 0 AS overran,
        ifNull(ended_step_overrun_ms, 0) AS overrun,
        0 AS caused
    FROM dossier_facts FINAL
    WHERE ended_step_id IS NOT NULL AND occurred_at >= p_from AND occurred_at < p_to
    UNION ALL
    SELECT arrayJoin(delay_caused_by) AS unit_code, 0, 0, 0, 1
    FROM dossier_resolutions FINAL
    WHERE notEmpty(delay_caused_by) AND occurred_at >= p_from AND occurred_at < p_to
)
GROUP BY unit_code
ORDER BY unit_code;
