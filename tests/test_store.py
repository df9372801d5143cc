"""Store URLs, versioned migrations and the chDB one-process rule, against real chDB."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dossierflow.store import (
    URL_ENV,
    Migration,
    MigrationError,
    Store,
    StoreError,
    StoreLocked,
    StoreNotMigrated,
    bundled_migrations,
    connect,
    default_url,
    migrate,
    parse_migrations,
    parse_server_version,
    parse_store_url,
    pause_rollup_refreshes,
    refresh_rollups,
    require_migrated,
    server_version_problem,
)

pytestmark = pytest.mark.clickhouse

ROOT = Path(__file__).resolve().parents[1]

TABLES = {
    "daily_rollup", "dossier_alerts", "dossier_facts", "dossier_state", "dossier_state_mv",
    "schema_migrations", "dossier_milestones", "dossier_milestones_mv",
    "bi_dossiers", "bi_daily", "bi_period_report", "bi_alerts",
    "unit_day_changes", "unit_day_changes_mv", "bi_period_report_daily", "bi_unit_daily",
    "bi_rollup_freshness",
    "dossier_compliance_events", "dossier_compliance_events_mv", "bi_compliance_report",
    "bi_period_outcomes", "dossiers_open_at", "bi_progress_766", "bi_progress_766_procedures",
    "bi_step_delays", "dossier_resolutions", "dossier_resolutions_mv", "bi_delays_caused",
    "bi_report", "bi_overdue_causes", "dossiers_overdue_at",
    "dossier_report_days", "dossier_report_days_mv", "bi_report_days", "dossiers_open_since",
}


def test_default_url_is_env_then_chdb_in_the_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert default_url({URL_ENV: "http://u:p@ch:8123/x"}) == "http://u:p@ch:8123/x"
    data = tmp_path / "data"
    assert default_url({"XDG_DATA_HOME": str(data)}) == f"chdb://{data}/dossierflow/clickhouse"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # the working directory plays no part
    expected = f"chdb://{tmp_path}/home/.local/share/dossierflow/clickhouse"
    assert default_url({}) == expected
    assert default_url({"XDG_DATA_HOME": "relative/ignored"}) == expected


def test_parse_store_url() -> None:
    chdb = parse_store_url("chdb:///var/lib/df")
    assert (chdb.kind, chdb.path, chdb.database) == ("chdb", Path("/var/lib/df"), "dossierflow")
    http = parse_store_url("https://bi:s%40cret@ch.example:8443/hcc")
    assert (http.host, http.port, http.username, http.password, http.database) == (
        "ch.example", 8443, "bi", "s@cret", "hcc"
    )
    assert http.display == "https://bi@ch.example:8443/hcc"  # no password
    assert parse_store_url("http://ch").port == 8123


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("chdb://relative/path", "must be absolute"),
        ("mysql://h/db", "unknown scheme 'mysql'"),
        ("http:///db", "host is missing"),
        ("http://h:80/bad-name", "not a valid database name"),
        ("http://h:port/db", "port is not a number"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        parse_store_url(url)


def test_a_one_shot_command_pauses_the_rollup_refresh_and_a_forced_refresh_resumes_it(
    tmp_path: Path,
) -> None:
    store = connect(f"chdb://{tmp_path / 'ch'}")
    try:
        migrate(store)

        def status() -> list[str]:
            rows = store.client.query(
                "SELECT status FROM system.view_refreshes WHERE view = 'unit_day_changes_mv'"
            ).result_rows
            return [str(state) for (state,) in rows]

        assert status() != ["Disabled"]  # the engine refreshes on its own
        pause_rollup_refreshes(store)
        deadline = time.monotonic() + 60  # a running rebuild is cancelled, then disabled
        while status() != ["Disabled"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status() == ["Disabled"]
        refresh_rollups(store)
        assert status() != ["Disabled"]
    finally:
        store.close()


def test_migrate_twice_is_a_no_op(tmp_path: Path) -> None:
    url = f"chdb://{tmp_path / 'ch'}"
    store = connect(url)
    try:
        with pytest.raises(StoreNotMigrated, match="run `dossierflow migrate"):
            require_migrated(store)
        first = migrate(store)
        assert first == [m.name for m in bundled_migrations()]
        assert migrate(store) == []
        tables = {r[0] for r in store.client.query("SHOW TABLES").result_rows}
        # a refresh of unit_day_changes_mv (the first starts at once) builds a `.tmp.…` table
        assert {t for t in tables if not t.startswith(".tmp.")} == TABLES
        versions = store.client.query(
            "SELECT version FROM schema_migrations FINAL ORDER BY version"
        ).result_rows
        assert [v for (v,) in versions] == [m.version for m in bundled_migrations()]
    finally:
        store.close()
    reopened = connect(url)  # binds the existing database
    try:
        require_migrated(reopened)
        assert migrate(reopened) == []
    finally:
        reopened.close()


def test_a_changed_applied_migration_is_refused(tmp_path: Path) -> None:
    store = connect(f"chdb://{tmp_path / 'ch'}")
    try:
        migrate(store)
        first = bundled_migrations()[0]
        edited = Migration(first.version, first.name, first.sql + "\n-- edited\n")
        with pytest.raises(MigrationError, match="add a new numbered file instead"):
            migrate(store, [edited])
        extra = Migration(99, "099_extra.sql", "CREATE TABLE IF NOT EXISTS extra (a UInt8) "
                          "ENGINE = MergeTree ORDER BY a;\n")
        assert migrate(store, [*bundled_migrations(), extra]) == ["099_extra.sql"]
    finally:
        store.close()


def test_a_statement_the_server_refuses_names_the_file_and_the_statement(
    tmp_path: Path,
) -> None:
    store = connect(f"chdb://{tmp_path / 'ch'}")
    try:
        migrate(store)
        broken = Migration(
            99,
            "099_broken.sql",
            "-- a table on a column that does not exist\n"
            "CREATE TABLE IF NOT EXISTS broken (a UInt8)\n"
            "ENGINE = MergeTree ORDER BY missing_column;\n",
        )
        with pytest.raises(MigrationError) as caught:
            migrate(store, [*bundled_migrations(), broken])
        message = str(caught.value)
        assert message.startswith(
            "migration 099_broken.sql failed at `CREATE TABLE IF NOT EXISTS broken (a UInt8)`: "
            "Code: "
        )
        assert "missing_column" in message and "Stack trace" not in message
        assert "099_broken.sql" not in {name for name, _ in applied(store)}
    finally:
        store.close()


def applied(store: Store) -> list[tuple[str, str]]:
    rows = store.client.query("SELECT name, checksum FROM schema_migrations FINAL").result_rows
    return [(str(name), str(checksum)) for name, checksum in rows]


def test_migrations_from_008_need_clickhouse_24_10() -> None:
    rollup = Migration(8, "008_bi_period_rollup.sql", "")
    older = Migration(7, "007_bi_views.sql", "")
    assert parse_server_version("24.10.2.80") == (24, 10, 2, 80)
    assert parse_server_version("26.9.2.1-chdb") == (26, 9, 2, 1)
    assert server_version_problem("24.10.1.2812", rollup) is None
    assert server_version_problem("25.3.2.39", Migration(9, "009_x.sql", "")) is None
    assert server_version_problem("24.3.12.75", older) is None
    assert server_version_problem("24.9.3.128", rollup) == (
        "migration 008_bi_period_rollup.sql needs ClickHouse 24.10 or later (refreshable "
        "materialized views); this server is 24.9.3.128: upgrade it, then run "
        "`dossierflow migrate` again"
    )
    assert server_version_problem("23.8.16.16", Migration(9, "009_x.sql", "")) is not None
    with pytest.raises(MigrationError, match="not a version"):
        parse_server_version("unknown")


def test_migration_files_are_validated() -> None:
    with pytest.raises(MigrationError, match=r"must be NNN_name\.sql"):
        parse_migrations({"facts.sql": ""})
    with pytest.raises(MigrationError, match="share the number 001"):
        parse_migrations({"001_a.sql": "", "001_b.sql": ""})
    ordered = parse_migrations({"002_b.sql": "", "001_a.sql": ""})
    assert [m.name for m in ordered] == ["001_a.sql", "002_b.sql"]
    statements = Migration(1, "001_a.sql", "-- a; b\nSELECT 1;\nSELECT 2;\n").statements()
    assert statements == ["SELECT 1", "SELECT 2"]


def test_a_store_held_by_another_process_gives_a_clear_error(tmp_path: Path) -> None:
    url = f"chdb://{tmp_path / 'ch'}"
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            textwrap.dedent(f"""
                import sys, time
                from dossierflow.store import connect
                store = connect({url!r})
                print("ready", flush=True)
                sys.stdin.read()
            """),
        ],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None
        deadline = time.monotonic() + 60
        while holder.stdout.readline().strip() != "ready":
            assert time.monotonic() < deadline and holder.poll() is None
        with pytest.raises(StoreLocked, match="in use by another process"):
            connect(url)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_cli_migrate_and_report_directly(tmp_path: Path) -> None:
    url = f"chdb://{tmp_path / 'ch'}"
    first, second = cli("migrate", "--store", url), cli("migrate", "--store", url)
    assert first.returncode == 0 and "applied 001_dossier_facts.sql" in first.stdout
    assert second.returncode == 0 and "up to date" in second.stdout
    empty = cli("report", "--from", "2026-03-01", "--to", "2026-04-01", "--format", "csv",
                 env={"DOSSIERFLOW_CLICKHOUSE_URL": url, "DOSSIERFLOW_SINK_URL": "http://127.0.0.1:9"})
    # A migrated store without facts: no all-zero report, one line saying why, exit code 4.
    assert empty.returncode == 4, empty.stderr
    assert empty.stdout == ""
    assert empty.stderr.splitlines() == [
        f"dossierflow report: the store {url} holds no facts at all, so there is nothing to "
        "report; give the store the sink writes (--store or DOSSIERFLOW_CLICKHOUSE_URL)"
    ]
    bad = cli("report", "--from", "2026-13-01", "--to", "2026-04-01", "--store", url)
    assert bad.returncode == 2 and "--from '2026-13-01': not a date" in bad.stderr



def test_report_on_a_store_never_migrated_says_to_migrate(tmp_path: Path) -> None:
    """The report checks the tables only when its query fails: the message stays the same."""
    url = f"chdb://{tmp_path / 'ch'}"
    connect(url).close()  # the engine's folder, without dossierflow's tables
    done = cli("report", "--from", "2026-03-01", "--to", "2026-04-01", "--store", url,
               "--sink-url", "http://127.0.0.1:9")
    assert (done.returncode, done.stdout) == (4, "")
    assert done.stderr.splitlines() == [
        f"dossierflow report: the store {url} has no dossierflow tables; "
        f"run `dossierflow migrate --store {url}` first"
    ]


def test_report_on_a_store_without_the_latest_migration_says_to_migrate(tmp_path: Path) -> None:
    """A store upgraded by an older release: the report names what is missing, not 'a bug'."""
    url = f"chdb://{tmp_path / 'ch'}"
    store = connect(url)
    try:
        *older, latest = bundled_migrations()
        migrate(store, older)
    finally:
        store.close()
    done = cli("report", "--from", "2026-03-01", "--to", "2026-04-01", "--store", url,
               "--sink-url", "http://127.0.0.1:9")
    assert (done.returncode, done.stdout) == (4, "")
    assert done.stderr.splitlines() == [
        f"dossierflow report: the store {url} has not applied {latest.name}, which the "
        f"report reads; run `dossierflow migrate --store {url}` first"
    ]


def test_report_on_a_missing_store_creates_nothing_and_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    done = cli("report", "--from", "2026-03-01", "--to", "2026-04-01",
               "--store", f"chdb://{missing}", "--sink-url", "http://127.0.0.1:9")
    assert done.returncode == 4 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"dossierflow report: there is no store at chdb://{missing}; give the store that "
        "`dossierflow sink` or `migrate` wrote (--store or DOSSIERFLOW_CLICKHOUSE_URL)"
    ]
    assert not (tmp_path / "nonexistent").exists()


def test_report_from_another_directory_reads_the_same_default_store(tmp_path: Path) -> None:
    """The default store lives in the user's data folder, not under the working directory."""
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "DOSSIERFLOW_SINK_URL": "http://127.0.0.1:9"}
    env_without_url = {k: v for k, v in os.environ.items() if k != URL_ENV}
    migrated = subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", "migrate"], capture_output=True, text=True,
        timeout=120, cwd=tmp_path, env={**env_without_url, **env},
    )
    assert migrated.returncode == 0, migrated.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    report = subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", "report", "--from", "2026-03-01",
         "--to", "2026-04-01"], capture_output=True, text=True, timeout=120, cwd=elsewhere,
        env={**env_without_url, **env},
    )
    store = tmp_path / "data" / "dossierflow" / "clickhouse"
    assert f"the store chdb://{store} holds no facts" in report.stderr
    assert list(elsewhere.iterdir()) == []
