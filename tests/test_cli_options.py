"""The options of the commands of `COMMANDS` are their settings' own: each setting with an
option is that flag in the command's help, with its variable and the default in effect; every
flag a command takes is a setting (but what says what this run does: a request such as
`--check`, an input such as `--seed`); the option beats the variable, which beats the default.
Every DOSSIERFLOW_* name the product's code and documents mention is a declared setting."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dossierflow.cli import build_parser
from dossierflow.commands.config import PROCESSES, model
from dossierflow.commands.golive import WORKER_OPTIONS
from dossierflow.commands.produce import ProduceSettings
from dossierflow.commands.setting_options import settings_from
from dossierflow.commands.simulate import PRODUCE_OPTIONS
from dossierflow.config import (
    SECRET_FILE_SUFFIX,
    CatalogSettings,
    StoreSettings,
    describe,
    display,
)
from dossierflow.intake.settings import IntakeSettings
from dossierflow.kafka.local_broker import LocalBrokerSettings
from dossierflow.notify.settings import NotifySettings
from dossierflow.sinks.settings import SinkSettings
from dossierflow.streams.settings import WorkerSettings
from tests.import_probe import modules_imported_by

ROOT = Path(__file__).resolve().parents[1]

Options = list[tuple[type, tuple[str, ...]]]
LOCAL_BROKER: Options = [(LocalBrokerSettings, ())]
KAFKA_RIGHTS: Options = [(WorkerSettings, ("bootstrap",))]
COMMANDS: dict[str, Options] = {
    "worker": [(WorkerSettings, ())],
    "sink": [(SinkSettings, ()), (StoreSettings, ("clickhouse_url",))],
    "notify": [(NotifySettings, ())],
    "migrate": [(StoreSettings, ("clickhouse_url",))],
    "calendar": [(CatalogSettings, ())],
    "simulate": [(ProduceSettings, PRODUCE_OPTIONS)],
    "kafka start": LOCAL_BROKER,
    "kafka stop": LOCAL_BROKER,
    "kafka status": LOCAL_BROKER,
    "kafka acls": KAFKA_RIGHTS,
    "kafka users": KAFKA_RIGHTS,
    "config": [],
    "report": [(CatalogSettings, ()), (StoreSettings, ())],
    "replay": [(CatalogSettings, ())],
    "produce": [(ProduceSettings, ())],
    "golive": [(WorkerSettings, WORKER_OPTIONS), (StoreSettings, ("clickhouse_url",))],
    "intake": [(IntakeSettings, ())],
    "demo": [],
}
"""The settings models each command takes options from (all their options, or those named)."""

REQUESTS = {
    "notify": {"--test", "--check"},
    "calendar": {"--format"},
    "simulate": {"--profile", "--start", "--days", "--count", "--seed", "--today", "--out",
                 "--produce", "--rate", "--format"},
    "kafka acls": {"--dry-run"},
    "kafka users": {"--dry-run", "--password-dir"},
    "config": {"--process", "--markdown"},
    "report": {"--from", "--to", "--through", "--unit", "--level", "--outcome-reading",
               "--appointment", "--index", "--format", "--lang"},
    "replay": {"--as-of", "--jobs", "--store"},
    "produce": {"--timeout", "--no-progress"},
    "golive": {"--as-of", "--sort-dir", "--sort-buffer"},
    "intake": {"--out", "--produce"},
    "demo": {"--profile", "--seed", "--days", "--rate", "--dir", "--kafka-port", "--http-port",
             "--smtp-port", "--worker-metrics-port", "--notify-metrics-port", "--exit-when-done",
             "--lang"},
}
"""Options that say what this run does (a request, or its input), not how a process is
configured: no variable stands for them."""
EVERY_COMMAND = {"-h", "--help", "--debug"}


def dossierflow(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The command in a process of its own, with no DOSSIERFLOW_* variable but `env`'s, and a
    terminal wide enough that argparse writes each option's help on one line."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DOSSIERFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", *args], cwd=cwd, capture_output=True,
        text=True, timeout=120,
        env={**clean, "COLUMNS": "1000", "XDG_DATA_HOME": str(cwd / "data"), **(env or {})},
    )


def help_entries(text: str) -> dict[str, str]:
    """Each option string of an argparse help -> its entry's help, on one line."""
    entries: list[tuple[str, str]] = []
    for line in text.split("\noptions:\n", 1)[1].splitlines():
        if line.startswith("  -"):
            invocation, _, start = line.strip().partition("  ")
            entries.append((invocation, start.strip()))
        elif line.startswith("   ") and entries:
            invocation, more = entries[-1]
            entries[-1] = (invocation, f"{more} {line.strip()}".strip())
    return {
        form.split(" ")[0]: more for invocation, more in entries
        for form in invocation.split(", ")
    }


def declared_options(command: str, data_home: Path) -> list[tuple[type, str, str, str]]:
    """(model, option, variable, default in effect) of each setting the command's options are
    made from, `data_home` being $XDG_DATA_HOME."""
    rows = []
    for cls, only in COMMANDS[command]:
        for entry in describe(cls):
            if entry.option and (not only or entry.name in only):
                default = entry.default
                if entry.fallback is not None and default in (None, ""):
                    default = entry.fallback({"XDG_DATA_HOME": str(data_home)})
                rows.append((cls, entry.option, entry.env, display(default) or "none"))
    return rows


def sub_commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> list[str]:
    """Every command `parser` runs, as typed after `dossierflow` (`kafka start`, ...)."""
    chosen = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not chosen:
        return [" ".join(words)]
    return [command for name, sub in chosen[0].choices.items()
            for command in sub_commands(sub, (*words, name))]


def test_every_command_is_checked_here() -> None:
    """A new command cannot declare options by hand unseen: it must be listed above."""
    assert sorted(sub_commands(build_parser())) == sorted(COMMANDS)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_help_shows_each_setting_option_with_its_variable_and_default(
    command: str, tmp_path: Path
) -> None:
    done = dossierflow(tmp_path, *command.split(), "--help")
    assert done.returncode == 0, done.stderr
    entries = help_entries(done.stdout)
    for cls, option, variable, default in declared_options(command, tmp_path / "data"):
        assert option in entries, f"{command} --help lacks {option} ({cls.__name__})"
        expected = f"(default: {default}; env {variable})"
        assert entries[option].endswith(expected), f"{command} {option}: {entries[option]}"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_option_of_the_command_is_a_setting(command: str, tmp_path: Path) -> None:
    done = dossierflow(tmp_path, *command.split(), "--help")
    assert done.returncode == 0, done.stderr
    options = {form for form in help_entries(done.stdout) if not form.startswith("--no-")}
    settings = {option for _, option, _, _ in declared_options(command, tmp_path)}
    hand_made = options - settings - EVERY_COMMAND - REQUESTS.get(command, set())
    assert not hand_made, f"{command}: options declared by hand, not by a setting: {hand_made}"


@pytest.mark.parametrize("command", [
    ["worker"], ["calendar", "2026"], ["replay", "events.jsonl"],
    ["report", "--from", "2026-01-01", "--to", "2026-02-01"],
], ids=["worker", "calendar", "replay", "report"])
def test_the_catalogue_option_beats_its_variable_which_beats_the_default(
    command: list[str], tmp_path: Path,
) -> None:
    """The worker reads its catalogue before it looks for Kafka, the calendar before it
    prints, replay before its events, report before the store: a missing file names which
    one was read."""
    env = {"DOSSIERFLOW_CATALOG": str(tmp_path / "from-variable.yaml")}
    given = dossierflow(tmp_path, *command, "--catalog", str(tmp_path / "given.yaml"), env=env)
    assert given.returncode == 2
    assert f"catalogue {tmp_path / 'given.yaml'}: cannot read it" in given.stderr
    from_variable = dossierflow(tmp_path, *command, env=env)
    assert from_variable.returncode == 2
    assert f"catalogue {tmp_path / 'from-variable.yaml'}: cannot read it" in from_variable.stderr


def test_the_local_broker_options_beat_their_variables(tmp_path: Path) -> None:
    """`kafka status` names the data dir it looked in, and reads its timeout as a setting
    (a bad one is named before anything is looked at)."""
    env = {"DOSSIERFLOW_KAFKA_DATA_DIR": str(tmp_path / "from-variable")}
    from_variable = dossierflow(tmp_path, "kafka", "status", env=env)
    assert from_variable.returncode == 3, from_variable.stderr
    assert from_variable.stdout == f"kafka: not running (data {tmp_path / 'from-variable'})\n"
    given = dossierflow(tmp_path, "kafka", "status", "--data-dir", str(tmp_path / "given"),
                        env=env)
    assert given.stdout == f"kafka: not running (data {tmp_path / 'given'})\n"
    bad = dossierflow(tmp_path, "kafka", "status", env={"DOSSIERFLOW_KAFKA_TIMEOUT": "soon"})
    assert (bad.returncode, bad.stderr) == (
        2, "dossierflow kafka: DOSSIERFLOW_KAFKA_TIMEOUT='soon': expected a number\n")
    negative = dossierflow(tmp_path, "kafka", "stop", "--timeout", "-1")
    assert negative.stderr == (
        "dossierflow kafka: --timeout (or DOSSIERFLOW_KAFKA_TIMEOUT)=-1.0: must be at least 0\n")


def test_simulate_reads_the_settings_of_produce_with_their_options(tmp_path: Path) -> None:
    """Checked before any Kafka is asked, so no broker is needed to see which was read."""
    run = ["simulate", "--produce", "--count", "1"]
    from_variable = dossierflow(tmp_path, *run, env={"DOSSIERFLOW_PARTITIONS": "0"})
    assert (from_variable.returncode, from_variable.stderr) == (
        2, "dossierflow simulate: DOSSIERFLOW_PARTITIONS='0': must be at least 1\n")
    given = dossierflow(tmp_path, *run, "--partitions", "0", env={"DOSSIERFLOW_PARTITIONS": "4"})
    assert (given.returncode, given.stderr) == (
        2, "dossierflow simulate: --partitions (or DOSSIERFLOW_PARTITIONS)=0: must be at least 1\n")


def test_the_sink_reads_the_catalogue_variable_as_the_worker_does(tmp_path: Path) -> None:
    env = {"DOSSIERFLOW_CATALOG": str(tmp_path / "from-variable.yaml"),
           # Were the variable not read, the sink would go on to Kafka: give up at once.
           "DOSSIERFLOW_BOOTSTRAP": "127.0.0.1:9", "DOSSIERFLOW_STARTUP_WAIT": "1",
           "DOSSIERFLOW_CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}"}
    from_variable = dossierflow(tmp_path, "sink", "--http-port", "0", env=env)
    assert from_variable.returncode == 2, from_variable.stderr
    assert f"catalogue {tmp_path / 'from-variable.yaml'}: cannot read it" in from_variable.stderr
    given = dossierflow(tmp_path, "sink", "--catalog", str(tmp_path / "given.yaml"), env=env)
    assert f"catalogue {tmp_path / 'given.yaml'}: cannot read it" in given.stderr


def test_the_sink_listens_where_the_option_then_the_variable_then_the_sink_url_says(
    tmp_path: Path,
) -> None:
    """A sink that would answer a network without a token refuses to start, naming the
    address it would listen on; 10.0.0.x are never this machine's loopback."""
    env = {"DOSSIERFLOW_SINK_URL": "http://10.0.0.1:8686"}

    def refused_address(*args: str, **more: str) -> str:
        done = dossierflow(tmp_path, "sink", *args, env={**env, **more})
        assert done.returncode == 2, done.stderr
        found = re.search(r"/dashboard on (\S+) to anyone", done.stderr)
        assert found, done.stderr
        return found.group(1)

    assert refused_address() == "10.0.0.1"
    assert refused_address(DOSSIERFLOW_SINK_HTTP_HOST="10.0.0.2") == "10.0.0.2"
    assert refused_address("--http-host", "10.0.0.3", DOSSIERFLOW_SINK_HTTP_HOST="10.0.0.2") == (
        "10.0.0.3"
    )


def test_the_notifier_recipients_option_beats_its_variable_which_beats_the_default(
    tmp_path: Path,
) -> None:
    def checked(*args: str, **env: str) -> str:
        done = dossierflow(tmp_path, "notify", "--check", *args, env=env)
        assert done.returncode == 2
        return done.stderr.removeprefix("dossierflow notify: ").split(":")[0]

    assert checked() == "recipients.yaml"
    assert checked(DOSSIERFLOW_NOTIFY_RECIPIENTS="from-variable.yaml") == "from-variable.yaml"
    assert checked("--recipients", "given.yaml",
                   DOSSIERFLOW_NOTIFY_RECIPIENTS="from-variable.yaml") == "given.yaml"


def test_the_migrate_store_option_beats_its_variable_which_beats_the_default(
    tmp_path: Path,
) -> None:
    env = {"DOSSIERFLOW_CLICKHOUSE_URL": "from-variable://x"}
    given = dossierflow(tmp_path, "migrate", "--store", "given://x", env=env)
    assert "store URL 'given://x': unknown scheme" in given.stderr
    from_variable = dossierflow(tmp_path, "migrate", env=env)
    assert "store URL 'from-variable://x': unknown scheme" in from_variable.stderr
    default = dossierflow(tmp_path, "migrate")
    assert default.returncode == 0, default.stderr
    assert default.stdout.startswith(f"chdb://{tmp_path / 'data' / 'dossierflow' / 'clickhouse'}: ")


def test_a_deprecated_variable_read_for_an_option_is_said_where_the_command_says_it() -> None:
    """`produce` prints the warning in the house format, not as a Python warning."""
    said: list[str] = []
    settings = settings_from(argparse.Namespace(bootstrap=None), ProduceSettings,
                             {"DOSSIERFLOW_KAFKA_BOOTSTRAP": "old:9092"}, warn=said.append)
    assert settings.bootstrap == "old:9092"
    assert said == ["DOSSIERFLOW_KAFKA_BOOTSTRAP is deprecated; use DOSSIERFLOW_BOOTSTRAP"]
    given = settings_from(argparse.Namespace(bootstrap="new:9092"), ProduceSettings,
                          {"DOSSIERFLOW_KAFKA_BOOTSTRAP": "old:9092"}, warn=said.append)
    assert given.bootstrap == "new:9092"


def test_a_loglevel_variable_is_read_in_any_case_and_a_bad_one_is_named(tmp_path: Path) -> None:
    assert WorkerSettings.from_env({"DOSSIERFLOW_LOGLEVEL": "DEBUG"}).loglevel == "debug"
    assert SinkSettings.from_env({"DOSSIERFLOW_SINK_LOGLEVEL": "Error"}).loglevel == "error"
    done = dossierflow(tmp_path, "worker", env={"DOSSIERFLOW_LOGLEVEL": "verbose"})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "dossierflow worker: DOSSIERFLOW_LOGLEVEL='verbose': expected one of debug, info, "
        "warning, error"
    ]


def test_building_the_parser_imports_no_settings_model(tmp_path: Path) -> None:
    """A command's options are made when it runs: `dossierflow report` does not import the
    worker's catalogue nor the notifier's HTTP client."""
    code = "from dossierflow.cli import build_parser\nbuild_parser()"
    assert modules_imported_by(code, [
        "dossierflow.streams.settings", "dossierflow.notify.settings",
        "dossierflow.sinks.settings",
    ], cwd=tmp_path) == []


PRODUCT = ["src", "sinks", "streams", "rules", "schemas", "docs", "deploy", "examples",
           "README.md", "CHANGELOG.md"]
"""The product's code and documents (tests and development tools have variables of their
own)."""
NOT_SETTINGS = {
    "DOSSIERFLOW_AUDIT": "deploy/dev.sh: whether a failed dependency audit fails the run",
    "DOSSIERFLOW_AUDIT_OPTIONS": "deploy/dev.sh: the audit's options (a mirror)",
    "DOSSIERFLOW_DASHBOARD_SCREENSHOT": "the dashboard test: where to save its screenshot",
    "DOSSIERFLOW_CLICKHOUSE_HOST": "Grafana's environment (deploy/grafana/)",
    "DOSSIERFLOW_BI_PASSWORD": "Grafana's environment (deploy/grafana/)",
    "DOSSIERFLOW_BI_PASSWORD__FILE": "Grafana's environment: its image reads <NAME>__FILE",
}
"""DOSSIERFLOW_* names that are not settings of the product, and whose they are."""


def declared_variables() -> set[str]:
    """Every variable a settings model reads: its own, a deprecated alias, a secret's file."""
    names = set()
    for paths in PROCESSES.values():
        for path in paths:
            cls = model(path)
            for entry in describe(cls):
                if entry.env:
                    names.add(entry.env)
                    names.update(entry.aliases)
                    if entry.secret:
                        names.add(entry.env + SECRET_FILE_SUFFIX)
    return names


def mentions() -> dict[str, set[str]]:
    """Each DOSSIERFLOW_* name of the product's files -> the files that mention it."""
    found: dict[str, set[str]] = {}
    for top in PRODUCT:
        root = ROOT / top
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue  # images
            for name in re.findall(r"DOSSIERFLOW_[A-Z0-9_]+", text):
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def unknown_variables(named: dict[str, set[str]], declared: set[str]) -> dict[str, list[str]]:
    """The names of `named` that no setting reads (`DOSSIERFLOW_SMTP_*`, a family, is known
    when one of its members is), with the files that name them."""
    return {
        name: sorted(files) for name, files in named.items()
        if name not in declared and name not in NOT_SETTINGS
        and not (name.endswith("_") and any(d.startswith(name) for d in declared))
    }


def test_every_variable_the_product_names_is_a_declared_setting() -> None:
    unknown = unknown_variables(mentions(), declared_variables())
    assert not unknown, f"named but read by no setting: {unknown}"


def test_the_variable_check_finds_a_name_no_setting_reads() -> None:
    """The check itself: the mistake of the sink's message before the sink read
    DOSSIERFLOW_SINK_HTTP_PORT, a family without members, and what is known."""
    declared = declared_variables()
    named = {"DOSSIERFLOW_SINK_HTTP_PORTS": {"a.py"}, "DOSSIERFLOW_NOTIFY_": {"b.md"},
             "DOSSIERFLOW_NOPE_": {"c.md"}, "DOSSIERFLOW_SMTP_PASSWORD_FILE": {"d.md"},
             "DOSSIERFLOW_KAFKA_BOOTSTRAP": {"e.md"}, "DOSSIERFLOW_AUDIT": {"f.sh"}}
    assert unknown_variables(named, declared) == {
        "DOSSIERFLOW_SINK_HTTP_PORTS": ["a.py"], "DOSSIERFLOW_NOPE_": ["c.md"],
    }
    assert "DOSSIERFLOW_CATALOG" in mentions()
