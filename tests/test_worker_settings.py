"""Worker settings from DOSSIERFLOW_* variables (streams/settings.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dossierflow.streams.settings import WorkerSettings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("600", timedelta(minutes=10)),
        ("PT10M", timedelta(minutes=10)),
        ("P1DT12H", timedelta(hours=36)),
        ("pt1.5s", timedelta(seconds=1.5)),
    ],
)
def test_out_of_orderness_in_seconds_or_an_iso_duration(text: str, expected: timedelta) -> None:
    settings = WorkerSettings.from_env({"DOSSIERFLOW_OUT_OF_ORDERNESS": text})
    assert settings.out_of_orderness == expected


def test_out_of_orderness_defaults_to_a_day() -> None:
    assert WorkerSettings.from_env({}).out_of_orderness == timedelta(days=1)


@pytest.mark.parametrize("text", ["P", "PT", "P1DT", "-5", "nan", "5 minutes", "P1Y"])
def test_a_bad_out_of_orderness_names_the_variable_and_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"DOSSIERFLOW_OUT_OF_ORDERNESS=.*ISO 8601 duration"):
        WorkerSettings.from_env({"DOSSIERFLOW_OUT_OF_ORDERNESS": text})
