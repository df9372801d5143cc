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

-- The whole period report in one view, reading `dossier_state FINAL` once where
-- `bi_period_report` and `bi_compliance_report` read it four times (their dossiers, the
-- dossiers that resumed since `to`, the overdue without an apology, `dossiers_open_at`):
--     SELECT * FROM bi_report(period_from = '2026-01-01', period_to = '2027-01-01')
-- A row per receiving unit with a dossier received before `to` (`dossiers`, the others 0
-- for a department that only caused delays), and per department with
-- `resolved_overdue_caused`. The figures are those of the two views, which now read this
-- one, part by part:
-- 1. every dossier received before `to`, one row each, its state at `to` read off its fixed
--    milestones (007): the deadline in force at `to` is the latest unless the dossier
--    resumed since, then that of its last RECEIVED/RESUMED milestone before `to` (joined
--    from the few such dossiers; none for a current period), as `dossiers_open_at` (011)
--    reads it; whether it had an apology by `to` from the APOLOGY_ISSUED milestones;
-- 2. apologies issued in the period, for the receiving unit;
-- 3. late supplement requests and late first apologies made in the period (011);
-- 4. who caused the delay (above).
-- The sets of dossiers that resumed since `to` and that apologised before it need no FINAL:
-- an event's type and instant are the same in every version of its fact.
CREATE VIEW IF NOT EXISTS bi_report AS
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
    sum(resolved_overdue_caused) AS resolved_overdue_caused
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
        toUInt64(0) AS resolved_overdue_caused
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
        count(), 0, 0, 0, 0, 0, 0
    FROM dossier_milestones FINAL
    WHERE type = 'APOLOGY_ISSUED' AND occurred_at >= p_from AND occurred_at < p_to
        AND unit_code IS NOT NULL
    GROUP BY unit_code

    UNION ALL

    SELECT
        ifNull(unit_code, '') AS unit_code, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        countIf(type = 'SUPPLEMENT_REQUESTED' AND supplement_request_late),
        countIf(type = 'APOLOGY_ISSUED' AND apology_late), 0, 0, 0
    FROM dossier_compliance_events FINAL
    WHERE occurred_at >= p_from AND occurred_at < p_to AND unit_code IS NOT NULL
        AND (supplement_request_late OR apology_late)
    GROUP BY unit_code

    UNION ALL

    SELECT unit_code, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        resolved_overdue_caused
    FROM bi_delays_caused(period_from = {period_from:String}, period_to = {period_to:String})
)
GROUP BY unit_code;

-- The two views BI tools read keep their columns and rows, now from `bi_report`.
CREATE OR REPLACE VIEW bi_period_report AS
SELECT
    unit_code, carried_over, received, received_online, received_in_person, received_postal,
    resolved_early, resolved_on_time, resolved_overdue, withdrawn, stopped, in_progress,
    in_progress_overdue, apologies, unknown_procedure, on_time_rate, online_rate
FROM bi_report(period_from = {period_from:String}, period_to = {period_to:String})
WHERE dossiers > 0;

CREATE OR REPLACE VIEW bi_compliance_report AS
SELECT
    unit_code, supplement_requests_late, apologies_late, resolved_overdue_no_apology,
    in_progress_overdue_no_apology
FROM bi_report(period_from = {period_from:String}, period_to = {period_to:String})
WHERE dossiers > 0 AND supplement_requests_late + apologies_late
    + resolved_overdue_no_apology + in_progress_overdue_no_apology > 0;
