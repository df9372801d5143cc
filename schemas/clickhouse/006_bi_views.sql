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
-- at RECEIVED), for dossiers that were received. Summed over the days of a period they equal
-- the period report's figures (the report leaves out an apology issued in the period for a
-- dossier received only after the period: an event the lifecycle ignores anyway).
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
        s.unit_code, s.procedure_code, s.sector_code, s.channel
    FROM (SELECT dossier_id, occurred_at FROM dossier_milestones FINAL
          WHERE type = 'APOLOGY_ISSUED') AS a
    INNER JOIN
    (
        SELECT dossier_id, received_at, unit_code, procedure_code, sector_code, channel
        FROM dossier_state FINAL
        WHERE received_at IS NOT NULL AND dossier_id IN
            (SELECT dossier_id FROM dossier_milestones WHERE type = 'APOLOGY_ISSUED')
    ) AS s ON a.dossier_id = s.dossier_id
)
GROUP BY day, unit_code, procedure_code, sector_code, channel;

-- The old rollup (003) becomes the same as bi_daily, which no longer reads every fact.
CREATE OR REPLACE VIEW daily_rollup AS SELECT * FROM bi_daily;

-- The period report of DOMAIN.md for [period_from, period_to) (local instants, e.g.
-- '2025-01-01' or '2025-01-01 00:00:00'), a row per receiving unit:
--     SELECT * FROM bi_period_report(period_from = '2025-01-01', period_to = '2026-01-01')
-- `dossierflow report` reads this view. Each dossier is one row of dossier_state; the state
-- as of `period_to` is read off its fixed milestones, except the deadline in force at
-- `period_to` of a dossier that changed since (its last event is at or after `period_to`),
-- taken from its RECEIVED/RESUMED milestones before `period_to`, and the apologies issued in
-- the period. Only dossiers open at `period_to` with an event at or after it, and dossiers
-- with an apology in the period, are looked up (none of the first kind for a current period).
CREATE VIEW IF NOT EXISTS bi_period_report AS
WITH
    toDateTime64({period_from:String}, 3, 'Asia/Ho_Chi_Minh') AS p_from,
    toDateTime64({period_to:String}, 3, 'Asia/Ho_Chi_Minh') AS p_to
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
    countIf(open_at_to AND toDate(due_at_to) < toDate(p_to)) AS in_progress_overdue,
    sum(apologies_in_period) AS apologies,
    countIf(open_at_to AND procedure_unknown) AS unknown_procedure,
    if(resolved_early + resolved_on_time + resolved_overdue = 0, NULL,
       round((resolved_early + resolved_on_time)
             / (resolved_early + resolved_on_time + resolved_overdue), 4)) AS on_time_rate,
    if(received = 0, NULL, round(received_online / received, 4)) AS online_rate
FROM
(
    SELECT
        s.unit_code AS unit_code,
        s.channel AS channel,
        s.received_at AS received_at,
        s.closed_at AS closed_at,
        s.status AS status,
        s.outcome AS outcome,
        s.procedure_unknown AS procedure_unknown,
        s.status IN ('RESOLVED', 'RETURNED') AS resolved,
        s.closed_at >= p_from AND s.closed_at < p_to AS closed_in_period,
        s.closed_at IS NULL OR s.closed_at >= p_to AS open_at_to,
        if(m.found AND s.as_of >= p_to, tupleElement(m.due_at_to, 1), s.due_at) AS due_at_to,
        m.apologies_in_period AS apologies_in_period
    FROM dossier_state AS s FINAL
    LEFT JOIN
    (
        SELECT
            dossier_id,
            1 AS found,
            countIf(type = 'APOLOGY_ISSUED' AND occurred_at >= p_from) AS apologies_in_period,
            -- a tuple, so that a NULL deadline is not skipped by argMax
            argMaxIf(tuple(due_at), position, type != 'APOLOGY_ISSUED') AS due_at_to
        FROM dossier_milestones FINAL
        WHERE occurred_at < p_to
            AND ((type = 'APOLOGY_ISSUED' AND occurred_at >= p_from)
                 OR dossier_id IN (
                    -- without FINAL: older rows only add dossiers, whose look-up is unused
                    SELECT dossier_id FROM dossier_state
                    WHERE as_of >= p_to AND received_at < p_to
                        AND (closed_at IS NULL OR closed_at >= p_to)))
        GROUP BY dossier_id
    ) AS m ON s.dossier_id = m.dossier_id
    WHERE s.received_at < p_to
)
GROUP BY unit_code;

-- The alert log without texts, de-duplicated: one row per alert.
CREATE VIEW IF NOT EXISTS bi_alerts AS
SELECT
    alert_id, kind, dossier_id, at, deadline, unit_code, handling_unit_code, procedure_code,
    apology_issued
FROM dossier_alerts FINAL;
