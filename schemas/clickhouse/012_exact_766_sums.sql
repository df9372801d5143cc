-- Exact sums in the Decision 766 views of migration 010. Processing times are stored rounded
-- to 4 decimals (rules/progress_index.py `processing_duration`), but a Float64 sum depends on
-- the order the engine adds them in, which changes with parts and threads: two stores holding
-- the same facts could give a 2.2 average differing in its last digit after rounding. Summed
-- here as whole ten-thousandths (Int64, exact, any order), divided once at the end. Same
-- columns and types as before; only the two views are replaced.

-- 2.1 per receiving unit (as in 010).
CREATE OR REPLACE VIEW bi_progress_766 AS
WITH
    toDateTime64({period_from:String}, 3, 'Asia/Ho_Chi_Minh') AS p_from,
    toDateTime64({period_to:String}, 3, 'Asia/Ho_Chi_Minh') AS p_to,
    {apology_appointment:String} = 'original' AS keep_original
SELECT
    unit_code,
    count() AS received,
    countIf(is_on_time) AS on_time,
    countIf(NOT is_on_time) AS overdue,
    countIf(is_completed) AS completed,
    sumIf(toInt64(round(ifNull(days, 0) * 10000)), is_completed) / 10000 AS processing_days,
    countIf(is_on_time AND closed_at IS NULL AND at_risk_alert) AS at_risk,
    round(on_time / received, 4) AS ratio,
    round(20 * on_time / received, 2) AS score
FROM
(
    SELECT
        unit_code, closed_at, processing_days AS days, at_risk_alert,
        status IN ('RESOLVED', 'RETURNED') AND processing_days IS NOT NULL AS is_completed,
        closed_at IS NULL AND supplement_waiting_since IS NOT NULL AS waiting,
        if(keep_original OR rescheduled_due_at IS NULL, appointment_at, rescheduled_due_at)
            AS appointment,
        ifNull(closed_at, p_to) AS judged_at,
        toInt64(supplement_wait_ms) + if(waiting,
            greatest(toInt64(0), toUnixTimestamp64Milli(p_to)
                     - toUnixTimestamp64Milli(assumeNotNull(supplement_waiting_since))),
            toInt64(0)) AS wait_ms,
        multiIf(
            waiting, supplement_requests <= {max_supplements:UInt32},
            appointment IS NULL, true,
            toUnixTimestamp64Milli(judged_at) - wait_ms
                <= toUnixTimestamp64Milli(assumeNotNull(appointment)), true,
            false) AS is_on_time
    FROM
    (
        SELECT
            dossier_id,
            ifNull(argMax(unit_code, position), '') AS unit_code,
            argMax(status, position) AS status,
            argMax(tuple(closed_at), position).1 AS closed_at,
            -- facts stored before this migration have no appointment_at: their RECEIVED
            -- fact's deadline is the receipt's appointment
            ifNull(argMax(tuple(appointment_at), position).1,
                   argMinIf(due_at, position, type = 'RECEIVED')) AS appointment_at,
            argMax(tuple(rescheduled_due_at), position).1 AS rescheduled_due_at,
            argMax(supplement_requests, position) AS supplement_requests,
            argMax(supplement_wait_ms, position) AS supplement_wait_ms,
            argMax(tuple(supplement_waiting_since), position).1 AS supplement_waiting_since,
            argMax(tuple(processing_days), position).1 AS processing_days,
            dossier_id IN (SELECT dossier_id FROM dossier_alerts FINAL
                           WHERE kind = 'AT_RISK' AND at < p_to) AS at_risk_alert
        FROM dossier_facts FINAL
        WHERE occurred_at < p_to
            AND dossier_id IN (SELECT dossier_id FROM dossier_state FINAL
                               WHERE received_at < p_to
                                   AND (closed_at IS NULL OR closed_at >= p_from))
        GROUP BY dossier_id
    )
    WHERE closed_at IS NULL OR closed_at >= p_from
)
GROUP BY unit_code;

-- 2.2 per receiving unit x procedure (as in 010).
CREATE OR REPLACE VIEW bi_progress_766_procedures AS
SELECT
    unit_code,
    procedure_code,
    processing_unit,
    count() AS completed,
    round(sum(toInt64(round(duration * 10000))) / (10000 * count()), 2) AS average_duration,
    round(sum(toInt64(round(days * 10000))) / (10000 * count()), 2) AS average_days
FROM
(
    SELECT
        dossier_id,
        ifNull(any(f.unit_code), '') AS unit_code,
        ifNull(any(f.procedure_code), '') AS procedure_code,
        any(f.processing_unit) AS processing_unit,
        any(f.processing_duration) AS duration,
        any(f.processing_days) AS days
    FROM dossier_facts AS f FINAL
    WHERE f.processing_duration IS NOT NULL
        AND f.closed_at >= toDateTime64({period_from:String}, 3, 'Asia/Ho_Chi_Minh')
        AND f.closed_at < toDateTime64({period_to:String}, 3, 'Asia/Ho_Chi_Minh')
    GROUP BY dossier_id
)
GROUP BY unit_code, procedure_code, processing_unit;
