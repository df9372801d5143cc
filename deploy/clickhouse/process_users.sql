-- A user per process on a ClickHouse server, each with only its grants (beside the BI reader
-- of readonly_role.sql). Run as an administrator, before the first `dossierflow migrate`
-- (clickhouse-client --multiquery < process_users.sql); replace the passwords (or use
-- IDENTIFIED WITH sha256_hash BY '...'). Neither user may manage users, roles or grants, nor
-- touch another database. docs/operations.md, "Kafka and ClickHouse rights", says which
-- process uses which (DOSSIERFLOW_CLICKHOUSE_URL).
--
-- dossierflow_migrate owns the schema: `dossierflow migrate` creates the database, its tables
-- and views, and records what it applied in schema_migrations. The materialized views it
-- creates run with its rights (SQL SECURITY DEFINER, ClickHouse's default for them), so it
-- reads and writes every table of the database; bi_rollup_freshness (migration 009) reads
-- system.view_refreshes with its rights too. Migration 019 merges the table it refills
-- (OPTIMIZE).
--
-- dossierflow_sink inserts facts and alerts (the materialized views fill the rest as the
-- migrator) and reads the database for /report and /dashboard. It checks schema_migrations at
-- start and leaves migrating to dossierflow_migrate. After writing it asks the rollup's
-- refreshable view (unit_day_changes_mv, migration 008) to refresh now: SYSTEM REFRESH VIEW
-- wants SYSTEM VIEWS on that view (sinks/rollup_refresh.py); without it the rollup trails by
-- up to its minute and the sink logs why.

CREATE ROLE IF NOT EXISTS dossierflow_migrator;
GRANT CREATE DATABASE, CREATE TABLE, CREATE VIEW, DROP TABLE, DROP VIEW, ALTER TABLE, ALTER VIEW,
    TRUNCATE, OPTIMIZE, SELECT, INSERT ON dossierflow.* TO dossierflow_migrator;
GRANT SELECT ON system.view_refreshes TO dossierflow_migrator;

CREATE ROLE IF NOT EXISTS dossierflow_sink_writer;
GRANT INSERT ON dossierflow.dossier_facts TO dossierflow_sink_writer;
GRANT INSERT ON dossierflow.dossier_alerts TO dossierflow_sink_writer;
GRANT SELECT ON dossierflow.* TO dossierflow_sink_writer;
GRANT SYSTEM VIEWS ON dossierflow.unit_day_changes_mv TO dossierflow_sink_writer;

CREATE USER IF NOT EXISTS dossierflow_migrate
    IDENTIFIED WITH sha256_password BY 'change-me'
    DEFAULT ROLE dossierflow_migrator
    DEFAULT DATABASE dossierflow;
GRANT dossierflow_migrator TO dossierflow_migrate;

CREATE USER IF NOT EXISTS dossierflow_sink
    IDENTIFIED WITH sha256_password BY 'change-me'
    DEFAULT ROLE dossierflow_sink_writer
    DEFAULT DATABASE dossierflow;
GRANT dossierflow_sink_writer TO dossierflow_sink;
