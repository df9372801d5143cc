"""Settings: declared once, validated with the variable's name, documented from the models."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.gen_config_docs import REFERENCE, with_reference
from dossierflow.commands.produce import ProduceSettings
from dossierflow.config import ConfigError, StoreSettings, effective, load
from dossierflow.logs import RateLimitFilter, StartupTransientFilter
from dossierflow.notify.settings import smtp_settings
from dossierflow.sinks.settings import SinkSettings
from dossierflow.streams.settings import WorkerSettings


def test_the_configuration_reference_is_the_generated_one() -> None:
    text = REFERENCE.read_text()
    assert with_reference(text) == text, "run: .venv/bin/python deploy/gen_config_docs.py"


def test_every_setting_is_described() -> None:
    from dossierflow.commands.config import PROCESSES, model
    from dossierflow.config import describe

    for paths in PROCESSES.values():
        for path in paths:
            for entry in describe(model(path)):
                assert entry.help, f"{entry.env} has no description"


def test_variables_then_options_override_the_defaults() -> None:
    settings = WorkerSettings.from_env(
        {"DOSSIERFLOW_BATCH_SIZE": "50", "DOSSIERFLOW_EVENT_TIME": "yes",
         "DOSSIERFLOW_CATALOG": "/etc/c.yaml", "DOSSIERFLOW_APP_ID": "a"},
        app_id="b",
    )
    assert settings.batch_size == 50 and settings.event_time is True
    assert settings.catalog == Path("/etc/c.yaml") and settings.app_id == "b"
    assert WorkerSettings.from_env({}).partitions == 4


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DOSSIERFLOW_BATCH_SIZE": "many"},
         "DOSSIERFLOW_BATCH_SIZE='many': expected a whole number"),
        ({"DOSSIERFLOW_EVENT_TIME": "maybe"},
         "DOSSIERFLOW_EVENT_TIME='maybe': expected true or false"),
        ({"DOSSIERFLOW_PARTITIONS": "0"}, "DOSSIERFLOW_PARTITIONS='0': must be at least 1"),
        ({"DOSSIERFLOW_STORE": "redis://"}, "DOSSIERFLOW_STORE='redis://': expected one of"),
    ],
)
def test_a_bad_variable_is_named_in_the_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WorkerSettings.from_env(env)
    assert str(caught.value).startswith(message)


def test_a_bad_option_is_named_with_its_variable() -> None:
    with pytest.raises(ConfigError, match=r"^--partitions \(or DOSSIERFLOW_PARTITIONS\)=0: "):
        WorkerSettings.from_env({}, partitions=0)


def test_the_sink_has_variables_of_its_own_where_the_worker_has_the_same_name() -> None:
    env = {"DOSSIERFLOW_BATCH_SIZE": "7", "DOSSIERFLOW_SINK_BATCH_SIZE": "9"}
    assert WorkerSettings.from_env(env).batch_size == 7
    assert SinkSettings.from_env(env).batch_size == 9


def test_the_former_bootstrap_variable_of_produce_still_works_with_a_warning() -> None:
    warnings: list[str] = []
    settings = load(ProduceSettings, {"DOSSIERFLOW_KAFKA_BOOTSTRAP": "k:1"}, warn=warnings.append)
    assert settings.bootstrap == "k:1"
    assert warnings == ["DOSSIERFLOW_KAFKA_BOOTSTRAP is deprecated; use DOSSIERFLOW_BOOTSTRAP"]
    both = {"DOSSIERFLOW_KAFKA_BOOTSTRAP": "k:1", "DOSSIERFLOW_BOOTSTRAP": "k:2"}
    assert load(ProduceSettings, both, warn=warnings.append).bootstrap == "k:2"


def test_config_command_masks_secrets() -> None:
    env = {
        "DOSSIERFLOW_CLICKHOUSE_URL": "https://reader:s3cret@ch.example:8443/dossiers",
        "DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "DOSSIERFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "DOSSIERFLOW_KAFKA_SASL_USERNAME": "sink",
        "DOSSIERFLOW_KAFKA_SASL_PASSWORD": "hunter2",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run([sys.executable, "-m", "dossierflow.cli", "config", "--process", "sink"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "s3cret" not in done.stdout and "hunter2" not in done.stdout
    lines = done.stdout.splitlines()
    assert "DOSSIERFLOW_CLICKHOUSE_URL=https://reader:***@ch.example:8443/dossiers" in lines
    assert "DOSSIERFLOW_KAFKA_SASL_PASSWORD=***" in lines
    assert "DOSSIERFLOW_KAFKA_SASL_USERNAME=sink" in lines


def test_effective_lists_every_variable_of_the_model() -> None:
    rows = dict(effective(SinkSettings.from_env({"DOSSIERFLOW_SINK_BATCH_SIZE": "500"})))
    assert rows["DOSSIERFLOW_SINK_BATCH_SIZE"] == "500"
    assert rows["DOSSIERFLOW_BOOTSTRAP"] == "localhost:9092"


def _record(name: str, message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, args, None)


def test_a_group_coordinator_error_is_held_back_during_a_start_and_shown_after_it() -> None:
    now = [100.0]
    startup = StartupTransientFilter(grace=30, clock=lambda: now[0])
    transient = _record("aiokafka.consumer.group_coordinator",
                        "Group Coordinator Request failed: %s", "[Error 15]")
    other = _record("aiokafka.consumer.group_coordinator", "Error sending JoinGroup")
    assert not startup.filter(transient) and startup.filter(other)
    now[0] = 131.0  # still failing after the start: a real problem, shown
    assert startup.filter(transient)


def test_kafka_client_errors_are_let_through_once_then_at_a_bounded_rate() -> None:
    now = [0.0]
    limit = RateLimitFilter(interval=30, clock=lambda: now[0])
    passed = []
    for second in range(0, 61):  # 70 failed attempts a second for a minute
        now[0] = float(second)
        for _ in range(70):
            record = _record("aiokafka.conn", "Unable connect to %s: %s", "k:9092", "refused")
            if limit.filter(record):
                passed.append(record.getMessage())
    assert passed == [
        "Unable connect to k:9092: refused",
        "Unable connect to k:9092: refused (2099 like it held back in the last 30 s)",
        "Unable connect to k:9092: refused (2099 like it held back in the last 30 s)",
    ]
    assert limit.filter(_record("dossierflow.streams", "ready: %s", "x"))  # ours: never limited
    assert limit.filter(_record("dossierflow.streams", "ready: %s", "x"))


def test_config_command_shows_the_data_home_paths_used_by_default(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "dossierflow.cli", "config"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    home = tmp_path / "data" / "dossierflow"
    assert f"DOSSIERFLOW_CLICKHOUSE_URL=chdb://{home / 'clickhouse'} (default)" in lines
    assert f"DOSSIERFLOW_KAFKA_DATA_DIR={(home / 'kafka').resolve()} (default)" in lines
    # The catalogue in effect when none is given is the shipped one, and it is that file.
    import dossierflow

    shipped = Path(dossierflow.__file__).parent / "data" / "catalog.yaml"
    assert shipped.is_file()
    for variable in ("DOSSIERFLOW_CATALOG", "DOSSIERFLOW_NOTIFY_CATALOG"):
        assert f"{variable}={shipped} (default)" in lines


def test_a_setting_given_is_shown_as_given_and_not_as_a_default(tmp_path: Path) -> None:
    from dossierflow.config import StoreSettings
    from dossierflow.kafka.local_broker import LocalBrokerSettings

    env = {"DOSSIERFLOW_KAFKA_DATA_DIR": str(tmp_path / "k"),
           "DOSSIERFLOW_CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}",
           "XDG_DATA_HOME": str(tmp_path / "elsewhere")}
    rows = dict(effective(LocalBrokerSettings.from_env(env), env))
    rows.update(effective(StoreSettings.from_env(env), env))
    assert rows["DOSSIERFLOW_KAFKA_DATA_DIR"] == str(tmp_path / "k")
    assert rows["DOSSIERFLOW_CLICKHOUSE_URL"] == f"chdb://{tmp_path / 'ch'}"


# Faust's timer ticks as the worker's event loop runs it: due at 1 s, woken at 2.5 s because a
# burst of events kept the loop busy, then its callback ran for 1.5 s, longer than the interval.
LATE_TIMER = """
import sys
from mode.timers import Timer
from dossierflow import logs
logs.configure(sys.argv[1])
now = [0.0]
timer = Timer(1.0, name="DossierWorker._on_timer", clock=lambda: now[0])
timer.tick()
now[0] = 2.5
timer.on_before_yield()
now[0] = 4.0
timer.tick()
"""


@pytest.mark.parametrize(
    ("level", "shown"), [("warning", False), ("info", False), ("debug", True)]
)
def test_timer_drift_of_a_busy_worker_is_said_only_at_debug(level: str, shown: bool) -> None:
    done = subprocess.run([sys.executable, "-c", LATE_TIMER, level], capture_output=True,
                          text=True, timeout=60, check=True)
    said = [line for line in done.stderr.splitlines() if "mode.timers" in line]
    expected = ["Timer DossierWorker._on_timer woke up too late",
                "Timer DossierWorker._on_timer is overlapping"]
    assert [any(text in line for line in said) for text in expected] == [shown, shown], said


def test_a_secret_setting_is_read_from_the_file_its_file_variable_names(tmp_path: Path) -> None:
    # A Docker/Kubernetes secret or a systemd credential: one line, ending with a newline.
    secret = tmp_path / "smtp-password"
    secret.write_text("Mật khẩu $ ' \\ \n")
    settings = smtp_settings({"DOSSIERFLOW_SMTP_PASSWORD_FILE": str(secret)})
    assert settings.password == "Mật khẩu $ ' \\ "
    store = StoreSettings.from_env({"DOSSIERFLOW_CLICKHOUSE_URL_FILE": str(secret)})
    assert store.clickhouse_url == "Mật khẩu $ ' \\ "


def test_a_secret_file_that_cannot_be_read_or_given_twice_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(ConfigError, match=f"DOSSIERFLOW_SMTP_PASSWORD_FILE: cannot read {missing}"):
        smtp_settings({"DOSSIERFLOW_SMTP_PASSWORD_FILE": str(missing)})
    with pytest.raises(ConfigError, match="only one of DOSSIERFLOW_SMTP_PASSWORD and "):
        smtp_settings({"DOSSIERFLOW_SMTP_PASSWORD_FILE": str(missing),
                       "DOSSIERFLOW_SMTP_PASSWORD": "x"})


def test_a_setting_that_is_no_secret_has_no_file_variable(tmp_path: Path) -> None:
    value = tmp_path / "host"
    value.write_text("smtp.example.gov.vn\n")
    assert smtp_settings({"DOSSIERFLOW_SMTP_HOST_FILE": str(value)}).host != "smtp.example.gov.vn"
