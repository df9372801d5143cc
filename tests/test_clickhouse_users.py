"""deploy/clickhouse/process_users.sql gives each process only its grants.

chDB is ClickHouse's engine, but its access control is clickhouse-local's: users come from a
users.xml only (CREATE USER and CREATE ROLE find no writable access storage) and every query
runs as `default` (no login as another user, no EXECUTE AS). So the script's CREATE USER and
CREATE ROLE statements are checked for syntax only (EXPLAIN AST), and its GRANTs for what they
allow: each phase runs in a process of its own whose chDB `default` user holds exactly the
grants of one role of the script (from a users.xml made here), on one store, and the
materialized views' definer is a user `dossierflow_migrate` with the migrator's grants:

1. as dossierflow_migrator, `migrate` creates the schema; managing users and writing another
   database are denied;
2. as dossierflow_sink_writer, the sink's writes (facts and alerts, through the materialized
   views the migrator owns) and reads work; DDL, writes to other tables and user management
   are denied.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "clickhouse" / "process_users.sql"
ACCESS_DENIED = "ACCESS_DENIED"


def statements() -> list[str]:
    text = "\n".join(line for line in SCRIPT.read_text().splitlines()
                     if not line.lstrip().startswith("--"))
    return [" ".join(part.split()) for part in text.split(";") if part.strip()]


def role_grants(role: str) -> list[str]:
    """The script's privilege grants to `role`, as users.xml writes them (without `TO`)."""
    suffix = f" TO {role}"
    found = [s.removesuffix(suffix) for s in statements()
             if s.startswith("GRANT ") and s.endswith(suffix) and " ON " in s]
    assert found, f"no grant to {role} in {SCRIPT}"
    return found


def users_xml(grants: list[str], definers: dict[str, list[str]]) -> str:
    """`default` with `grants`; each user of `definers` (who owns views) with its grants."""
    def user(name: str, queries: list[str]) -> str:
        listed = "".join(f"<query>{query}</query>" for query in queries)
        return (f"<{name}><password></password><networks><ip>::1</ip></networks>"
                f"<profile>default</profile><quota>default</quota>"
                f"<grants>{listed}</grants></{name}>")

    users = user("default", grants) + "".join(user(n, q) for n, q in definers.items())
    return (f"<clickhouse><profiles><default/></profiles><users>{users}</users>"
            "<quotas><default/></quotas></clickhouse>")


PHASE = r"""
import json, sys
import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError
from dossierflow.store import (MigrationError, Store, migrate, parse_store_url,
                               pending_migrations)

path, config, phase = sys.argv[1:4]
client = clickhouse_connect.get_client(interface="chdb", path=path,
                                       chdb_options={"config-file": config})
store = Store(client=client, url=parse_store_url(f"chdb://{path}"))
result = {}
def attempt(name, statement):
    try:
        client.command(statement)
        result[name] = "allowed"
    except DatabaseError as exc:
        result[name] = "ACCESS_DENIED" if "ACCESS_DENIED" in str(exc) else str(exc)[:300]
if phase == "migrate":
    result["applied"] = migrate(store)
    for migration_view in ("dossier_state_mv", "dossier_milestones_mv", "unit_day_changes_mv"):
        client.command(f"ALTER TABLE dossierflow.{migration_view} MODIFY SQL SECURITY DEFINER "
                       "DEFINER = dossierflow_migrate")
    attempt("create user", "CREATE USER intruder IDENTIFIED WITH sha256_password BY 'x'")
    attempt("other database", "CREATE DATABASE elsewhere")
elif phase == "sink on a new store":
    try:
        migrate(store)
    except MigrationError as exc:
        result["migrate"] = str(exc)
else:
    client.database = "dossierflow"
    result["pending"] = [m.name for m in pending_migrations(store)]
    attempt("insert fact", "INSERT INTO dossier_facts (dossier_id, unit_code) VALUES ('D-1', 'X')")
    attempt("insert alert",
            "INSERT INTO dossier_alerts (alert_id, dossier_id) VALUES ('A-1', 'D-1')")
    result["state rows"] = client.command("SELECT count() FROM dossier_state")
    attempt("select report view", "SELECT count() FROM bi_dossiers")
    attempt("refresh rollup", "SYSTEM REFRESH VIEW unit_day_changes_mv")
    attempt("refresh another view", "SYSTEM REFRESH VIEW dossier_state_mv")
    attempt("create table", "CREATE TABLE dossierflow.t (x Int8) ENGINE = Memory")
    attempt("drop table", "DROP TABLE dossier_facts")
    attempt("insert state", "INSERT INTO dossier_state (dossier_id) VALUES ('D-2')")
    attempt("create user", "CREATE USER intruder IDENTIFIED WITH sha256_password BY 'x'")
    attempt("grant", "GRANT ALL ON *.* TO default")
print(json.dumps(result))
"""


def run_phase(tmp_path: Path, phase: str, role: str, *test_grants: str,
              store: str = "store") -> dict[str, object]:
    folder = tmp_path / phase.replace(" ", "-")
    folder.mkdir()
    definers = {"dossierflow_migrate": role_grants("dossierflow_migrator")}
    (folder / "users.xml").write_text(users_xml([*role_grants(role), *test_grants], definers))
    (folder / "config.xml").write_text(
        f"<clickhouse><users_config>{folder / 'users.xml'}</users_config></clickhouse>")
    done = subprocess.run(
        [sys.executable, "-c", PHASE, str(tmp_path / store), str(folder / "config.xml"), phase],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_the_script_creates_a_user_per_process_and_no_other() -> None:
    users = sorted(re.findall(r"^CREATE USER IF NOT EXISTS (\w+)", SCRIPT.read_text(), re.M))
    assert users == ["dossierflow_migrate", "dossierflow_sink"]
    granted_roles = {s.split()[1]: s.split()[-1] for s in statements()
                     if re.fullmatch(r"GRANT \w+ TO \w+", s)}
    assert granted_roles == {"dossierflow_migrator": "dossierflow_migrate",
                             "dossierflow_sink_writer": "dossierflow_sink"}
    assert not [s for s in statements() if "ACCESS MANAGEMENT" in s or "*.*" in s
                or "WITH GRANT OPTION" in s]


def test_every_statement_of_the_script_is_clickhouse_sql(tmp_path: Path) -> None:
    from dossierflow.store import connect

    store = connect(f"chdb://{tmp_path / 'syntax'}")
    try:
        for statement in statements():
            assert str(store.client.command(f"EXPLAIN AST {statement}")).strip(), statement
    finally:
        store.close()


def test_each_process_may_do_its_job_and_nothing_beyond(tmp_path: Path) -> None:
    # On a server, dossierflow_migrate creates the materialized views and so is their definer;
    # here `default` creates them, then hands them to dossierflow_migrate (a grant of the test).
    migrated = run_phase(tmp_path, "migrate", "dossierflow_migrator",
                         "GRANT SET DEFINER ON dossierflow_migrate")
    assert "009_bi_rollup_freshness.sql" in str(migrated["applied"])
    assert migrated["create user"] == ACCESS_DENIED
    assert migrated["other database"] == ACCESS_DENIED

    sink = run_phase(tmp_path, "sink", "dossierflow_sink_writer")
    assert sink["pending"] == []
    assert sink["insert fact"] == "allowed" and sink["insert alert"] == "allowed"
    assert sink["state rows"] == 1  # the view filled dossier_state as its definer
    assert sink["select report view"] == "allowed"
    # After writing, the sink refreshes the rollup (sinks/rollup_refresh.py): SYSTEM VIEWS on
    # that view only.
    assert sink["refresh rollup"] == "allowed"
    assert sink["refresh another view"] == ACCESS_DENIED
    for denied in ("create table", "drop table", "insert state", "create user", "grant"):
        assert sink[denied] == ACCESS_DENIED, (denied, sink[denied])


def test_the_sinks_user_may_not_migrate_and_says_who_should(tmp_path: Path) -> None:
    refused = run_phase(tmp_path, "sink on a new store", "dossierflow_sink_writer")
    assert str(refused["migrate"]).startswith(
        f"store chdb://{tmp_path / 'store'} may not be migrated by this user: Code: 497. ")
    assert str(refused["migrate"]).endswith(
        "run `dossierflow migrate` with the user that owns the schema "
        "(deploy/clickhouse/process_users.sql)")
