"""What the worker's settings give Faust (streams/faust_settings.py), read back from a real
`faust.App`'s configuration."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest

from dossierflow.streams.faust_settings import app_settings
from dossierflow.streams.settings import WorkerSettings


def faust_conf(tmp_path: Path, environ: dict[str, str]) -> faust.Settings:
    settings = WorkerSettings.from_env({"DOSSIERFLOW_DATA_DIR": str(tmp_path), **environ})
    return faust.App("settings-probe", **app_settings(settings, None)).conf


@pytest.mark.parametrize(("environ", "replicas"), [
    ({}, 1),  # Faust's own default: a warm copy of each partition on another worker
    ({"DOSSIERFLOW_STANDBY_REPLICAS": "0"}, 0),
    ({"DOSSIERFLOW_STANDBY_REPLICAS": "2"}, 2),
])
def test_the_standby_replicas_reach_faust(tmp_path: Path, environ: dict[str, str],
                                          replicas: int) -> None:
    assert faust_conf(tmp_path, environ).table_standby_replicas == replicas


def test_the_session_timeout_sets_the_heartbeat(tmp_path: Path) -> None:
    conf = faust_conf(tmp_path, {"DOSSIERFLOW_SESSION_TIMEOUT": "20"})
    assert conf.broker_session_timeout == 20.0
    assert conf.broker_heartbeat_interval == 5.0
