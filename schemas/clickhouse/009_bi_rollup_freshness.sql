-- How current the dashboards' rollup is, for BI tools: one row per refreshable view of
-- migration 008, from `system.view_refreshes`. A BI user's grants may not let it see that
-- system table's rows (it lists only views the reader may see), so the view runs with the
-- rights of the user who ran `dossierflow migrate` (SQL SECURITY DEFINER) and the read-only
-- role needs SELECT on this view alone. The built-in dashboard reads it too.
--   as_of: when the refresh that built the rollup's current contents started (every fact
--          written before it is counted), local time; NULL until one has completed since
--          the engine started.
--   last_attempt_at: when the latest attempt finished (or started, while it runs).
--   status: the engine's state of the refresh (Scheduled, Running, Disabled, ...).
--   error: the latest attempt's error when it failed, without the stack trace ('' otherwise;
--          kept until an attempt succeeds, while the rollup keeps its last good contents).
CREATE VIEW IF NOT EXISTS bi_rollup_freshness
DEFINER = CURRENT_USER SQL SECURITY DEFINER AS
SELECT
    view,
    toTimeZone(last_success_time, 'Asia/Ho_Chi_Minh') AS as_of,
    toTimeZone(last_refresh_time, 'Asia/Ho_Chi_Minh') AS last_attempt_at,
    status,
    trimBoth(splitByString(', Stack trace', exception)[1]) AS error
FROM system.view_refreshes
WHERE database = currentDatabase() AND view = 'unit_day_changes_mv';
