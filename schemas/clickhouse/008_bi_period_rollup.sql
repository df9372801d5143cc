-- The period report for the dashboards, pre-aggregated: one row per local day x receiving unit
-- x kind of change, rebuilt from the de-duplicated per-dossier tables by a refreshable
-- materialized view. A dashboard panel then sums a few hundred thousand rows instead of
-- reading every dossier (4.2 million over ten million facts: 0.2-0.4 s a panel).
--
-- Why it stays exact. Nothing is added at insert time: every refresh recomputes the whole
-- table from `dossier_state FINAL` and `dossier_milestones FINAL`, the same rows
-- `bi_period_report` reads, and swaps it in atomically. A re-delivered batch, a re-issued
-- history or a crash therefore changes the next refresh exactly as it changes the report;
-- nothing can be counted twice. The cost is freshness: the table is the report as of its last
-- refresh (every minute; `SYSTEM REFRESH VIEW unit_day_changes_mv` forces one,
-- `SYSTEM WAIT VIEW unit_day_changes_mv` waits for it). `dossierflow report` and
-- `bi_period_report` stay live.
--
-- For a period of whole local days [from, to) every figure of the report is a sum over days:
-- - flows, counted on their day d, summed over from <= d < to: `received` (and per channel)
--   on the day of receipt; `resolved_early`, `resolved_on_time`, `resolved_overdue`,
--   `withdrawn`, `stopped` on the day the dossier was closed; `apologies` on the day issued,
--   for the unit that received the dossier (as the report);
-- - stocks, as changes on the first day d whose midnight sees them, summed over d <= to (or
--   d <= from for carried_over): `open` +1 the day after receipt, -1 the day after closing
--   (received before midnight T iff the day of receipt < T's day; closed before T likewise;
--   the lifecycle never closes a dossier before receiving it); `open_unknown_procedure` the
--   same for dossiers of unknown procedures; `open_overdue` +1 from the first midnight at
--   which the dossier is open and the deadline then in force lies on an earlier day, -1 at
--   the first midnight it is not: per deadline in force (RECEIVED sets it, each RESUMED moves
--   it; the last one before T by position, and positions follow event time), so a past
--   period sees the deadline it had then, as `bi_period_report` does.
CREATE TABLE IF NOT EXISTS unit_day_changes
(
    day Date,
    unit_code LowCardinality(String),
    kind LowCardinality(String),
    delta Int64
)
ENGINE = MergeTree
ORDER BY (day, unit_code, kind);

CREATE MATERIALIZED VIEW IF NOT EXISTS unit_day_changes_mv
REFRESH EVERY 1 MINUTE TO unit_day_changes AS
-- Each branch gives (unit_code, change): change = (day, kind, delta).
SELECT
    assumeNotNull(tupleElement(change, 1)) AS day,
    unit_code,
    tupleElement(change, 2) AS kind,
    sum(tupleElement(change, 3)) AS delta
FROM
(
    -- receipts: flows on the day of receipt, stocks open from the next midnight
    SELECT
        unit_code,
        arrayJoin(arrayConcat(
            [(received_day, 'received', n), (received_day + 1, 'open', n)],
            multiIf(channel = 'ONLINE', [(received_day, 'received_online', n)],
                    channel = 'IN_PERSON', [(received_day, 'received_in_person', n)],
                    channel = 'POSTAL', [(received_day, 'received_postal', n)], []),
            if(procedure_unknown, [(received_day + 1, 'open_unknown_procedure', n)], [])
        )) AS change
    FROM
    (
        SELECT ifNull(unit_code, '') AS unit_code, toDate(received_at) AS received_day,
            channel, procedure_unknown, toInt64(count()) AS n
        FROM dossier_state FINAL
        WHERE received_at IS NOT NULL
        GROUP BY unit_code, received_day, channel, procedure_unknown
    )

    UNION ALL

    -- endings: flows on the day of closing, stocks closed from the next midnight
    SELECT
        unit_code,
        arrayJoin(arrayConcat(
            [(closed_day + 1, 'open', -n)],
            if(ending = '', [], [(closed_day, ending, n)]),
            if(procedure_unknown, [(closed_day + 1, 'open_unknown_procedure', -n)], [])
        )) AS change
    FROM
    (
        SELECT ifNull(unit_code, '') AS unit_code, toDate(assumeNotNull(closed_at)) AS closed_day,
            multiIf(
                status IN ('RESOLVED', 'RETURNED'), multiIf(
                    outcome = 'EARLY', 'resolved_early', outcome = 'ON_TIME', 'resolved_on_time',
                    outcome = 'OVERDUE', 'resolved_overdue', ''),
                status IN ('WITHDRAWN', 'STOPPED'), lower(status), '') AS ending,
            procedure_unknown, toInt64(count()) AS n
        FROM dossier_state FINAL
        WHERE received_at IS NOT NULL AND closed_at IS NOT NULL
        GROUP BY unit_code, closed_day, ending, procedure_unknown
    )

    UNION ALL

    -- overdue while open: one span [from, until) of midnights per deadline in force
    SELECT
        unit_code,
        arrayJoin(arrayConcat(
            [(overdue_from, 'open_overdue', n)],
            if(isNull(overdue_until), [],
               [(assumeNotNull(overdue_until), 'open_overdue', -n)])
        )) AS change
    FROM
    (
        SELECT unit_code, tupleElement(span, 1) AS overdue_from,
            tupleElement(span, 2) AS overdue_until, toInt64(count()) AS n
        FROM
        (
            SELECT
                ifNull(s.unit_code, '') AS unit_code,
                -- deadline = (day it took effect, its date, day the next one took effect)
                arrayJoin(arrayFilter(
                    span -> isNull(tupleElement(span, 2))
                        OR tupleElement(span, 1) < assumeNotNull(tupleElement(span, 2)),
                    arrayMap(
                        deadline -> (
                            greatest(tupleElement(deadline, 1),
                                     assumeNotNull(tupleElement(deadline, 2)), received_day) + 1,
                            multiIf(isNull(tupleElement(deadline, 3)), closed_day,
                                    isNull(closed_day), tupleElement(deadline, 3),
                                    least(tupleElement(deadline, 3), closed_day)) + 1),
                        arrayFilter(
                            deadline -> isNotNull(tupleElement(deadline, 2)),
                            if(empty(r.deadlines),
                               [(received_day, due_day, CAST(NULL, 'Nullable(Date)'))],
                               r.deadlines))))) AS span
            FROM
            (
                SELECT dossier_id, unit_code, toDate(received_at) AS received_day,
                    toDate(closed_at) AS closed_day, toDate(due_at) AS due_day
                FROM dossier_state FINAL
                WHERE received_at IS NOT NULL
            ) AS s
            -- only dossiers that resumed have more than the one deadline of dossier_state
            LEFT JOIN
            (
                SELECT dossier_id,
                    arraySort(groupArray((position, toDate(occurred_at), toDate(due_at))))
                        AS ordered,
                    arrayMap(i -> (tupleElement(ordered[i], 2), tupleElement(ordered[i], 3),
                                   if(i < length(ordered),
                                      toNullable(tupleElement(ordered[i + 1], 2)),
                                      CAST(NULL, 'Nullable(Date)'))),
                             arrayEnumerate(ordered)) AS deadlines
                FROM dossier_milestones FINAL
                WHERE type IN ('RECEIVED', 'RESUMED')
                    AND dossier_id IN (SELECT dossier_id FROM dossier_milestones
                                       WHERE type = 'RESUMED')
                GROUP BY dossier_id
            ) AS r ON s.dossier_id = r.dossier_id
        )
        GROUP BY unit_code, overdue_from, overdue_until
    )

    UNION ALL

    -- apologies on the day issued, for the unit that had received the dossier
    SELECT ifNull(unit_code, '') AS unit_code,
        (toDate(occurred_at), 'apologies', toInt64(count())) AS change
    FROM dossier_milestones FINAL
    WHERE type = 'APOLOGY_ISSUED' AND unit_code IS NOT NULL
    GROUP BY unit_code, toDate(occurred_at)
)
GROUP BY day, unit_code, kind;

-- The period report of `bi_period_report` for the whole local days [period_from, period_to)
-- (dates, e.g. '2025-01-01'), from `unit_day_changes`: the same columns and rows, as of the
-- table's last refresh. The Grafana dashboard reads this:
--     SELECT * FROM bi_period_report_daily(period_from = '2025-01-01', period_to = '2026-01-01')
CREATE VIEW IF NOT EXISTS bi_period_report_daily AS
SELECT
    unit_code,
    toUInt64(sumIf(delta, kind = 'open' AND day <= {period_from:Date})) AS carried_over,
    toUInt64(sumIf(delta, kind = 'received' AND day >= {period_from:Date})) AS received,
    toUInt64(sumIf(delta, kind = 'received_online' AND day >= {period_from:Date}))
        AS received_online,
    toUInt64(sumIf(delta, kind = 'received_in_person' AND day >= {period_from:Date}))
        AS received_in_person,
    toUInt64(sumIf(delta, kind = 'received_postal' AND day >= {period_from:Date}))
        AS received_postal,
    toUInt64(sumIf(delta, kind = 'resolved_early' AND day >= {period_from:Date}))
        AS resolved_early,
    toUInt64(sumIf(delta, kind = 'resolved_on_time' AND day >= {period_from:Date}))
        AS resolved_on_time,
    toUInt64(sumIf(delta, kind = 'resolved_overdue' AND day >= {period_from:Date}))
        AS resolved_overdue,
    toUInt64(sumIf(delta, kind = 'withdrawn' AND day >= {period_from:Date})) AS withdrawn,
    toUInt64(sumIf(delta, kind = 'stopped' AND day >= {period_from:Date})) AS stopped,
    toUInt64(sumIf(delta, kind = 'open')) AS in_progress,
    toUInt64(sumIf(delta, kind = 'open_overdue')) AS in_progress_overdue,
    toUInt64(sumIf(delta, kind = 'apologies' AND day >= {period_from:Date})) AS apologies,
    toUInt64(sumIf(delta, kind = 'open_unknown_procedure')) AS unknown_procedure,
    if(resolved_early + resolved_on_time + resolved_overdue = 0, NULL,
       round((resolved_early + resolved_on_time)
             / (resolved_early + resolved_on_time + resolved_overdue), 4)) AS on_time_rate,
    if(received = 0, NULL, round(received_online / received, 4)) AS online_rate
FROM unit_day_changes
-- flows before `to`; stocks up to and including `to`'s day (changes that midnight sees)
WHERE day < {period_to:Date}
    OR (day = {period_to:Date} AND kind IN ('open', 'open_overdue', 'open_unknown_procedure'))
GROUP BY unit_code
-- the units `bi_period_report` lists: any dossier received before `to`, or an apology in it
HAVING sumIf(delta, kind = 'received' AND day < {period_to:Date}) > 0 OR apologies > 0;

-- Per local day x receiving unit, the report's flows of that day from `unit_day_changes` (as
-- of its last refresh): summed over the days of a period they equal `bi_period_report_daily`.
CREATE VIEW IF NOT EXISTS bi_unit_daily AS
SELECT
    day,
    unit_code,
    toUInt64(sumIf(delta, kind = 'received')) AS received,
    toUInt64(sumIf(delta, kind = 'received_online')) AS received_online,
    toUInt64(sumIf(delta, kind = 'received_in_person')) AS received_in_person,
    toUInt64(sumIf(delta, kind = 'received_postal')) AS received_postal,
    toUInt64(sumIf(delta, kind = 'resolved_early')) AS resolved_early,
    toUInt64(sumIf(delta, kind = 'resolved_on_time')) AS resolved_on_time,
    toUInt64(sumIf(delta, kind = 'resolved_overdue')) AS resolved_overdue,
    toUInt64(sumIf(delta, kind = 'withdrawn')) AS withdrawn,
    toUInt64(sumIf(delta, kind = 'stopped')) AS stopped,
    toUInt64(sumIf(delta, kind = 'apologies')) AS apologies
FROM unit_day_changes
WHERE kind NOT IN ('open', 'open_overdue', 'open_unknown_procedure')
GROUP BY day, unit_code;
