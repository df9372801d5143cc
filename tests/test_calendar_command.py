"""`dossierflow calendar YEAR`: the year as the product sees it, against the notices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dossierflow.cli import main
from tests import official_calendar as official


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main(["calendar", *argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("year", [2019, 2024, 2026])
def test_json_lists_the_weekdays_off_and_the_make_up_days_of_the_notices(
    capsys: pytest.CaptureFixture[str], year: int
) -> None:
    days = official.days_of(year)
    expected = {
        "year": year,
        "days_off": [d.isoformat() for d in days if d.weekday() < 5
                     and not official.is_working_day(d)],
        "make_up_days": [d.isoformat() for d in official.MAKE_UP_SATURDAYS[year]],
    }
    assert _json(capsys, str(year)) == expected


def test_table_gives_each_day_its_reason_and_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calendar", "2026"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "02/01/2026" in line)
    assert "Thứ Sáu" in line and "Nghỉ" in line and "12729/VPCP-KGVX" in line
    assert "calendar-overrides.yaml (default)" in line
    assert "10/01/2026" in out and "24/11/2026" not in out


def test_a_catalogue_day_is_listed_with_the_catalogue_as_its_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "calendar:\n  overrides_file: default\n  overrides:\n"
        "    2026:\n      days_off: {2026-11-24: Ngày Văn hóa Việt Nam}\n",
        encoding="utf-8",
    )
    result = _json(capsys, "2026", "--catalog", str(catalog))
    assert isinstance(result, dict)
    assert "2026-11-24" in result["days_off"] and "2026-01-02" in result["days_off"]
    assert main(["calendar", "2026", "--catalog", str(catalog)]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "24/11/2026" in line)
    assert "Ngày Văn hóa Việt Nam" in line and "catalog.yaml" in line


def test_an_unconfirmed_year_says_its_days_come_from_the_package(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["calendar", "2027"]) == 0
    out = capsys.readouterr().out
    assert "chưa xác nhận" in out and "holidays 0.109" in out
    assert "01/01/2027" in out


@pytest.mark.parametrize("argv", [["calendar", "20x"], ["calendar", "1800"]])
def test_a_bad_year_is_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "year" in capsys.readouterr().err
