"""The report's catalogue kept decoded between runs (`load_report_catalog(cache=…)`): the
same units and reading as decoding the YAML, without PyYAML once kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dossierflow.rules.catalog_units import CatalogError, load_report_catalog
from tests.conftest import CacheHomes
from tests.import_probe import modules_imported_by

CATALOGUE = (
    "report: {outcome_reading: instant, appointment: rescheduled}\n"
    "units:\n  - {code: P, name: Tỉnh, level: province}\n"
    "  - {code: X, name: Xã Đông Hòa, level: commune, parent: P, until: 2025-06-30}\n"
)


@pytest.mark.parametrize("shipped", [True, False])
def test_a_kept_catalogue_is_the_decoded_one(tmp_path: Path, shipped: bool) -> None:
    path = None if shipped else tmp_path / "catalog.yaml"
    if path is not None:
        path.write_text(CATALOGUE, encoding="utf-8")
    cache = tmp_path / "cache"
    decoded = load_report_catalog(path)
    assert load_report_catalog(path, cache) == decoded  # decoded, then kept
    assert len(list(cache.iterdir())) == 1
    assert load_report_catalog(path, cache) == decoded  # read back


def test_a_second_run_does_not_import_pyyaml(tmp_path: Path) -> None:
    code = (
        "from pathlib import Path\n"
        "from dossierflow.rules.catalog_units import load_report_catalog\n"
        f"load_report_catalog(cache=Path({str(tmp_path)!r}))"
    )
    assert modules_imported_by(code, ["yaml"]) == ["yaml"]
    assert modules_imported_by(code, ["yaml"]) == []


def test_a_changed_file_is_decoded_again(tmp_path: Path) -> None:
    path, cache = tmp_path / "catalog.yaml", tmp_path / "cache"
    path.write_text(CATALOGUE, encoding="utf-8")
    load_report_catalog(path, cache)
    path.write_text(CATALOGUE.replace("Xã Đông Hòa", "Phường Hạc Thành"), encoding="utf-8")
    assert load_report_catalog(path, cache).units["X"].name == "Phường Hạc Thành"


def test_a_damaged_entry_is_ignored_and_a_bad_file_refused_as_ever(tmp_path: Path) -> None:
    path, cache = tmp_path / "catalog.yaml", tmp_path / "cache"
    path.write_text(CATALOGUE, encoding="utf-8")
    decoded = load_report_catalog(path, cache)
    for entry in cache.iterdir():
        entry.write_text('{"units": [{"code": 1}]}')  # not the sections' shape
    assert load_report_catalog(path, cache) == decoded
    orphan = tmp_path / "orphan.yaml"
    orphan.write_text("units:\n  - {code: X, name: Xã, level: commune, parent: Z}\n")
    for _ in range(2):  # kept or not, the tree is checked on every load
        with pytest.raises(CatalogError, match="parent 'Z' is not a unit"):
            load_report_catalog(orphan, cache)


def test_a_change_to_the_readings_it_decodes_into_is_a_new_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entry is named by the code that decodes it, rules/readings.py's enums included:
    an entry kept by older readings is not read by newer ones."""
    from dossierflow.rules import readings

    path, cache = tmp_path / "catalog.yaml", tmp_path / "cache"
    path.write_text(CATALOGUE, encoding="utf-8")
    load_report_catalog(path, cache)
    changed = tmp_path / "readings.py"
    changed.write_bytes(Path(readings.__file__).read_bytes() + b"\n# a newer reading\n")
    monkeypatch.setattr(readings, "__file__", str(changed))
    load_report_catalog(path, cache)
    assert len(list(cache.iterdir())) == 2


def _entries(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*")} if folder.is_dir() else {}


def test_a_report_command_run_by_the_tests_keeps_its_catalogue_in_the_session_cache(
    cache_homes: CacheHomes,
) -> None:
    """The tests' commands inherit the session's XDG_CACHE_HOME: the developer's own
    catalogue folder is left as it was (its entries, their times)."""
    users = _entries(cache_homes.user / "catalogue")
    done = subprocess.run(  # the catalogue is read before the store, which nobody serves
        [sys.executable, "-m", "dossierflow.cli", "report", "--store", "http://127.0.0.1:9",
         "--from", "2026-01-01", "--to", "2026-01-31"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert "is unreachable" in done.stderr
    assert _entries(cache_homes.session / "catalogue")
    assert _entries(cache_homes.user / "catalogue") == users


def test_writing_an_entry_deletes_all_but_the_four_written_last(tmp_path: Path) -> None:
    """Each edit of the catalogue (or of the code) is a new entry: the older ones go, a
    crashed writer's partial file too. Times are set, not waited for."""
    cache = tmp_path / "cache"
    cache.mkdir()
    crashed = cache / "report-0.json.4242"
    crashed.write_text("{")
    os.utime(crashed, ns=(0, 0))
    written: list[Path] = []
    for number in range(1, 7):
        path = tmp_path / f"catalog{number}.yaml"
        path.write_text(CATALOGUE.replace("Xã Đông Hòa", f"Xã {number}"), encoding="utf-8")
        load_report_catalog(path, cache)
        (entry,) = set(cache.iterdir()) - {*written, crashed}
        os.utime(entry, ns=(number * 10**9, number * 10**9))  # older than the next one
        written.append(entry)
    assert sorted(cache.iterdir()) == sorted(written[2:])
    for number in range(3, 7):  # the four kept are read back
        assert load_report_catalog(tmp_path / f"catalog{number}.yaml", cache).units["X"].name \
            == f"Xã {number}"
    assert sorted(cache.iterdir()) == sorted(written[2:])
