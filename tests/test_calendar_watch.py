"""The worker says once when its clock enters a year the override file does not confirm."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest
from prometheus_client import REGISTRY

from dossierflow.rules.calendar import VIETNAM
from dossierflow.rules.catalog import load_catalog, parse_catalog
from dossierflow.streams.calendar_watch import CalendarYearWatch


def _unconfirmed(year: int) -> float | None:
    return REGISTRY.get_sample_value("dossierflow_calendar_year_unconfirmed", {"year": str(year)})


def test_entering_an_unconfirmed_year_is_said_once_and_kept_in_the_gauge(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calendar = load_catalog().calendar  # the shipped file confirms 2019–2026
    watch = CalendarYearWatch()
    caplog.set_level(logging.WARNING, "dossierflow.worker")
    watch.observe(calendar, datetime(2026, 12, 31, 23, 59, tzinfo=VIETNAM))
    assert (_unconfirmed(2026), caplog.records) == (0, [])
    # 17:00 UTC on 31/12 is already 1/1/2027 in Hà Nội.
    for minute in (0, 1, 2):
        watch.observe(calendar, datetime.fromisoformat(f"2026-12-31T17:0{minute}:00+00:00"))
    assert (_unconfirmed(2026), _unconfirmed(2027)) == (None, 1)
    assert [r.getMessage()[:52] for r in caplog.records] == [
        "calendar: 2027 is not confirmed by the override file"
    ]


def test_a_reloaded_catalogue_that_confirms_the_year_clears_the_gauge() -> None:
    watch = CalendarYearWatch()
    in_2027 = datetime(2027, 3, 1, 9, tzinfo=VIETNAM)
    watch.observe(load_catalog().calendar, in_2027)
    assert _unconfirmed(2027) == 1
    text = (
        "calendar:\n  overrides_file: default\n  overrides:\n    2027:\n"
        "      confirmed: Thông báo (thử) năm 2027\n      days_off: [2027-01-01]\n"
    ).encode()
    watch.observe(parse_catalog(text).calendar, in_2027)
    assert _unconfirmed(2027) == 0
