-- Compliance with the one-stop limits (rules/compliance.py; sources in docs/compliance.md).
-- Backward compatible: two columns with defaults, a new table fed from the fact log, a new
-- view; nothing existing changes. Facts stored before this migration carry `false` in both
-- flags (they were never judged): `dossierflow replay --store` recomputes them.
--
-- Each fact says whether its event broke a limit: a SUPPLEMENT_REQUESTED made after the last
-- day the catalogue's `compliance.supplement_request_days` allow after reception; the first
-- APOLOGY_ISSUED made after the last day to apologise in time.
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS supplement_request_late Bool DEFAULT false;
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS apology_late Bool DEFAULT false;

-- Every SUPPLEMENT_REQUESTED and APOLOGY_ISSUED fact, late or not: a re-issued history (a late
-- event moved the deadline) may turn a flag off, and the newer version must replace the row.
-- Keyed by the event with `version`, like dossier_milestones (006); read with FINAL. `unit_code`
-- is the receiving unit known after the event (NULL before RECEIVED).
CREATE TABLE IF NOT EXISTS dossier_compliance_events
(
    dossier_id String,
    event_id String,
    type LowCardinality(String),
    occurred_at DateTime64(3, 'Asia/Ho_Chi_Minh'),
    version UInt32,
    unit_code LowCardinality(Nullable(String)),
    supplement_request_late Bool,
    apology_late Bool
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (type, dossier_id, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS dossier_compliance_events_mv TO dossier_compliance_events AS
SELECT dossier_id, event_id, type, occurred_at, version, unit_code,
    supplement_request_late, apology_late
FROM dossier_facts
WHERE type IN ('SUPPLEMENT_REQUESTED', 'APOLOGY_ISSUED');

-- Facts stored before this migration; a re-run inserts rows that FINAL collapses.
INSERT INTO dossier_compliance_events
SELECT dossier_id, event_id, type, occurred_at, version, unit_code,
    supplement_request_late, apology_late
FROM dossier_facts
WHERE type IN ('SUPPLEMENT_REQUESTED', 'APOLOGY_ISSUED');

-- Internal: the dossiers open at `period_to` (a local instant), one row each, with the deadline
-- in force then: the latest one, unless the dossier resumed since (only RESUMED moves a
-- deadline), then the last RECEIVED/RESUMED milestone before `period_to`, as bi_period_report
-- reads it; and whether an apology had been issued by then. The two views below read it.
CREATE VIEW IF NOT EXISTS dossiers_open_at AS
WITH toDateTime64({period_to:String}, 3, 'Asia/Ho_Chi_Minh') AS p_to
SELECT
    s.dossier_id AS dossier_id,
    ifNull(s.unit_code, '') AS unit_code,
    if(r.dossier_id = '', s.due_at, tupleElement(r.due_at_then, 1)) AS due_at_to,
    s.rescheduled_due_at AS rescheduled_due_at,
    s.dossier_id IN (SELECT dossier_id FROM dossier_milestones
                     WHERE type = 'APOLOGY_ISSUED' AND occurred_at < p_to) AS apologised_by_to
FROM
(
    SELECT dossier_id, unit_code, due_at, rescheduled_due_at FROM dossier_state FINAL
    WHERE received_at < p_to AND (closed_at IS NULL OR closed_at >= p_to)
) AS s
LEFT JOIN
(
    -- a tuple, so that a NULL deadline is not skipped by argMax
    SELECT dossier_id, argMax(tuple(due_at), position) AS due_at_then
    FROM dossier_milestones FINAL
    WHERE type IN ('RECEIVED', 'RESUMED') AND occurred_at < p_to
        AND dossier_id IN (SELECT dossier_id FROM dossier_milestones
                           WHERE type = 'RESUMED' AND occurred_at >= p_to)
    GROUP BY dossier_id
) AS r ON s.dossier_id = r.dossier_id;

-- The compliance columns of the period report for [period_from, period_to) (local instants, as
-- bi_period_report takes them), a row per receiving unit with any of them:
--     SELECT * FROM bi_compliance_report(period_from = '2026-01-01', period_to = '2026-07-01')
--   supplement_requests_late: late SUPPLEMENT_REQUESTED made in the period;
--   apologies_late: late first apologies issued in the period;
--   resolved_overdue_no_apology: of resolved_overdue, the dossiers that never had an apology;
--   in_progress_overdue_no_apology: of in_progress_overdue, those without an apology before
--     `period_to` (the deadline in force at `period_to`, as bi_period_report reads it).
-- Overdue here is the report's own reading (local dates, the original deadline): the law keeps
-- the first appointment, the apology does not make a late dossier on time.
CREATE VIEW IF NOT EXISTS bi_compliance_report AS
WITH
    toDateTime64({period_from:String}, 3, 'Asia/Ho_Chi_Minh') AS p_from,
    toDateTime64({period_to:String}, 3, 'Asia/Ho_Chi_Minh') AS p_to
SELECT
    unit_code,
    sum(supplement_requests_late) AS supplement_requests_late,
    sum(apologies_late) AS apologies_late,
    sum(resolved_overdue_no_apology) AS resolved_overdue_no_apology,
    sum(in_progress_overdue_no_apology) AS in_progress_overdue_no_apology
FROM
(
    SELECT
        ifNull(unit_code, '') AS unit_code,
        countIf(type = 'SUPPLEMENT_REQUESTED' AND supplement_request_late)
            AS supplement_requests_late,
        countIf(type = 'APOLOGY_ISSUED' AND apology_late) AS apologies_late,
        toUInt64(0) AS resolved_overdue_no_apology,
        toUInt64(0) AS in_progress_overdue_no_apology
    FROM dossier_compliance_events FINAL
    WHERE occurred_at >= p_from AND occurred_at < p_to AND unit_code IS NOT NULL
        AND (supplement_request_late OR apology_late)
    GROUP BY unit_code

    UNION ALL

    SELECT
        ifNull(unit_code, '') AS unit_code,
        0, 0,
        countIf(closed_at >= p_from AND closed_at < p_to AND status IN ('RESOLVED', 'RETURNED')
                AND outcome = 'OVERDUE' AND apologies = 0),
        0
    FROM dossier_state FINAL
    WHERE received_at < p_to
    GROUP BY unit_code

    UNION ALL

    SELECT unit_code, 0, 0, 0,
        countIf(toDate(due_at_to) < toDate(p_to) AND NOT apologised_by_to)
    FROM dossiers_open_at(period_to = {period_to:String})
    GROUP BY unit_code
)
GROUP BY unit_code
HAVING supplement_requests_late + apologies_late + resolved_overdue_no_apology
    + in_progress_overdue_no_apology > 0;

-- The outcome classes of the period report under a province's chosen reading (rules/readings.py,
-- docs/domain.md "Two readings"), a row per receiving unit:
--     SELECT * FROM bi_period_outcomes(period_from = '2026-01-01', period_to = '2026-07-01',
--                                      reading = 'instant', appointment = 'rescheduled')
--   reading 'date': the lifecycle's classes (local dates: early before the appointment's date,
--     on time on it, overdue after it); 'instant': overdue iff resolved after the appointment
--     instant, else early or on time by date as before.
--   appointment 'original': the deadline of the receipt slip (in force when resolved; the law
--     keeps it after an apology); 'rescheduled': the apology's new date when there was one, as
--     the national portal compares with the synced NgayHenTra.
-- `in_progress_overdue` depends on the appointment only: at a local midnight `to`, a date
-- before `to`'s and an instant before `to` are the same thing.
CREATE VIEW IF NOT EXISTS bi_period_outcomes AS
WITH
    toDateTime64({period_from:String}, 3, 'Asia/Ho_Chi_Minh') AS p_from,
    toDateTime64({period_to:String}, 3, 'Asia/Ho_Chi_Minh') AS p_to,
    {reading:String} AS p_reading,
    {appointment:String} = 'rescheduled' AS p_rescheduled
SELECT
    unit_code,
    sum(resolved_early) AS resolved_early,
    sum(resolved_on_time) AS resolved_on_time,
    sum(resolved_overdue) AS resolved_overdue,
    sum(in_progress_overdue) AS in_progress_overdue
FROM
(
    SELECT
        ifNull(unit_code, '') AS unit_code,
        countIf(resolved_in_period AND class = 'EARLY') AS resolved_early,
        countIf(resolved_in_period AND class = 'ON_TIME') AS resolved_on_time,
        countIf(resolved_in_period AND class = 'OVERDUE') AS resolved_overdue,
        toUInt64(0) AS in_progress_overdue
    FROM
    (
        SELECT
            dossier_id, unit_code,
            closed_at >= p_from AND closed_at < p_to AND status IN ('RESOLVED', 'RETURNED')
                AND due_at IS NOT NULL AS resolved_in_period,
            -- a resolved dossier's apology came before its resolution
            if(p_rescheduled AND rescheduled_due_at IS NOT NULL, rescheduled_due_at, due_at)
                AS appointment_at,
            multiIf(
                p_reading = 'instant' AND resolved_at > appointment_at, 'OVERDUE',
                toDate(resolved_at) < toDate(appointment_at), 'EARLY',
                toDate(resolved_at) = toDate(appointment_at), 'ON_TIME',
                'OVERDUE') AS class
        FROM dossier_state FINAL
        WHERE received_at < p_to
    )
    GROUP BY unit_code

    UNION ALL

    SELECT unit_code, 0, 0, 0,
        countIf(toDate(if(p_rescheduled AND apologised_by_to, rescheduled_due_at, due_at_to))
                < toDate(p_to))
    FROM dossiers_open_at(period_to = {period_to:String})
    GROUP BY unit_code
)
GROUP BY unit_code;
