-- Processing steps (rules/steps.py; docs/domain.md, "Processing steps"): each department's
-- working time against the time allotted to it, as the control sheet (phiếu kiểm soát quá
-- trình, Circular 01/2018/TT-VPCP Art. 13(2)) records it, and which departments caused an
-- overdue dossier's delay.
-- Backward compatible: new columns with defaults, a new view; nothing existing changes. Facts
-- stored before this migration have no steps (events before issue 20 had none).
--
-- A fact carries the step its event ended (STEP_COMPLETED, the next STEP_STARTED, or the end
-- of processing); the fact of the event that resolved a dossier overdue carries the
-- departments that caused the delay. Both are read from `dossier_facts FINAL`: a re-issued
-- history (a late event) replaces every fact from the late event on, so a step the new
-- history ends at another event, or not at all, is counted once, as the newest history says.
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS ended_step_id Nullable(String);
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS
    ended_step_unit_code LowCardinality(Nullable(String));
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS
    ended_step_started_at Nullable(DateTime64(3, 'Asia/Ho_Chi_Minh'));
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS
    ended_step_due_at Nullable(DateTime64(3, 'Asia/Ho_Chi_Minh'));
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS ended_step_allotted_ms Nullable(Int64);
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS ended_step_actual_ms Nullable(Int64);
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS ended_step_overrun_ms Nullable(Int64);
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS delay_caused_by Array(String) DEFAULT [];

-- Step alerts (STEP_AT_RISK, STEP_OVERDUE) name their step and department.
ALTER TABLE dossier_alerts ADD COLUMN IF NOT EXISTS step_id Nullable(String);
ALTER TABLE dossier_alerts ADD COLUMN IF NOT EXISTS
    step_department LowCardinality(Nullable(String));
ALTER TABLE dossier_alerts ADD COLUMN IF NOT EXISTS
    step_unit_code LowCardinality(Nullable(String));

-- Per department, for [period_from, period_to) (local instants, e.g. '2026-03-01'):
--     SELECT * FROM bi_step_delays(period_from = '2026-03-01', period_to = '2026-04-01')
-- `steps` ended in the period, of them `overrun_steps` took longer than allotted, by
-- `overrun_ms` working milliseconds in all (`overrun_working_hours` the same in hours);
-- `dossiers_delayed`: dossiers resolved overdue in the period whose delay the department's
-- steps caused (the catalogue's `steps.delay_cause` chose which of the overrun steps).
CREATE VIEW IF NOT EXISTS bi_step_delays AS
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
    FROM dossier_facts FINAL
    WHERE notEmpty(delay_caused_by) AND occurred_at >= p_from AND occurred_at < p_to
)
GROUP BY unit_code
ORDER BY unit_code;
