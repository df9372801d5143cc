"""The demo's generated history is one a newcomer can believe: no dossier for a unit after it
was dissolved, nothing that happens after today."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest

from dossierflow.rules.catalog import load_catalog
from dossierflow.simulate import generate_events

VN = timezone(timedelta(hours=7))
# The sample catalogue's district H-01 and its two communes ended on 30/6/2025 (Resolution
# 202/2025/QH15 removed the district level from 1/7/2025).
DISSOLVED = {"H-01", "X-H01-01", "X-H01-02"}
REORGANISATION = date(2025, 7, 1)


def test_the_sample_catalogue_says_which_units_were_dissolved() -> None:
    units = load_catalog().units
    assert {code for code, u in units.items() if u.until is not None} == DISSOLVED
    assert all(units[code].until == date(2025, 6, 30) for code in DISSOLVED)


def test_dissolved_units_receive_nothing_after_their_last_day() -> None:
    events = list(
        generate_events(
            6000, seed=3, start=datetime(2025, 4, 1, tzinfo=VN), days=183, today=date(2026, 1, 1)
        )
    )
    received = [e for e in events if e["type"] == "RECEIVED"]
    before = Counter(
        e["unit_code"] for e in received
        if datetime.fromisoformat(e["occurred_at"]).date() < REORGANISATION
    )
    after = Counter(
        e["unit_code"] for e in received
        if datetime.fromisoformat(e["occurred_at"]).date() >= REORGANISATION
    )
    assert sum(after.values()) > 500 and sum(before.values()) > 500
    assert DISSOLVED & set(before)  # they did receive dossiers while they existed
    assert not DISSOLVED & set(after)
    assert not DISSOLVED & {e["unit_code"] for e in events if e["type"] == "TRANSFERRED"}


def test_nothing_happens_from_today_on() -> None:
    today = date(2026, 3, 2)
    events = list(generate_events(5000, seed=1, today=today))  # history from 2026-01-05
    assert len(events) == 5000
    midnight = datetime(2026, 3, 2, tzinfo=VN)
    latest = max(datetime.fromisoformat(e["occurred_at"]) for e in events)
    assert latest < midnight
    assert latest > midnight - timedelta(days=4)  # the history does reach today
    # Dossiers received in the last days are still open, as they would be today.
    closing = {"RESOLVED", "WITHDRAWN", "STOPPED", "NOT_ACCEPTED"}
    last_week = {
        e["dossier_id"] for e in events
        if e["type"] == "RECEIVED"
        and datetime.fromisoformat(e["occurred_at"]) > midnight - timedelta(days=3)
    }
    closed = {e["dossier_id"] for e in events if e["type"] in closing}
    assert last_week - closed


def test_the_same_day_gives_the_same_history() -> None:
    first = list(generate_events(500, seed=9, today=date(2026, 6, 1)))
    assert first == list(generate_events(500, seed=9, today=date(2026, 6, 1)))


def test_a_history_that_would_start_after_today_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no working day from 2026-01-05 .* today \(2026-01-05\)"):
        next(generate_events(10, today=date(2026, 1, 5)))
