-- A read-only role and user for BI tools (Grafana, Superset, Metabase) on a ClickHouse server.
-- Run as an administrator (clickhouse-client --multiquery < readonly_role.sql), after
-- `dossierflow migrate`; replace the password (or use IDENTIFIED WITH sha256_hash BY '...').
-- The role reads the documented bi_* views (docs/bi.md) and, because a normal view runs with
-- the rights of whoever queries it (SQL SECURITY INVOKER, ClickHouse's default for views),
-- the tables they read. A settings profile keeps it read-only while letting clients set
-- the query timeout the Grafana plugin sends (max_execution_time, changeable in readonly).

CREATE SETTINGS PROFILE IF NOT EXISTS dossierflow_bi_profile SETTINGS
    readonly = 1,
    max_execution_time = 60 CHANGEABLE_IN_READONLY,
    max_memory_usage = 4000000000,
    max_result_rows = 1000000;

CREATE ROLE IF NOT EXISTS dossierflow_bi_reader SETTINGS PROFILE 'dossierflow_bi_profile';

GRANT SELECT ON dossierflow.bi_dossiers TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.bi_daily TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.bi_period_report TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.bi_period_report_daily TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.bi_unit_daily TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.bi_alerts TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.bi_compliance_report TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.bi_period_outcomes TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.dossiers_open_at TO dossierflow_bi_reader;  -- read by the two above
GRANT SELECT ON dossierflow.bi_progress_766 TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.bi_progress_766_procedures TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.bi_step_delays TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.bi_delays_caused TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.bi_overdue_causes TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.dossiers_overdue_at TO dossierflow_bi_reader;  -- read by the two above
GRANT SELECT ON dossierflow.bi_report TO dossierflow_bi_reader;  -- read by bi_period_report, bi_compliance_report
GRANT SELECT ON dossierflow.bi_report_days TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.dossiers_open_since TO dossierflow_bi_reader;  -- read by the one above
-- SQL SECURITY DEFINER (migration 009): reads system.view_refreshes with the migrator's rights
GRANT SELECT ON dossierflow.bi_rollup_freshness TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.dossier_state TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.dossier_milestones TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.dossier_resolutions TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.dossier_report_days TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.dossier_compliance_events TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.dossier_facts TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.dossier_alerts TO dossierflow_bi_reader;
GRANT SELECT ON dossierflow.unit_day_changes TO dossierflow_bi_reader;

CREATE USER IF NOT EXISTS dossierflow_bi
    IDENTIFIED WITH sha256_password BY 'change-me'
    DEFAULT ROLE dossierflow_bi_reader
    DEFAULT DATABASE dossierflow
    SETTINGS PROFILE 'dossierflow_bi_profile';

GRANT dossierflow_bi_reader TO dossierflow_bi;
