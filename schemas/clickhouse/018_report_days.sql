-- The period report of whole local days, as `dossierflow report` and `GET /report` ask for it,
-- at a lower cost than `bi_report` (issue 21; docs/benchmarks.md, "Report").
--
-- A period of the command runs from a local midnight to a local midnight, so every test the
-- report makes of a dossier's milestones against `from` and `to` is a test of local dates:
-- received before `to` iff the day of receipt is before the day of `to`, and so on;
-- `in_progress_overdue` already compares dates. `dossier_report_days` keeps, per dossier,
-- the columns `bi_report` reads from `dossier_state`, with the instants as local dates (a
-- missing one as the last Date, 2149-06-06, which no period reaches) and no NULLs: a third of
-- the bytes to read and compare. It is fed like `dossier_state` (002): the fact with the
-- highest (version, position) wins, re-delivered facts collapse; read with FINAL.
CREATE TABLE IF NOT EXISTS dossier_report_days
(
    dossier_id String,
    state_version UInt64,
    unit_code LowCardinality(String),
    channel LowCardinality(String),
    status LowCardinality(String),
    outcome LowCardinality(String),
    received_day Date,
    closed_day Date,
    due_day Date,
    procedure_unknown Bool,
    apologies UInt16
)
ENGINE = ReplacingMergeTree(state_version)
ORDER BY dossier_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS dossier_report_days_mv TO dossier_report_days AS
SELECT
    dossier_id,
    bitShiftLeft(toUInt64(version), 32) + position AS state_version,
    ifNull(unit_code, '') AS unit_code,
    ifNull(channel, '') AS channel,
    status,
    ifNull(outcome, '') AS outcome,
    ifNull(toDate(received_at), toDate('2149-06-06')) AS received_day,
    ifNull(toDate(closed_at), toDate('2149-06-06')) AS closed_day,
    ifNull(toDate(due_at), toDate('2149-06-06')) AS due_day,
    procedure_unknown,
    apologies
FROM dossier_facts;

-- Facts stored before this migration; a re-run inserts rows that FINAL collapses.
INSERT INTO dossier_report_days
SELECT
    dossier_id,
    bitShiftLeft(toUInt64(version), 32) + position AS state_version,
    ifNull(unit_code, '') AS unit_code,
    ifNull(channel, '') AS channel,
    status,
    ifNull(outcome, '') AS outcome,
    ifNull(toDate(received_at), toDate('2149-06-06')) AS received_day,
    ifNull(toDate(closed_at), toDate('2149-06-06')) AS closed_day,
    ifNull(toDate(due_at), toDate('2149-06-06')) AS due_day,
    procedure_unknown,
    apologies
FROM dossier_facts;

-- `bi_report` (016) for whole local days, the same rows and figures:
--     SELECT * FROM bi_report_days(period_from = '2026-01-01', period_to = '2027-01-01')
-- Besides the narrower table, the deadline at `to` of the dossiers that resumed since is
-- cheaper: their RECEIVED and RESUMED milestones are picked by `dossier_id` (PREWHERE, before
-- the other columns are read) and each event's newest version is taken by argMax(…, version)
-- among the few rows left, which is what FINAL keeps (an event's type and instant are the
-- same in every version of its fact), instead of merging every such milestone with FINAL.
CREATE VIEW IF NOT EXISTS bi_report_days AS
WITH
    toDate({period_from:String}) AS d_from,
    toDate({period_to:String}) AS d_to,
    toDateTime64(d_from, 3, 'Asia/Ho_Chi_Minh') AS p_from,
    toDateTime64(d_to, 3, 'Asia/Ho_Chi_Minh') AS p_to
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
        unit_code,
        count() AS dossiers,
        countIf(received_day < d_from AND closed_day >= d_from) AS carried_over,
        countIf(received_day >= d_from) AS received,
        countIf(received_day >= d_from AND channel = 'ONLINE') AS received_online,
        countIf(received_day >= d_from AND channel = 'IN_PERSON') AS received_in_person,
        countIf(received_day >= d_from AND channel = 'POSTAL') AS received_postal,
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
        countIf(overdue_at_to AND dossier_id NOT IN (
            SELECT dossier_id FROM dossier_milestones
            WHERE type = 'APOLOGY_ISSUED' AND occurred_at < p_to
        )) AS in_progress_overdue_no_apology,
        toUInt64(0) AS resolved_overdue_caused,
        toUInt64(0) AS in_progress_overdue_caused
    FROM
    (
        SELECT
            s.dossier_id AS dossier_id, unit_code, channel, received_day, closed_day, status,
            outcome,
            procedure_unknown,
            -- named apart: `apologies` is a column of the outer query too
            apologies = 0 AS never_apologised,
            status IN ('RESOLVED', 'RETURNED') AS resolved,
            closed_day >= d_from AND closed_day < d_to AS closed_in_period,
            closed_day >= d_to AS open_at_to,
            -- the latest deadline is the one in force at `to` unless it resumed since
            open_at_to AND if(r.dossier_id = '', due_day, r.due_day_then) < d_to AS overdue_at_to
        FROM
        (
            SELECT
                dossier_id, unit_code, channel, received_day, closed_day, status, outcome,
                procedure_unknown, apologies, due_day
            FROM dossier_report_days FINAL
            WHERE received_day < d_to
        ) AS s
        LEFT JOIN
        (
            -- the dossiers that resumed since `to`: the deadline of their last RECEIVED or
            -- RESUMED before `to` (by position), each event in its newest version
            SELECT
                dossier_id,
                argMax(ifNull(toDate(tupleElement(event, 1)), toDate('2149-06-06')),
                       tupleElement(event, 2)) AS due_day_then
            FROM
            (
                SELECT dossier_id, argMax(tuple(due_at, position), version) AS event
                FROM dossier_milestones
                PREWHERE dossier_id IN (SELECT dossier_id FROM dossier_milestones
                                        WHERE type = 'RESUMED' AND occurred_at >= p_to)
                WHERE type IN ('RECEIVED', 'RESUMED') AND occurred_at < p_to
                GROUP BY type, dossier_id, event_id
            )
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
