"""The intake's settings (src/dossierflow/intake/settings.py): defaults, the token and its
file, the unit codes file, errors naming the variable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dossierflow.cli import main
from dossierflow.config import ConfigError
from dossierflow.intake.settings import IntakeSettings
from tests.intake_samples import jsonl, record, records_body

TOKEN = "t" * 40


def test_defaults_listen_on_loopback_and_share_kafkas_variables() -> None:
    settings = IntakeSettings.from_env({"DOSSIERFLOW_BOOTSTRAP": "k:9",
                                        "DOSSIERFLOW_EVENTS_TOPIC": "ev"})
    assert (settings.http_host, settings.bootstrap, settings.events_topic) == (
        "127.0.0.1", "k:9", "ev")
    assert settings.rejections_path(serving=True, environ={"XDG_DATA_HOME": "/data"}) == Path(
        "/data/dossierflow/intake-rejections.jsonl")
    assert settings.rejections_path(serving=False) is None  # the file command counts them


def test_the_memory_file_is_kept_by_serve_by_default_and_by_a_file_run_when_set() -> None:
    home = {"XDG_DATA_HOME": "/data"}
    default = IntakeSettings.from_env({})
    assert default.memory_path(serving=True, environ=home) == Path(
        "/data/dossierflow/intake-memory.sqlite3")
    assert default.memory_path(serving=False, environ=home) is None
    chosen = IntakeSettings.from_env({"DOSSIERFLOW_INTAKE_MEMORY_FILE": "/m/intake.sqlite3"})
    assert chosen.memory_path(serving=False) == chosen.memory_path(serving=True) == Path(
        "/m/intake.sqlite3")


def test_token_comes_from_its_file_first_line(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\nsecond line\n")
    settings = IntakeSettings.from_env({"DOSSIERFLOW_INTAKE_TOKEN_FILE": str(secret)})
    assert settings.bearer_token() == TOKEN


def test_missing_or_short_token_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="DOSSIERFLOW_INTAKE_TOKEN_FILE"):
        IntakeSettings.from_env({}).bearer_token()
    with pytest.raises(ConfigError, match="DOSSIERFLOW_INTAKE_TOKEN: the token has 5"):
        IntakeSettings.from_env({"DOSSIERFLOW_INTAKE_TOKEN": "short"}).bearer_token()


def test_bad_values_name_their_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DOSSIERFLOW_INTAKE_MAX_BODY_BYTES"):
        IntakeSettings.from_env({"DOSSIERFLOW_INTAKE_MAX_BODY_BYTES": "12"})
    bad = tmp_path / "units.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="DOSSIERFLOW_INTAKE_UNIT_CODES_FILE"):
        IntakeSettings.from_env({"DOSSIERFLOW_INTAKE_UNIT_CODES_FILE": str(bad)})


def test_unit_codes_file_maps_the_sent_unit_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import datetime

    units = tmp_path / "units.yaml"
    units.write_text("UBND X: X01\n", encoding="utf-8")
    monkeypatch.setenv("DOSSIERFLOW_INTAKE_UNIT_CODES_FILE", str(units))
    source, out = tmp_path / "bodies.jsonl", tmp_path / "events.jsonl"
    at = datetime(2026, 3, 2, 8)
    source.write_text(jsonl([records_body(record("H1", 2, at, at.replace(day=9)))]))
    assert main(["intake", str(source), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["unit_code"] == "X01"


def test_a_missing_file_of_bodies_is_a_usage_error_saying_what_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["intake", str(tmp_path / "none.jsonl"), "--produce"]) == 2
    assert "give a file of sync bodies" in capsys.readouterr().err
