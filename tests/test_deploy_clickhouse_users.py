"""deploy/clickhouse/apply_users.py, run by the Kubernetes Job clickhouse-setup and the
systemd oneshot dossierflow-clickhouse-users, creates the ClickHouse user of migrate and of
the sink with the password of the store URL each process logs in with.

No ClickHouse server runs here (Debian ships none, and chDB has no SQL users: CREATE USER
and CREATE ROLE find no access storage, tests/test_clickhouse_users.py), so what a server
would be sent is checked as SQL by chDB's parser (EXPLAIN AST), the refusal path runs
against chDB, and the deploy files are read against each other.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
import yaml

from deploy.clickhouse.apply_users import SQL, UsersError, main, plan, sql_string
from tests.test_deploy_files import CLICKHOUSE_SETUP, K8S, SYSTEMD, _unit_values, systemd_units

MIGRATE_URL = "https://dossierflow_migrate:m%27ig%5Cr@clickhouse.example.gov.vn:8443/dossierflow"
HOSTILE = "m'ig\\r"
"""The password of MIGRATE_URL, decoded: a quote and a backslash."""


def test_each_user_gets_the_password_of_its_url_quoted_for_clickhouse() -> None:
    planned = plan(SQL.read_text(), {"dossierflow_migrate": HOSTILE, "dossierflow_sink": "s1"})
    literal = "'m\\'ig\\\\r'"  # by hand: \' for the quote, \\ for the backslash
    assert sql_string(HOSTILE) == literal
    assert (f"CREATE USER IF NOT EXISTS dossierflow_migrate IDENTIFIED WITH sha256_password "
            f"BY {literal} DEFAULT ROLE dossierflow_migrator DEFAULT DATABASE dossierflow"
            ) in planned
    # an existing user gets the password again (rotation), right after its CREATE USER
    alter = f"ALTER USER dossierflow_migrate IDENTIFIED WITH sha256_password BY {literal}"
    assert planned[planned.index(alter) - 1].startswith("CREATE USER IF NOT EXISTS "
                                                        "dossierflow_migrate")
    assert "ALTER USER dossierflow_sink IDENTIFIED WITH sha256_password BY 's1'" in planned
    assert not [s for s in planned if "change-me" in s]
    assert [s for s in planned if s.startswith("GRANT dossierflow_sink_writer TO")]


@pytest.mark.parametrize(("passwords", "said"), [
    ({"dossierflow_migrate": "x"}, "no store URL names the user dossierflow_sink"),
    ({"dossierflow_migrate": "x", "dossierflow_sink": "y", "default": "z"},
     "the script creates no user default"),
])
def test_a_url_missing_or_of_another_user_is_refused(passwords: dict[str, str],
                                                     said: str) -> None:
    with pytest.raises(UsersError, match=said):
        plan(SQL.read_text(), passwords)


def test_what_the_server_is_sent_is_clickhouse_sql(tmp_path: Path) -> None:
    from dossierflow.store import connect

    store = connect(f"chdb://{tmp_path / 'syntax'}")
    try:
        for statement in plan(SQL.read_text(), {"dossierflow_migrate": HOSTILE,
                                                "dossierflow_sink": "s'1"}):
            assert str(store.client.command(f"EXPLAIN AST {statement}")).strip(), statement
    finally:
        store.close()


def test_a_refusal_names_the_statement_and_never_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "admin").write_text(f"chdb://{tmp_path / 'store'}\n")  # chDB: no users
    (tmp_path / "migrate").write_text(MIGRATE_URL + "\n")
    (tmp_path / "sink").write_text(
        "https://dossierflow_sink:s3cret-sink@clickhouse.example.gov.vn:8443/dossierflow\n")
    code = main(["--admin-url-file", str(tmp_path / "admin"), str(tmp_path / "migrate"),
                 str(tmp_path / "sink")])
    err = capsys.readouterr().err
    assert code == 1
    assert "ClickHouse refused 'CREATE ROLE IF NOT EXISTS dossierflow_migrator': " in err
    for secret in ("s3cret-sink", HOSTILE, "m%27ig"):
        assert secret not in err


def test_a_url_file_that_cannot_be_read_is_said_and_nothing_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--admin-url-file", str(tmp_path / "admin"), str(tmp_path / "missing")])
    assert code == 2 and f"cannot read {tmp_path / 'missing'}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("urls", "said"),
    [
        ({"migrate": "https://dossierflow_migrate@ch.example:8443/d"},
         "migrate: the store URL of dossierflow_migrate has no password"),
        ({"a": "https://dossierflow_sink:one@ch.example:8443/d",
          "b": "https://dossierflow_sink:two@ch.example:8443/d"},
         "a and b give the user dossierflow_sink two passwords"),
    ],
)
def test_an_empty_password_or_two_passwords_for_one_user_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], urls: dict[str, str], said: str
) -> None:
    """A mistyped secret file must not reset a user that can run DDL to no password."""
    for name, url in urls.items():
        (tmp_path / name).write_text(url + "\n")
    code = main(["--admin-url-file", str(tmp_path / "admin"),
                 *(str(tmp_path / name) for name in urls)])
    err = capsys.readouterr().err
    assert code == 2
    assert said.replace("migrate:", f"{tmp_path / 'migrate'}:").replace(
        "a and b", f"{tmp_path / 'a'} and {tmp_path / 'b'}") in err


# --- the deploy files ------------------------------------------------------------------


def _k8s(name: str) -> dict[str, object]:
    return dict(yaml.safe_load((K8S / name).read_text()))


def test_kubernetes_runs_the_script_with_the_store_urls_of_the_processes() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    generated = {g["name"]: dict(e.split("=", 1) for e in g["files"])
                 for g in kustomization["secretGenerator"] + kustomization["configMapGenerator"]}
    assert "clickhouse-setup.yaml" in kustomization["resources"]
    pod = _k8s("clickhouse-setup.yaml")["spec"]["template"]["spec"]  # type: ignore[index]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}

    def source(path: str) -> str:
        """The installation's file a container path is made from."""
        folder, _, key = path.rpartition("/")
        volume = mounts[folder]
        name = volume["secret"]["secretName"] if "secret" in volume else (
            volume["configMap"]["name"])
        return str(generated[name][key])

    script, *args = container["command"][1:] + container["args"]
    assert source(script) == "../clickhouse/apply_users.py"
    assert source(args[args.index("--sql") + 1]) == "../clickhouse/process_users.sql"
    url_files = [a for a in args[args.index("--sql") + 2:]]
    assert sorted(source(f) for f in url_files) == sorted(
        [generated["dossierflow-migrate"]["clickhouse-url"],
         generated["dossierflow-sink"]["clickhouse-url"]])
    assert "admin-url" in source(args[args.index("--admin-url-file") + 1])


def test_systemd_creates_the_users_before_migrate_with_the_processes_own_credentials() -> None:
    units = systemd_units()
    unit = units[CLICKHOUSE_SETUP]
    (command,) = _unit_values(unit, "ExecStart")
    credentials = dict(line.split(":", 1) for line in _unit_values(unit, "LoadCredential"))

    def loaded(other: configparser.ConfigParser) -> str:
        (line,) = [c for c in _unit_values(other, "LoadCredential")
                   if c.startswith("clickhouse-url:")]
        return line.split(":", 1)[1]

    given = [credentials[word.removeprefix("${CREDENTIALS_DIRECTORY}/")]
             for word in command.split() if word.startswith("${CREDENTIALS_DIRECTORY}/")]
    assert sorted(given[1:]) == sorted([loaded(units["dossierflow-migrate.service"]),
                                        loaded(units["dossierflow-sink.service"])])
    assert given[0] == "/etc/dossierflow/credentials/clickhouse-setup/admin-url"
    readme = (SYSTEMD / "README.md").read_text()
    for path in (command.split()[1], command.split()[command.split().index("--sql") + 1]):
        assert Path(path).name in readme and str(Path(path).parent) in readme, path
    migrate = units["dossierflow-migrate.service"]["Unit"]
    assert CLICKHOUSE_SETUP in migrate["Requires"] and CLICKHOUSE_SETUP in migrate["After"]
