-- The period report of whole local days without reading `dossier_state` (issue 21;
-- docs/benchmarks.md, "Report"). Since 017, `bi_report_days` (018) counted
-- `in_progress_overdue_caused` through `bi_delays_caused` and `dossiers_overdue_at`, which
-- read `dossier_state FINAL` twice and joined every dossier to the deadlines of those that
-- resumed since `to`: more than half of the query. Here the same figures come from
-- `dossier_report_days`, which gains what 017's view reads off `dossier_state`, as local
-- dates like its other instants (a missing one as the last Date, 2149-06-06):
-- `as_of_day` (the day of the dossier's last event), the departments that caused the delay
-- of an open dossier and the day from which the later answer holds
-- (`open_delay_changes_day`; T > changes_at iff its day is before T's for a T at midnight).
ALTER TABLE dossier_report_days ADD COLUMN IF NOT EXISTS as_of_day Date DEFAULT toDate('2149-06-06');
ALTER TABLE dossier_report_days ADD COLUMN IF NOT EXISTS open_delay_caused_by Array(String) DEFAULT [];
ALTER TABLE dossier_report_days ADD COLUMN IF NOT EXISTS
    open_delay_caused_by_later Array(String) DEFAULT [];
ALTER TABLE dossier_report_days ADD COLUMN IF NOT EXISTS
    open_delay_changes_day Date DEFAULT toDate('2149-06-06');

-- The view is recreated to carry them; run migrations with the sink stopped (as for 006).
DROP VIEW IF EXISTS dossier_report_days_mv;

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
    apologies,
    toDate(occurred_at) AS as_of_day,
    open_delay_caused_by,
    open_delay_caused_by_later,
    ifNull(toDate(open_delay_changes_at), toDate('2149-06-06')) AS open_delay_changes_day
FROM dossier_facts;

-- The rows stored before this migration carry the defaults, which send a dossier to the
-- exact but slower reading off its facts (`as_of_day` after any `to`). Every fact is inserted
-- again: of two rows with the same `state_version` FINAL keeps the one inserted last (the
-- engine's rule for equal versions), so these replace them; a re-run inserts rows that FINAL
-- collapses.
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
    apologies,
    toDate(occurred_at) AS as_of_day,
    open_delay_caused_by,
    open_delay_caused_by_later,
    ifNull(toDate(open_delay_changes_at), toDate('2149-06-06')) AS open_delay_changes_day
FROM dossier_facts;

-- The two copies of every row merged now: FINAL over two parts of the whole table costs the
-- report several times what it costs over one (a background merge would get there later).
OPTIMIZE TABLE dossier_report_days FINAL;

-- Internal: the dossiers open at a local midnight `period_to` (a date) with events since,
-- each as of then, off its last fact before `to`: the deadline in force then (`due_day`),
-- the status, and the departments that caused the delay, judged then (017). As in 017, of a
-- dossier's facts before `to` the one of the newest history at the last position before
-- `to` has the highest (version, position). The facts are picked by `dossier_id` (PREWHERE)
-- and from the month of the earliest receipt among these dossiers on: the partitions are
-- months of `occurred_at`, and a dossier's facts from its RECEIVED on occurred since its
-- `received_at` (a history is in time order).
CREATE VIEW IF NOT EXISTS dossiers_open_since AS
WITH
    toDate({period_to:String}) AS d_to,
    toDateTime64(d_to, 3, 'Asia/Ho_Chi_Minh') AS p_to
SELECT
    dossier_id,
    ifNull(toDate(due_at), toDate('2149-06-06')) AS due_day,
    status,
    if(open_delay_changes_at IS NOT NULL AND p_to > open_delay_changes_at,
       open_delay_caused_by_later, open_delay_caused_by) AS caused_by
FROM dossier_facts
PREWHERE dossier_id IN (SELECT dossier_id FROM dossier_report_days FINAL
                        WHERE as_of_day >= d_to AND received_day < d_to AND closed_day >= d_to)
WHERE occurred_at < p_to
    AND occurred_at >= toDateTime64((SELECT min(received_day) FROM dossier_report_days FINAL
                                     WHERE as_of_day >= d_to AND received_day < d_to
                                         AND closed_day >= d_to),
                                    3, 'Asia/Ho_Chi_Minh')
ORDER BY dossier_id, version DESC, position DESC
LIMIT 1 BY dossier_id;

-- `bi_report_days` (018), the same rows and figures, `dossier_report_days` read once. The
-- dossiers with events since `to` take the deadline in force then and the departments that
-- caused their delay off `dossiers_open_since`, the others off their row. Each receiving
-- unit's row carries those departments, each once per dossier in progress and overdue at
-- `to` as 017's `dossiers_overdue_at` judges it (`caused`); the outer query counts them for
-- each department (`in_progress_overdue_caused`), as rows of their own (`own` false).
CREATE OR REPLACE VIEW bi_report_days AS
WITH
    toDate({period_from:String}) AS d_from,
    toDate({period_to:String}) AS d_to,
    toDateTime64(d_from, 3, 'Asia/Ho_Chi_Minh') AS p_from,
    toDateTime64(d_to, 3, 'Asia/Ho_Chi_Minh') AS p_to
SELECT
    unit_code,
    sumIf(dossiers, own) AS dossiers,
    sumIf(carried_over, own) AS carried_over,
    sumIf(received, own) AS received,
    sumIf(received_online, own) AS received_online,
    sumIf(received_in_person, own) AS received_in_person,
    sumIf(received_postal, own) AS received_postal,
    sumIf(resolved_early, own) AS resolved_early,
    sumIf(resolved_on_time, own) AS resolved_on_time,
    sumIf(resolved_overdue, own) AS resolved_overdue,
    sumIf(withdrawn, own) AS withdrawn,
    sumIf(stopped, own) AS stopped,
    sumIf(in_progress, own) AS in_progress,
    sumIf(in_progress_overdue, own) AS in_progress_overdue,
    sumIf(apologies, own) AS apologies,
    sumIf(unknown_procedure, own) AS unknown_procedure,
    if(resolved_early + resolved_on_time + resolved_overdue = 0, NULL,
       round((resolved_early + resolved_on_time)
             / (resolved_early + resolved_on_time + resolved_overdue), 4)) AS on_time_rate,
    if(received = 0, NULL, round(received_online / received, 4)) AS online_rate,
    sumIf(supplement_requests_late, own) AS supplement_requests_late,
    sumIf(apologies_late, own) AS apologies_late,
    sumIf(resolved_overdue_no_apology, own) AS resolved_overdue_no_apology,
    sumIf(in_progress_overdue_no_apology, own) AS in_progress_overdue_no_apology,
    sumIf(resolved_overdue_caused, own) AS resolved_overdue_caused,
    countIf(NOT own) AS in_progress_overdue_caused
FROM
(
    SELECT
        unit_code AS receiving_unit,
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
        groupArrayArray(caused_at_to) AS caused
    FROM
    (
        SELECT
            dossier_id, unit_code, channel, received_day, closed_day, status, outcome,
            procedure_unknown, caused_at_to,
            -- named apart: `apologies` is a column of the outer query too
            apologies = 0 AS never_apologised,
            status IN ('RESOLVED', 'RETURNED') AS resolved,
            closed_day >= d_from AND closed_day < d_to AS closed_in_period,
            closed_day >= d_to AS open_at_to,
            open_at_to AND due_day_to < d_to AS overdue_at_to
        FROM
        (
            SELECT
                dossier_id, unit_code, channel, received_day, closed_day, status, outcome,
                procedure_unknown, apologies, due_day AS due_day_to,
                if(status IN ('OPEN', 'PAUSED') AND due_day < d_to,
                   if(open_delay_changes_day < d_to, open_delay_caused_by_later,
                      open_delay_caused_by),
                   []) AS caused_at_to
            FROM dossier_report_days FINAL
            WHERE received_day < d_to AND as_of_day < d_to

            UNION ALL

            SELECT
                s.dossier_id, unit_code, channel, received_day, closed_day, s.status, outcome,
                procedure_unknown, apologies, if(o.dossier_id = '', s.due_day, o.due_day),
                if(o.status IN ('OPEN', 'PAUSED') AND o.due_day < d_to, o.caused_by, [])
            FROM
            (
                SELECT
                    dossier_id, unit_code, channel, received_day, closed_day, status,
                    outcome, procedure_unknown, apologies, due_day
                FROM dossier_report_days FINAL
                WHERE received_day < d_to AND as_of_day >= d_to
            ) AS s
            LEFT JOIN dossiers_open_since(period_to = {period_to:String}) AS o
                ON s.dossier_id = o.dossier_id
        )
    )
    GROUP BY unit_code

    UNION ALL

    SELECT
        ifNull(unit_code, ''), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        count(), 0, 0, 0, 0, 0, 0, []
    FROM dossier_milestones FINAL
    WHERE type = 'APOLOGY_ISSUED' AND occurred_at >= p_from AND occurred_at < p_to
        AND unit_code IS NOT NULL
    GROUP BY unit_code

    UNION ALL

    SELECT
        ifNull(unit_code, ''), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        countIf(type = 'SUPPLEMENT_REQUESTED' AND supplement_request_late),
        countIf(type = 'APOLOGY_ISSUED' AND apology_late), 0, 0, 0, []
    FROM dossier_compliance_events FINAL
    WHERE occurred_at >= p_from AND occurred_at < p_to AND unit_code IS NOT NULL
        AND (supplement_request_late OR apology_late)
    GROUP BY unit_code

    UNION ALL

    SELECT unit_code, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, count(), []
    FROM dossier_resolutions FINAL
    ARRAY JOIN delay_caused_by AS unit_code
    WHERE notEmpty(delay_caused_by) AND occurred_at >= p_from AND occurred_at < p_to
    GROUP BY unit_code
)
ARRAY JOIN
    arrayConcat([receiving_unit], caused) AS unit_code,
    arrayConcat([true], arrayMap(unit -> false, caused)) AS own
GROUP BY unit_code;
