"""Create each process's ClickHouse user (process_users.sql) with the password of the store
URL that process logs in with, as ClickHouse's administrator. The Kubernetes Job
clickhouse-setup and the systemd oneshot dossierflow-clickhouse-users.service run it:

    python apply_users.py --admin-url-file FILE [--sql process_users.sql] URL_FILE...

Each URL_FILE is a process's own store URL secret (migrate's, the sink's), so a password
lives in one place for the user and its process. Idempotent: CREATE ... IF NOT EXISTS keeps
what exists and an ALTER USER after each CREATE USER sets the password again, so a rotated
password is applied by running it again. No password is printed.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from dossierflow.store import StoreError, StoreUrl, connect, parse_store_url

PLACEHOLDER = "'change-me'"
SQL = Path(__file__).resolve().with_name("process_users.sql")
_CREATE_USER = re.compile(r"CREATE USER IF NOT EXISTS (\w+) ")


class UsersError(Exception):
    """The script and the URLs do not fit together."""


def sql_string(text: str) -> str:
    """A ClickHouse string literal holding `text`."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def statements(sql: str) -> list[str]:
    """The script's statements, comments left out, each on one line."""
    text = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [" ".join(part.split()) for part in text.split(";") if part.strip()]


def plan(sql: str, passwords: Mapping[str, str]) -> list[str]:
    """The script's statements with each user's password, and an ALTER USER after each
    CREATE USER that sets it on a user that already exists."""
    planned: list[str] = []
    created: set[str] = set()
    for statement in statements(sql):
        match = _CREATE_USER.match(statement)
        if match is None:
            planned.append(statement)
            continue
        user = match.group(1)
        if user not in passwords:
            raise UsersError(f"no store URL names the user {user}: give its process's URL file")
        if PLACEHOLDER not in statement:
            raise UsersError(f"the CREATE USER of {user} has no {PLACEHOLDER} to replace")
        literal = sql_string(passwords[user])
        planned += [statement.replace(PLACEHOLDER, literal),
                    f"ALTER USER {user} IDENTIFIED WITH sha256_password BY {literal}"]
        created.add(user)
    unknown = sorted(set(passwords) - created)
    if unknown:
        raise UsersError(f"the script creates no user {', '.join(unknown)} (its URL's user)")
    return planned


def process_passwords(urls: Mapping[Path, StoreUrl]) -> dict[str, str]:
    """Each process user's password from its store URL; an empty one (a mistyped secret file
    would reset a user that can run DDL to no password) or two URL files that give one user
    two passwords are refused, naming the files."""
    passwords: dict[str, str] = {}
    source: dict[str, Path] = {}
    for path, url in urls.items():
        if not url.password:
            raise UsersError(f"{path}: the store URL of {url.username} has no password")
        if url.username in passwords and passwords[url.username] != url.password:
            raise UsersError(f"{source[url.username]} and {path} give the user "
                             f"{url.username} two passwords")
        passwords[url.username], source[url.username] = url.password, path
    return passwords


def refusal(statement: str, exc: Exception) -> str:
    """The statement up to its first string (never a password) and the error's name."""
    head = statement.split("'")[0].strip()
    name = re.search(r"\(([A-Z_]+)\)", str(exc))
    return f"{head!r}: {name.group(1) if name else type(exc).__name__}"


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise UsersError(f"cannot read {path}: {exc.strerror}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url-file", type=Path, required=True,
                        help="file with the administrator's store URL (https://...)")
    parser.add_argument("--sql", type=Path, default=SQL, help="default: %(default)s")
    parser.add_argument("url_files", nargs="+", type=Path, metavar="URL_FILE",
                        help="a process's store URL file (its user and password)")
    args = parser.parse_args(argv)
    try:
        urls = {path: parse_store_url(_read(path)) for path in args.url_files}
        passwords = process_passwords(urls)
        planned = plan(_read(args.sql), passwords)
        store = connect(_read(args.admin_url_file))
    except (UsersError, StoreError) as exc:
        print(f"apply_users: {exc}", file=sys.stderr)
        return 2
    try:
        for statement in planned:
            try:
                store.client.command(statement)
            except Exception as exc:
                print(f"apply_users: ClickHouse refused {refusal(statement, exc)}",
                      file=sys.stderr)
                return 1
    finally:
        store.close()
    print(f"apply_users: users {', '.join(sorted(passwords))} created or updated; "
          f"{len(planned)} statements")
    return 0


if __name__ == "__main__":
    sys.exit(main())
