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
-- Backward compatible: new columns with defaults, new views, two views with a new column.
-- Facts stored before this migration carry no answer: an open dossier counts for nobody until
-- its next event (or a `replay --store` of its history).
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS open_delay_caused_by Array(String) DEFAULT [];
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS
    open_delay_caused_by_later Array(String) DEFAULT [];
ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS
    open_delay_changes_at Nullable(DateTime64(3, 'Asia/Ho_Chi_Minh'));

-- `dossier_state` (002, 006) carries the same three columns, so the state of a dossier with no
-- event since T is read off its one row. The view is recreated to carry them; run
-- migrations with the sink stopped (as for 006).
ALTER TABLE dossier_state ADD COLUMN IF NOT EXISTS open_delay_caused_by Array(String) DEFAULT [];
ALTER TABLE dossier_state ADD COLUMN IF NOT EXISTS
    open_delay_caused_by_later Array(String) DEFAULT [];
ALTER TABLE dossier_state ADD COLUMN IF NOT EXISTS
    open_delay_changes_at Nullable(DateTime64(3, 'Asia/Ho_Chi_Minh'));

DROP VIEW IF EXISTS dossier_state_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS dossier_state_mv TO dossier_state AS
SELECT
    dossier_id,
    bitShiftLeft(toUInt64(version), 32) + position AS state_version,
    event_id AS last_event_id,
    type AS last_event_type,
    occurred_at AS as_of,
    status,
    unit_code,
    handling_unit_code,
    procedure_code,
    sector_code,
    channel,
    online_level,
    received_at,
    due_at,
    rescheduled_due_at,
    resolved_at,
    closed_at,
    outcome,
    apologies,
    procedure_unknown,
    open_delay_caused_by,
    open_delay_caused_by_later,
    open_delay_changes_at
FROM dossier_facts;

-- Internal: the dossiers in progress and overdue at `period_to` (a local instant), one row
-- each, with the departments that caused the delay, judged then: open or paused at T with
-- the deadline in force then on an earlier day than T's, as `bi_report` counts
-- `in_progress_overdue`. A dossier with no event since T is read off `dossier_state`; one
-- with events since (a past period) off its last fact before T, whose deadline is the one in
-- force at T (only RESUMED moves it, and its fact carries the new one). Two views below
-- read it.
CREATE VIEW IF NOT EXISTS dossiers_overdue_at AS
WITH toDateTime64({period_to:String}, 3, 'Asia/Ho_Chi_Minh') AS p_to
SELECT
    dossier_id, unit_code, procedure_code, due_at,
    if(changes_at IS NOT NULL AND p_to > changes_at, caused_by_later, caused_by_then)
        AS caused_by
FROM
(
    SELECT
        dossier_id, ifNull(unit_code, '') AS unit_code,
        ifNull(procedure_code, '') AS procedure_code, due_at,
        open_delay_caused_by AS caused_by_then, open_delay_caused_by_later AS caused_by_later,
        open_delay_changes_at AS changes_at
    FROM dossier_state FINAL
    WHERE as_of < p_to AND status IN ('OPEN', 'PAUSED')
        AND ifNull(toDate(due_at) < toDate(p_to), false)

    UNION ALL

    SELECT
        dossier_id, tupleElement(last, 1), tupleElement(last, 2), tupleElement(last, 3),
        tupleElement(last, 4), tupleElement(last, 5), tupleElement(last, 6)
    FROM
    (
        -- No FINAL: of a dossier's facts before T, the one of the newest history at the last
        -- position before T has the highest (version, position). A late event re-issues the
        -- facts from its position on with a higher version, and the facts of the positions
        -- after that of T's last event all occurred from T on (a history is in time order).
        -- (A tuple, so that a NULL instant is not skipped by argMax.)
        SELECT dossier_id,
            argMax(tuple(ifNull(unit_code, ''), ifNull(procedure_code, ''), due_at,
                         open_delay_caused_by, open_delay_caused_by_later,
                         open_delay_changes_at, status), (version, position)) AS last
        FROM dossier_facts
        WHERE occurred_at < p_to
            AND dossier_id IN (SELECT dossier_id FROM dossier_state FINAL
                               WHERE as_of >= p_to AND received_at < p_to
                                   AND (closed_at IS NULL OR closed_at >= p_to))
        GROUP BY dossier_id
    )
    WHERE tupleElement(last, 7) IN ('OPEN', 'PAUSED')
        AND ifNull(toDate(tupleElement(last, 3)) < toDate(p_to), false)
);

-- One row per dossier overdue in [period_from, period_to) (local instants, e.g. '2026-03-01'):
--     SELECT * FROM bi_overdue_causes(period_from = '2026-03-01', period_to = '2026-04-01')
-- `overdue` = 'resolved_overdue' (resolved overdue in the period, as the report's
-- `resolved_overdue`, its departments from `dossier_resolutions`, 016) or
-- 'in_progress_overdue' (open at `period_to` with the date of the deadline in force then
-- before the date of `period_to`, as `in_progress_overdue`).
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

    SELECT dossier_id, 'in_progress_overdue', unit_code, procedure_code, due_at, NULL, caused_by
    FROM dossiers_overdue_at(period_to = {period_to:String})
);

-- `bi_delays_caused` (016) gains `in_progress_overdue_caused`: per department, the dossiers in
-- progress and overdue at `period_to` whose delay its steps caused. A dossier several
-- departments delayed (`steps.delay_cause: every`) counts for each of them.
CREATE OR REPLACE VIEW bi_delays_caused AS
WITH
    toDateTime64({period_from:String}, 3, 'Asia/Ho_Chi_Minh') AS p_from,
    toDateTime64({period_to:String}, 3, 'Asia/Ho_Chi_Minh') AS p_to
SELECT
    unit_code,
    toUInt64(sum(resolved)) AS resolved_overdue_caused,
    toUInt64(sum(in_progress)) AS in_progress_overdue_caused
FROM
(
    SELECT delay_caused_by AS caused_by, 1 AS resolved, 0 AS in_progress
    FROM dossier_resolutions FINAL
    WHERE notEmpty(delay_caused_by) AND occurred_at >= p_from AND occurred_at < p_to
    UNION ALL
    SELECT caused_by, 0, 1
    FROM dossiers_overdue_at(period_to = {period_to:String})
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
