"""The ClickHouse store: choosing it from a URL, connecting, and versioned migrations.

One code path for both deployments: clickhouse-connect talks to an embedded chDB engine
(`chdb:///abs/path`, the default, so a new user needs no server) or to a ClickHouse server
(`http(s)://user:password@host:8123/db`). Only `connect` knows the difference.

chDB lets one process open a data directory at a time. Opening a directory another process
holds fails inside the engine with a lock error; `connect` turns that into `StoreLocked`,
whose message says what to do, so callers never show a raw engine error.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from dossierflow.config import StoreSettings, mask_url
from dossierflow.errors import DossierflowError, ExitCode
from dossierflow.rules.calendar import TIME_ZONE_NAME

URL_ENV = "DOSSIERFLOW_CLICKHOUSE_URL"
DEFAULT_DATABASE = "dossierflow"

_MIGRATION_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StoreError(DossierflowError):
    """A store problem with a message fit for an operator (what, where, what to do)."""


class StoreUnavailable(StoreError):
    """The store cannot be reached right now; retrying later may succeed."""


class StoreLocked(StoreUnavailable):
    """The chDB directory is open in another process (normally a running `dossierflow sink`)."""


class StoreNotMigrated(StoreError):
    """The store has no dossierflow tables yet."""

    exit_code = ExitCode.NO_DATA


class StoreEmpty(StoreError):
    """The store holds no facts at all: any report of it would be all zeros."""

    exit_code = ExitCode.NO_DATA


class StoreMissing(StoreError):
    """A chDB store that does not exist was to be read (reading never creates one)."""

    exit_code = ExitCode.NO_DATA


class MigrationError(StoreError):
    """The migration files or the applied migrations are inconsistent."""


@dataclass(frozen=True)
class StoreUrl:
    """A parsed store URL; `display` never shows the password."""

    kind: str
    """`chdb` or `http`."""
    database: str
    path: Path | None = None
    host: str = ""
    port: int = 0
    username: str = "default"
    password: str = ""
    secure: bool = False

    @property
    def display(self) -> str:
        if self.kind == "chdb":
            return f"chdb://{self.path}"
        scheme = "https" if self.secure else "http"
        return f"{scheme}://{self.username}@{self.host}:{self.port}/{self.database}"


def default_url(env: Mapping[str, str] | None = None) -> str:
    """`DOSSIERFLOW_CLICKHOUSE_URL`, or chDB in the user's data folder (never the cwd):
    `$XDG_DATA_HOME/dossierflow/clickhouse`, i.e. `~/.local/share/dossierflow/clickhouse`."""
    return StoreSettings.from_env(env).url(env)


def parse_store_url(url: str) -> StoreUrl:
    """Validate a store URL; errors say which part is wrong and show the accepted forms."""
    forms = "chdb:///absolute/path or http(s)://user:password@host:8123/database"
    parts = urlsplit(url.strip())
    shown = mask_url(url)  # an error never prints the password, whatever the typo
    if parts.scheme == "chdb":
        if parts.netloc or not parts.path.startswith("/"):
            raise StoreError(f"store URL {shown!r}: a chDB path must be absolute ({forms})")
        return StoreUrl(kind="chdb", database=DEFAULT_DATABASE, path=Path(unquote(parts.path)))
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise StoreError(f"store URL {shown!r}: the host is missing ({forms})")
        database = unquote(parts.path.strip("/")) or DEFAULT_DATABASE
        if not _IDENTIFIER.match(database):
            raise StoreError(
                f"store URL {shown!r}: the part after the last / is not a valid database "
                "name (letters, digits and _)"
            )
        try:
            port = parts.port or (8443 if parts.scheme == "https" else 8123)
        except ValueError:
            raise StoreError(f"store URL {shown!r}: the port is not a number") from None
        return StoreUrl(
            kind="http",
            database=database,
            host=parts.hostname,
            port=port,
            username=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            secure=parts.scheme == "https",
        )
    raise StoreError(f"store URL {shown!r}: unknown scheme {parts.scheme!r} ({forms})")


_OPEN_CHDB: Counter[Path] = Counter()
"""chDB directories this process has open (clients of one process share the engine)."""


@dataclass
class Store:
    """An open client on the store's database. Not thread-safe: one per thread of work."""

    client: Any
    url: StoreUrl
    closed: bool = False

    @property
    def database(self) -> str:
        return self.url.database

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.client.close()
        if self.url.path is not None:
            _OPEN_CHDB[self.url.path] -= 1


def connect(url: str | None = None, *, create: bool = True, connect_timeout: float = 10.0) -> Store:
    """Open the store at `url` (or the default). Raises `StoreUnavailable`/`StoreLocked`,
    and `StoreMissing` for a chDB folder that does not exist when `create` is False.

    The client is bound to the dossierflow database when it exists, so every query can use
    unqualified table names; `migrate` creates it otherwise.
    """
    parsed = parse_store_url(url or default_url())
    # Imported here: commands that never open the store should not pay for the driver.
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import ClickHouseError

    try:
        if parsed.kind == "chdb":
            assert parsed.path is not None
            if not create and not parsed.path.is_dir():
                raise StoreMissing(
                    f"there is no store at {parsed.display}; give the store that "
                    f"`dossierflow sink` or `migrate` wrote (--store or {URL_ENV})"
                )
            parsed.path.mkdir(parents=True, exist_ok=True)
            if _OPEN_CHDB[parsed.path] <= 0 and _held_elsewhere(parsed.path):
                raise _locked(parsed)
            client = clickhouse_connect.get_client(dsn=f"chdb://{parsed.path}")
            _OPEN_CHDB[parsed.path] += 1
        else:
            client = clickhouse_connect.get_client(
                host=parsed.host,
                port=parsed.port,
                username=parsed.username,
                password=parsed.password,
                secure=parsed.secure,
                connect_timeout=connect_timeout,
                autogenerate_session_id=False,
            )
    except ClickHouseError as exc:
        raise _unavailable(parsed, exc) from None
    except OSError as exc:
        raise StoreUnavailable(f"store {parsed.display}: {exc}") from None
    store = Store(client=client, url=parsed)
    if _database_exists(store):
        client.database = parsed.database
    return store


def _held_elsewhere(path: Path) -> bool:
    """Whether another process has the chDB engine open on `path`.

    The engine takes an exclusive flock on `<path>/status` while it runs. Probing it first
    spares the user the engine's own lock error on stderr; the probe is skipped when this
    process already has the directory open, since its own lock would answer "held".
    """
    try:
        fd = os.open(path / "status", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _locked(url: StoreUrl) -> StoreLocked:
    return StoreLocked(
        f"the store {url.display} is in use by another process (chDB allows one process "
        "per data directory; normally a running `dossierflow sink` owns it)"
    )


def _unavailable(url: StoreUrl, exc: Exception) -> StoreUnavailable:
    text = str(exc)
    if url.kind == "chdb" and url.path is not None and _held_elsewhere(url.path):
        return _locked(url)
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return StoreUnavailable(f"store {url.display} is unreachable: {first_line}")


def _database_exists(store: Store) -> bool:
    rows = store.client.query(
        "SELECT count() FROM system.databases WHERE name = {db:String}",
        parameters={"db": store.database},
    ).result_rows
    return bool(rows[0][0])


def count_facts(store: Store) -> int:
    """How many fact rows the store holds, over all time."""
    rows = store.client.query("SELECT count() FROM dossier_facts").result_rows
    return int(rows[0][0])


def require_migrated(store: Store) -> None:
    """Fail with a useful message when `dossierflow migrate` has not run on this store."""
    rows = store.client.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} "
        "AND name IN ('schema_migrations', 'dossier_facts')",
        parameters={"db": store.database},
    ).result_rows
    if rows[0][0] < 2:
        raise StoreNotMigrated(
            f"the store {store.url.display} has no dossierflow tables; "
            f"run `dossierflow migrate --store {store.url.display}` first"
        )


# --- migrations -----------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        """The statements of the file: `--` comment lines dropped, split at `;` line ends."""
        lines = [line for line in self.sql.splitlines() if not line.lstrip().startswith("--")]
        chunks = re.split(r";[ \t]*(?:\n|$)", "\n".join(lines))
        return [chunk.strip() for chunk in chunks if chunk.strip()]


def bundled_migrations() -> list[Migration]:
    """The numbered DDL files shipped in `dossierflow.schemas/clickhouse`, in order."""
    folder = resources.files("dossierflow.schemas").joinpath("clickhouse")
    files = {entry.name: entry.read_text(encoding="utf-8") for entry in folder.iterdir()}
    return parse_migrations(files)


def parse_migrations(files: Mapping[str, str]) -> list[Migration]:
    """Order `NNN_name.sql` files by number; other names and duplicate numbers are errors."""
    found: dict[int, Migration] = {}
    for filename, sql in files.items():
        match = _MIGRATION_NAME.match(filename)
        if not match:
            raise MigrationError(f"migration file {filename!r}: the name must be NNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"migration files {found[version].name!r} and {filename!r} "
                f"share the number {version:03d}"
            )
        found[version] = Migration(version=version, name=filename, sql=sql)
    return [found[v] for v in sorted(found)]


ROLLUP_VIEWS = ("unit_day_changes_mv",)
"""The refreshable materialized views (migration 008) that rebuild the dashboards' rollups."""


_WRITTEN_THIS_SECOND_SQL = (
    "SELECT intDiv(max(toUnixTimestamp64Milli(inserted_at)), 1000) >= toUnixTimestamp(now()) "
    "FROM dossier_facts"
)


def refresh_rollups(store: Store) -> None:
    """Rebuild the rollups now and wait until they are in place (resuming their refreshes
    if `pause_rollup_refreshes` stopped them in this process).

    They refresh on their own every minute; call this where a reader must see every fact
    written so far (tests, benchmarks, right after a bulk load). Refresh times have whole
    seconds, so it starts the rebuild in a second after the newest write: the dashboards can
    then tell that it counts every fact (`RollupState.behind`).
    """
    while store.client.query(_WRITTEN_THIS_SECOND_SQL).result_rows[0][0]:
        time.sleep(0.05)
    for view in ROLLUP_VIEWS:
        store.client.command(f"SYSTEM START VIEW {view}")
        store.client.command(f"SYSTEM REFRESH VIEW {view}")
        store.client.command(f"SYSTEM WAIT VIEW {view}")


def pause_rollup_refreshes(store: Store) -> None:
    """Stop the embedded engine of this process from rebuilding the rollups.

    chDB runs the engine inside whichever process opens the store, and the engine starts a
    rebuild at once (2-4 s of CPU over ten million facts) and then every minute. The sink,
    which serves the dashboards, wants that; a one-shot command (report, migrate, replay)
    does not read the rollups and would only compete with its own work. Not persisted: the
    next process to open the store refreshes again. A ClickHouse server runs the refreshes
    itself for everyone, so nothing is stopped there.
    """
    if store.url.kind != "chdb":
        return
    present = store.client.query(
        "SELECT view FROM system.view_refreshes WHERE database = currentDatabase()"
    ).result_rows
    for (view,) in present:
        if view in ROLLUP_VIEWS:
            store.client.command(f"SYSTEM STOP VIEW {view}")


MINIMUM_SERVER_VERSION = (24, 10)
"""The ClickHouse release migration 008 and later need: refreshable materialized views without
the experimental setting (generally available from 24.10; experimental since 23.12), `SYSTEM
WAIT VIEW` (24.1) and `system.view_refreshes.last_success_time`. Tested on chDB's engine 26.9."""

_NEEDS_MINIMUM_FROM = 8
"""The first migration that needs `MINIMUM_SERVER_VERSION` (its refreshable view)."""


def parse_server_version(text: str) -> tuple[int, ...]:
    """`version()`'s answer as numbers: '24.10.2.80' -> (24, 10, 2, 80)."""
    match = re.match(r"(\d+(?:\.\d+)*)", text.strip())
    if not match:
        raise MigrationError(f"ClickHouse answered version() with {text!r}, not a version")
    return tuple(int(part) for part in match.group(1).split("."))


def server_version_problem(server_version: str, migration: Migration) -> str | None:
    """Why the server cannot take `migration`, in one line, or None when it can."""
    if migration.version < _NEEDS_MINIMUM_FROM:
        return None
    if parse_server_version(server_version) >= MINIMUM_SERVER_VERSION:
        return None
    needed = ".".join(map(str, MINIMUM_SERVER_VERSION))
    return (
        f"migration {migration.name} needs ClickHouse {needed} or later (refreshable "
        f"materialized views); this server is {server_version}: upgrade it, then run "
        "`dossierflow migrate` again"
    )


ERROR_SUMMARY_CHARS = 300
"""An error's summary at most (the engine's messages can quote the whole query)."""


def error_summary(exception: str) -> str | None:
    """An engine error's message without its stack trace, shortened ('' is no error)."""
    start = exception.find("Code: ")  # the HTTP driver puts its own line before the server's
    first = exception[max(start, 0) :].split(", Stack trace", 1)[0].split("\n", 1)[0].strip()
    if len(first) > ERROR_SUMMARY_CHARS:
        return first[: ERROR_SUMMARY_CHARS - 1] + "…"
    return first or None


def _first_line(statement: str) -> str:
    line = statement.splitlines()[0].strip()
    return line if len(line) <= 80 else line[:79] + "…"


_SCHEMA_MIGRATIONS_DDL = f"""
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, '{TIME_ZONE_NAME}') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""


def applied_migrations(store: Store) -> dict[int, tuple[str, str]]:
    rows = store.client.query(
        "SELECT version, name, checksum FROM schema_migrations FINAL"
    ).result_rows
    return {int(version): (name, checksum) for version, name, checksum in rows}


def pending_migrations(store: Store) -> list[Migration]:
    """The bundled migrations the store has not applied, read with SELECT only (a user that
    may not migrate, the sink's, can tell whether `dossierflow migrate` must run first)."""
    if not _database_exists(store):
        return bundled_migrations()
    exists = store.client.command(f"EXISTS TABLE `{store.database}`.schema_migrations")
    if str(exists).strip() != "1":
        return bundled_migrations()
    applied = applied_migrations(store)
    return [migration for migration in bundled_migrations() if migration.version not in applied]


def migrate(store: Store, migrations: list[Migration] | None = None) -> list[str]:
    """Apply the migrations not applied yet; returns their names. Safe to run twice.

    Every statement is `IF NOT EXISTS`, and a migration is recorded only after all its
    statements ran, so an interrupted run is completed by the next one. A statement the server
    refuses, or a server older than `MINIMUM_SERVER_VERSION` for migration 008 on, is a
    `MigrationError` naming the file (and the statement). An applied file
    whose text changed is refused: the fix is a new numbered file, never an edit.
    """
    from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

    todo = bundled_migrations() if migrations is None else migrations
    client = store.client
    try:
        client.command(f"CREATE DATABASE IF NOT EXISTS `{store.database}`")
        client.database = store.database
        client.command(_SCHEMA_MIGRATIONS_DDL)
    except DatabaseError as exc:
        if isinstance(exc, OperationalError):
            raise
        raise MigrationError(
            f"store {store.url.display} may not be migrated by this user: "
            f"{error_summary(str(exc)) or type(exc).__name__}; run `dossierflow migrate` with "
            "the user that owns the schema (deploy/clickhouse/process_users.sql)"
        ) from exc
    applied = applied_migrations(store)
    done: list[str] = []

    server_version: str | None = None
    for migration in todo:
        if migration.version in applied:
            name, checksum = applied[migration.version]
            if checksum != migration.checksum:
                raise MigrationError(
                    f"migration {migration.name} differs from the applied {name} "
                    f"(checksum {checksum[:12]} in the store); add a new numbered file instead"
                )
            continue
        if migration.version >= _NEEDS_MINIMUM_FROM and server_version is None:
            server_version = str(client.command("SELECT version()"))
        if server_version is not None and (
            problem := server_version_problem(server_version, migration)
        ):
            raise MigrationError(problem)
        for statement in migration.statements():
            try:
                client.command(statement)
            except DatabaseError as exc:
                if isinstance(exc, OperationalError):  # unreachable: not the statement's fault
                    raise
                raise MigrationError(
                    f"migration {migration.name} failed at `{_first_line(statement)}`: "
                    f"{error_summary(str(exc)) or type(exc).__name__}"
                ) from exc
        client.insert(
            "schema_migrations",
            [[migration.version, migration.name, migration.checksum]],
            column_names=["version", "name", "checksum"],
        )
        done.append(migration.name)
    return done

