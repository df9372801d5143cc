"""The index of the owned dossiers' next timers (streams/timers.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dossierflow.streams.timers import TimerIndex

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_a_timer_fires_by_the_clock_of_its_dossiers_partition() -> None:
    timers = TimerIndex()
    timers.schedule("A", at(5), partition=0)
    timers.schedule("B", at(5), partition=1)
    assert timers.pop_due({0: at(6), 1: at(4)}, limit=10) == ["A"]
    assert timers.pop_due({0: at(6), 1: at(5)}, limit=10) == ["B"]
    assert len(timers) == 0


def test_a_partition_without_a_clock_fires_nothing() -> None:
    timers = TimerIndex()
    timers.schedule("A", at(1), partition=2)
    assert timers.pop_due({0: at(6)}, limit=10) == []
    assert len(timers) == 1


def test_the_latest_schedule_of_a_dossier_wins() -> None:
    timers = TimerIndex()
    timers.schedule("A", at(1), partition=0)
    timers.schedule("A", at(3), partition=0)
    timers.schedule("B", at(2), partition=0)
    timers.schedule("B", None, partition=0)
    assert timers.pop_due({0: at(2)}, limit=10) == []
    assert timers.pop_due({0: at(3)}, limit=10) == ["A"]


def test_at_most_limit_timers_per_scan_the_earliest_first() -> None:
    timers = TimerIndex()
    for hour in range(5):
        timers.schedule(f"D{hour}", at(hour), partition=0)
    assert timers.pop_due({0: at(10)}, limit=2) == ["D0", "D1"]
    assert len(timers) == 3


def test_the_limit_takes_the_earliest_across_partitions() -> None:
    """A partition with many due timers does not hold back another's earlier one."""
    timers = TimerIndex()
    for hour in range(1, 6):
        timers.schedule(f"P0-{hour}", at(hour), partition=0)
    timers.schedule("P1-0", at(0), partition=1)
    timers.schedule("P1-3", at(3.5), partition=1)
    clocks = {0: at(10), 1: at(10)}
    assert timers.pop_due(clocks, limit=3) == ["P1-0", "P0-1", "P0-2"]
    assert timers.pop_due(clocks, limit=3) == ["P0-3", "P1-3", "P0-4"]
    assert timers.pop_due(clocks, limit=3) == ["P0-5"]
