-- Who caused the delay of a dossier still open (docs/domain.md, "Processing steps"; docs/bi.md,
-- `bi_overdue_causes`): migration 016 attributed a dossier's delay once it was resolved; a
-- dossier in progress past its deadline at the end of a period is attributed too, by the same
-- rule, its open step judged as if it ended then (rules/steps.py, `delay_causes_at`).
--
-- The rule needs the working calendar, which the store does not hold, so the worker computes
-- it with every fact of an open dossier for any instant T before the dossier's next event
-- (rules/steps.py, `open_delay`): `open_delay_caused_by` while T <= `open_delay_changes_at`
-- (for ever when NULL), `open_delay_caused_by_later` after it. A dossier's state at T is its
-- last fact before T (the highest `position` of the newest history, read with FINAL).
-- Backward compatible: new columns with defaults, a new view, two views with a new column.
-- Facts stored before this migration carry no answer: an open dossier counts for nobody until
-- its next event (or a `replay --store` of its history).
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS open_delay_caused_by Array(String) DEFAULT [];
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS
    open_delay_caused_by_later Array(String) DEFAULT [];
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS
    open_delay_changes_at Nullable(DateTime64(3, 'Asia/Ho_Chi_Minh'));

-- One row per dossier overdue in [period_from, period_to) (local instants, e.g. '2026-03-01'):
--     SELECT * FROM bi_overdue_causes(period_from = '2026-03-01', period_to = '2026-04-01')
-- `overdue` = 'resolved_overdue' (resolved overdue in the period, as the report's
-- `resolved_overdue`, its departments from `dossier_resolutions`, 016) or
-- 'in_progress_overdue' (open at `period_to` with the date of the deadline in force then
-- before the date of `period_to`, as `in_progress_overdue`, from `dossiers_open_at`, 011).
-- `caused_by`: the departments whose steps caused the delay, the units that sign the apology
-- (empty when no step overran). `unit_code` is the receiving unit, `due_at` the deadline
-- the dossier was judged by, `resolved_at` NULL for one in progress.
CREATE VIEW IF NOT EXISTS bi_overdue_causes AS
WITH
    toDateTime64({period_from:String}, 3, 'Asia/Ho_Chi_Minh') AS p_from,
    toDateTime64({period_to:String}, 3, 'Asia/Ho_Chi_Minh') AS p_to
SELECT dossier_id, overdue, unit_code, procedure_code, due_at, resolved_at, caused_by
FROM
(
    SELECT
        s.dossier_id AS dossier_id, 'resolved_overdue' AS overdue,
        ifNull(s.unit_code, '') AS unit_code, ifNull(s.procedure_code, '') AS procedure_code,
        s.due_at AS due_at, s.resolved_at AS resolved_at, r.caused_by AS caused_by
    FROM
    (
        SELECT dossier_id, unit_code, procedure_code, due_at, resolved_at
        FROM dossier_state FINAL
        WHERE outcome = 'OVERDUE' AND status IN ('RESOLVED', 'RETURNED')
            AND resolved_at >= p_from AND resolved_at < p_to
    ) AS s
    LEFT JOIN
    (
        SELECT dossier_id, argMax(delay_caused_by, occurred_at) AS caused_by
        FROM dossier_resolutions FINAL
        WHERE notEmpty(delay_caused_by) AND occurred_at >= p_from AND occurred_at < p_to
        GROUP BY dossier_id
    ) AS r ON s.dossier_id = r.dossier_id

    UNION ALL

    SELECT
        o.dossier_id, 'in_progress_overdue', o.unit_code, tupleElement(f.last, 1),
        o.due_at_to, NULL,
        if(tupleElement(f.last, 4) IS NOT NULL AND p_to > tupleElement(f.last, 4),
           tupleElement(f.last, 3), tupleElement(f.last, 2))
    FROM
    (
        SELECT dossier_id, unit_code, due_at_to
        FROM dossiers_open_at(period_to = {period_to:String})
        WHERE ifNull(toDate(due_at_to) < toDate(p_to), false)
    ) AS o
    LEFT JOIN
    (
        -- the state at `period_to`: the last fact before it, of the overdue dossiers only
        -- (a tuple, so that a NULL instant is not skipped by argMax)
        SELECT dossier_id,
            argMax(tuple(ifNull(procedure_code, ''), open_delay_caused_by,
                         open_delay_caused_by_later, open_delay_changes_at), position) AS last
        FROM dossier_facts FINAL
        WHERE occurred_at < p_to
            AND dossier_id IN (SELECT dossier_id
                               FROM dossiers_open_at(period_to = {period_to:String})
                               WHERE ifNull(toDate(due_at_to) < toDate(p_to), false))
        GROUP BY dossier_id
    ) AS f ON o.dossier_id = f.dossier_id
);

-- `bi_delays_caused` (016) gains `in_progress_overdue_caused`: per department, the dossiers in
-- progress and overdue at `period_to` whose delay its steps caused. Both columns now count
-- the rows of `bi_overdue_causes`, a dossier several departments delayed
-- (`steps.delay_cause: every`) for each.
CREATE OR REPLACE VIEW bi_delays_caused AS
SELECT
    unit_code,
    countIf(overdue = 'resolved_overdue') AS resolved_overdue_caused,
    countIf(overdue = 'in_progress_overdue') AS in_progress_overdue_caused
FROM
(
    SELECT overdue, caused_by
    FROM bi_overdue_causes(period_from = {period_from:String}, period_to = {period_to:String})
    WHERE notEmpty(caused_by)
)
ARRAY JOIN caused_by AS unit_code
GROUP BY unit_code
ORDER BY unit_code;

-- `bi_report` (016) gains the same column, from `bi_delays_caused`; nothing else changes.
CREATE OR REPLACE VIEW bi_report AS
WITH
    toDateTime64({period_from:String}, 3, 'Asia/Ho_Chi_Minh') AS p_from,
    toDateTime64({period_to:String}, 3, 'Asia/Ho_Chi_Minh') AS p_to
SELECT
    unit_code,
    sum(dossiers) AS dossiers,
    sum(carried_over) AS carried_over,
    sum(received) AS received,
    sum(received_online) AS received_online,
    sum(received_in_person) AS received_in_person,
    sum(received_postal) AS received_postal,
    sum(resolved_early) AS resolved_early,
    sum(resolved_on_time) AS resolved_on_time,
    sum(resolved_overdue) AS resolved_overdue,
    sum(withdrawn) AS withdrawn,
    sum(stopped) AS stopped,
    sum(in_progress) AS in_progress,
    sum(in_progress_overdue) AS in_progress_overdue,
    sum(apologies) AS apologies,
    sum(unknown_procedure) AS unknown_procedure,
    if(resolved_early + resolved_on_time + resolved_overdue = 0, NULL,
       round((resolved_early + resolved_on_time)
             / (resolved_early + resolved_on_time + resolved_overdue), 4)) AS on_time_rate,
    if(received = 0, NULL, round(received_online / received, 4)) AS online_rate,
    sum(supplement_requests_late) AS supplement_requests_late,
    sum(apologies_late) AS apologies_late,
    sum(resolved_overdue_no_apology) AS resolved_overdue_no_apology,
    sum(in_progress_overdue_no_apology) AS in_progress_overdue_no_apology,
    sum(resolved_overdue_caused) AS resolved_overdue_caused,
    sum(in_progress_overdue_caused) AS in_progress_overdue_caused
FROM
(
    SELECT
        ifNull(unit_code, '') AS unit_code,
        count() AS dossiers,
        countIf(received_at < p_from AND (closed_at IS NULL OR closed_at >= p_from)) AS carried_over,
        countIf(received_at >= p_from) AS received,
        countIf(received_at >= p_from AND channel = 'ONLINE') AS received_online,
        countIf(received_at >= p_from AND channel = 'IN_PERSON') AS received_in_person,
        countIf(received_at >= p_from AND channel = 'POSTAL') AS received_postal,
        countIf(closed_in_period AND resolved AND outcome = 'EARLY') AS resolved_early,
        countIf(closed_in_period AND resolved AND outcome = 'ON_TIME') AS resolved_on_time,
        countIf(closed_in_period AND resolved AND outcome = 'OVERDUE') AS resolved_overdue,
        countIf(closed_in_period AND status = 'WITHDRAWN') AS withdrawn,
        countIf(closed_in_period AND status = 'STOPPED') AS stopped,
        countIf(open_at_to) AS in_progress,
        countIf(overdue_at_to) AS in_progress_overdue,
        toUInt64(0) AS apologies,
        countIf(open_at_to AND procedure_unknown) AS unknown_procedure,
        toUInt64(0) AS supplement_requests_late,
        toUInt64(0) AS apologies_late,
        countIf(closed_in_period AND resolved AND outcome = 'OVERDUE' AND never_apologised)
            AS resolved_overdue_no_apology,
        countIf(overdue_at_to AND NOT apologised_by_to) AS in_progress_overdue_no_apology,
        toUInt64(0) AS resolved_overdue_caused,
        toUInt64(0) AS in_progress_overdue_caused
    FROM
    (
        SELECT
            s.unit_code AS unit_code, channel, received_at, closed_at, status, outcome,
            procedure_unknown,
            -- named apart: `apologies` is a column of the outer query too
            apologies = 0 AS never_apologised,
            status IN ('RESOLVED', 'RETURNED') AS resolved,
            closed_at >= p_from AND closed_at < p_to AS closed_in_period,
            closed_at IS NULL OR closed_at >= p_to AS open_at_to,
            -- the latest deadline is the one in force at `to` unless it resumed since
            if(r.dossier_id = '', s.due_at, tupleElement(r.due_at_then, 1)) AS due_at_to,
            open_at_to AND ifNull(toDate(due_at_to) < toDate(p_to), false) AS overdue_at_to,
            s.dossier_id IN (SELECT dossier_id FROM dossier_milestones
                             WHERE type = 'APOLOGY_ISSUED' AND occurred_at < p_to)
                AS apologised_by_to
        FROM
        (
            SELECT
                dossier_id, unit_code, channel, received_at, closed_at, status, outcome,
                procedure_unknown, apologies, due_at
            FROM dossier_state FINAL
            WHERE received_at < p_to
        ) AS s
        LEFT JOIN
        (
            -- the dossiers that resumed since `to`: their deadline then, from their milestones
            -- (a tuple, so that a NULL deadline is not skipped by argMax)
            SELECT dossier_id, argMax(tuple(due_at), position) AS due_at_then
            FROM dossier_milestones FINAL
            WHERE type IN ('RECEIVED', 'RESUMED') AND occurred_at < p_to
                AND dossier_id IN (SELECT dossier_id FROM dossier_milestones
                                   WHERE type = 'RESUMED' AND occurred_at >= p_to)
            GROUP BY dossier_id
        ) AS r ON s.dossier_id = r.dossier_id
    )
    GROUP BY unit_code

    UNION ALL

    SELECT
        ifNull(unit_code, '') AS unit_code, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        count(), 0, 0, 0, 0, 0, 0, 0
    FROM dossier_milestones FINAL
    WHERE type = 'APOLOGY_ISSUED' AND occurred_at >= p_from AND occurred_at < p_to
        AND unit_code IS NOT NULL
    GROUP BY unit_code

    UNION ALL

    SELECT
        ifNull(unit_code, '') AS unit_code, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        countIf(type = 'SUPPLEMENT_REQUESTED' AND supplement_request_late),
        countIf(type = 'APOLOGY_ISSUED' AND apology_late), 0, 0, 0, 0
    FROM dossier_compliance_events FINAL
    WHERE occurred_at >= p_from AND occurred_at < p_to AND unit_code IS NOT NULL
        AND (supplement_request_late OR apology_late)
    GROUP BY unit_code

    UNION ALL

    SELECT unit_code, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        resolved_overdue_caused, in_progress_overdue_caused
    FROM bi_delays_caused(period_from = {period_from:String}, period_to = {period_to:String})
)
GROUP BY unit_code;
