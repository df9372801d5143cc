-- The BI contract: stable views for Grafana, Superset, Metabase and the built-in dashboard.
-- Column names and meanings are documented in docs/bi.md and change only by adding columns.
-- Every view removes duplicates itself (FINAL inside), so a BI tool never needs FINAL and
-- always sees what `dossierflow report` and `dossierflow replay` see. Instants are
-- DateTime64(3, 'Asia/Ho_Chi_Minh'); days are local dates in that zone.

-- One row per dossier that was received (RECEIVED accepted), in its latest known state.
CREATE VIEW IF NOT EXISTS bi_dossiers AS
SELECT
    dossier_id,
    unit_code,
    handling_unit_code,
    procedure_code,
    procedure_unknown,
    sector_code,
    channel,
    online_level,
    status,
    received_at,
    due_at,
    rescheduled_due_at,
    resolved_at,
    closed_at,
    outcome,
    apologies,
    closed_at IS NULL AS is_open,
    closed_at IS NULL AND toDate(due_at) < toDate(now64(3), 'Asia/Ho_Chi_Minh') AS is_overdue,
    as_of AS last_event_at
FROM dossier_state FINAL
WHERE received_at IS NOT NULL;

-- Per local day x receiving unit x procedure x sector x channel: what happened that day.
-- Receipts count on the day of receipt, endings on the day the dossier was closed (by how it
-- ended), apologies on the day they were issued; the dimensions are the dossier's own (fixed
-- at RECEIVED), for dossiers that were received (an apology: received by then). Summed over
-- the days of a period they equal the period report's figures.
CREATE VIEW IF NOT EXISTS bi_daily AS
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
    SELECT
        tupleElement(happened, 1) AS day,
        tupleElement(happened, 2) AS kind,
        unit_code, procedure_code, sector_code, channel
    FROM
    (
        SELECT
            unit_code, procedure_code, sector_code, channel,
            arrayJoin(arrayConcat(
                [(toDate(received_at), 'RECEIVED')],
                if(closed_at IS NULL, [],
                    [(toDate(assumeNotNull(closed_at)),
                      if(status IN ('RESOLVED', 'RETURNED'), ifNull(outcome, 'NO_OUTCOME'), status))])
            )) AS happened
        FROM dossier_state FINAL
        WHERE received_at IS NOT NULL
    )
    UNION ALL
    SELECT toDate(a.occurred_at) AS day, 'APOLOGY_ISSUED' AS kind,
        a.unit_code, s.procedure_code, s.sector_code, s.channel
    FROM
    (
        SELECT dossier_id, occurred_at, unit_code FROM dossier_milestones FINAL
        WHERE type = 'APOLOGY_ISSUED' AND unit_code IS NOT NULL
    ) AS a
    INNER JOIN
    (
        SELECT dossier_id, procedure_code, sector_code, channel FROM dossier_state FINAL
        WHERE dossier_id IN (SELECT dossier_id FROM dossier_milestones
                             WHERE type = 'APOLOGY_ISSUED' AND unit_code IS NOT NULL)
    ) AS s ON a.dossier_id = s.dossier_id
)
GROUP BY day, unit_code, procedure_code, sector_code, channel;

-- The old rollup (003) becomes the same as bi_daily, which no longer reads every fact.
CREATE OR REPLACE VIEW daily_rollup AS SELECT * FROM bi_daily;

-- The period report of DOMAIN.md for [period_from, period_to) (local instants, e.g.
-- '2025-01-01' or '2025-01-01 00:00:00'), a row per receiving unit:
--     SELECT * FROM bi_period_report(period_from = '2025-01-01', period_to = '2026-01-01')
-- `dossierflow report` reads this view. Three parts, summed per unit, none joining the
-- dossiers with anything large:
-- 1. every dossier received before `period_to`, one row each (dossier_state), its state as
--    of `period_to` read off its fixed milestones. Only RESUMED moves a deadline, so the
--    latest deadline is the one in force at `period_to` unless the dossier resumed since;
-- 2. in_progress_overdue of the dossiers open at `period_to` that resumed since (none for a
--    current period): their deadline at `period_to` from their RECEIVED/RESUMED milestones;
-- 3. apologies issued in the period by a dossier received by then, for its receiving unit.
-- The set of dossiers that resumed since needs no FINAL: an event's type and instant are the
-- same in every version of its fact.
CREATE VIEW IF NOT EXISTS bi_period_report AS
WITH
    toDateTime64({period_from:String}, 3, 'Asia/Ho_Chi_Minh') AS p_from,
    toDateTime64({period_to:String}, 3, 'Asia/Ho_Chi_Minh') AS p_to
SELECT
    unit_code,
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
    if(received = 0, NULL, round(received_online / received, 4)) AS online_rate
FROM
(
    SELECT
        ifNull(unit_code, '') AS unit_code,
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
        countIf(open_at_to AND toDate(due_at) < toDate(p_to) AND dossier_id NOT IN
            (SELECT dossier_id FROM dossier_milestones WHERE type = 'RESUMED' AND occurred_at >= p_to))
            AS in_progress_overdue,
        toUInt64(0) AS apologies,
        countIf(open_at_to AND procedure_unknown) AS unknown_procedure
    FROM
    (
        SELECT
            dossier_id, unit_code, channel, received_at, closed_at, status, outcome,
            procedure_unknown, due_at,
            status IN ('RESOLVED', 'RETURNED') AS resolved,
            closed_at >= p_from AND closed_at < p_to AS closed_in_period,
            closed_at IS NULL OR closed_at >= p_to AS open_at_to
        FROM dossier_state FINAL
        WHERE received_at < p_to
    )
    GROUP BY unit_code

    UNION ALL

    SELECT
        ifNull(unit_code, '') AS unit_code,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        countIf(toDate(tupleElement(due_at_to, 1)) < toDate(p_to)),
        0, 0
    FROM
    (
        SELECT
            dossier_id,
            any(unit_code) AS unit_code,
            -- a tuple, so that a NULL deadline is not skipped by argMax
            argMax(tuple(due_at), position) AS due_at_to
        FROM dossier_milestones FINAL
        WHERE type IN ('RECEIVED', 'RESUMED') AND occurred_at < p_to
            AND dossier_id IN
            (
                SELECT dossier_id FROM dossier_state FINAL
                WHERE received_at < p_to AND (closed_at IS NULL OR closed_at >= p_to)
                    AND dossier_id IN (SELECT dossier_id FROM dossier_milestones
                                       WHERE type = 'RESUMED' AND occurred_at >= p_to)
            )
        GROUP BY dossier_id
    )
    GROUP BY unit_code

    UNION ALL

    SELECT
        ifNull(unit_code, '') AS unit_code,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        count(),
        0
    FROM dossier_milestones FINAL
    WHERE type = 'APOLOGY_ISSUED' AND occurred_at >= p_from AND occurred_at < p_to
        AND unit_code IS NOT NULL
    GROUP BY unit_code
)
GROUP BY unit_code;

-- The alert log without texts, de-duplicated: one row per alert.
CREATE VIEW IF NOT EXISTS bi_alerts AS
SELECT
    alert_id, kind, dossier_id, at, deadline, unit_code, handling_unit_code, procedure_code,
    apology_issued
FROM dossier_alerts FINAL;
