"""The event-time clock of a worker (streams/watermark.py): docs/domain.md's watermark rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dossierflow.streams.watermark import Watermark

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_the_smallest_of_the_partitions_latest_while_both_have_more_to_read() -> None:
    mark = Watermark(idle_after=10)
    mark.assign({0, 1}, now=0.0)
    mark.observe(0, offset=0, occurred_at=at(5), now=0.1)
    assert mark.advance({0: 10, 1: 10}, now=0.1) is None  # partition 1 not read yet
    mark.observe(1, offset=0, occurred_at=at(2), now=0.2)
    assert mark.advance({0: 10, 1: 10}, now=0.2) == at(2)
    mark.observe(1, offset=1, occurred_at=at(3), now=0.3)
    assert mark.advance({0: 10, 1: 10}, now=0.3) == at(3)


def test_a_partition_read_to_its_high_water_mark_holds_nothing_back_once_quiet() -> None:
    mark = Watermark(idle_after=10)
    mark.assign({0, 1}, now=0.0)
    mark.observe(0, offset=0, occurred_at=at(5), now=0.1)
    mark.observe(1, offset=0, occurred_at=at(2), now=0.1)
    assert mark.advance({0: 10, 1: 1}, now=10.1) == at(5)


def test_a_partition_read_to_its_high_water_mark_holds_while_data_keeps_coming() -> None:
    """A high-water mark is only as fresh as the last fetch response: a producer may have
    written more since (events in flight). Letting such a partition go at once made the
    clock leap days ahead of them in a live stream (alerts replay does not have)."""
    mark = Watermark(idle_after=10)
    mark.assign({0, 1}, now=0.0)
    mark.observe(0, offset=0, occurred_at=at(50), now=0.1)
    mark.observe(1, offset=0, occurred_at=at(2), now=0.1)
    assert mark.advance({0: 1, 1: 1}, now=0.2) == at(2)  # both read to their known end
    mark.observe(1, offset=1, occurred_at=at(3), now=5.0)  # partition 1 had more after all
    assert mark.advance({0: 1, 1: 2}, now=5.0) == at(3)
    assert mark.advance({0: 1, 1: 2}, now=14.9) == at(3)  # partition 1 quiet for 9.9 s
    assert mark.advance({0: 1, 1: 2}, now=15.0) == at(50)


def test_the_clock_never_moves_backwards() -> None:
    mark = Watermark(idle_after=10)
    mark.assign({0}, now=0.0)
    mark.observe(0, offset=0, occurred_at=at(5), now=0.1)
    assert mark.advance({0: 1}, now=10.1) == at(5)
    mark.observe(0, offset=1, occurred_at=at(1), now=10.2)  # a late event
    assert mark.advance({0: 5}, now=10.2) == at(5)


def test_after_a_restart_a_partition_with_nothing_new_holds_nothing_back() -> None:
    """Partition 1 was read to its end (offset 7) before the restart: its committed offset
    is where this worker starts, so it must not hold the clock at 'unknown' for ever."""
    mark = Watermark(idle_after=10)
    mark.assign({0, 1}, now=0.0, positions={0: 3, 1: 7})
    mark.observe(0, offset=3, occurred_at=at(4), now=0.1)
    assert mark.advance({0: 9, 1: 7}, now=0.1) is None  # until it has been quiet a while
    assert mark.advance({0: 9, 1: 7}, now=10.0) == at(4)


def test_a_partition_not_fetched_yet_holds_the_clock_until_idle_after() -> None:
    mark = Watermark(idle_after=10)
    mark.assign({0, 1}, now=0.0)
    mark.observe(0, offset=0, occurred_at=at(4), now=0.1)
    assert mark.advance({0: 9, 1: None}, now=5.0) is None
    assert mark.advance({0: 9, 1: None}, now=10.5) == at(4)


def test_a_partition_not_fetched_yet_holds_the_clock_until_read_to_its_end_at_assignment() -> None:
    """The end offsets looked up at the assignment stand in for high-water marks not fetched
    yet: a slow first fetch holds the clock however long it takes (issue 9, defect 2)."""
    mark = Watermark(idle_after=10)
    mark.assign({0, 1}, now=0.0, positions={0: 0, 1: 4}, ends={0: 9, 1: 6})
    mark.observe(0, offset=0, occurred_at=at(4), now=0.1)
    assert mark.advance({0: 9, 1: None}, now=60.0) is None
    mark.observe(1, offset=4, occurred_at=at(1), now=60.1)
    assert mark.advance({0: 9, 1: None}, now=60.1) == at(1)
    mark.observe(1, offset=5, occurred_at=at(2), now=60.2)
    assert mark.advance({0: 9, 1: None}, now=70.2) == at(4)  # partition 1 read to its end


def _two_partitions_read_once(bound: timedelta) -> Watermark:
    """Partition 0 read up to 5 h, partition 1 up to 3 h, one message each."""
    mark = Watermark(idle_after=10, out_of_orderness=bound)
    mark.assign({0, 1}, now=0.0)
    mark.observe(0, offset=0, occurred_at=at(5), now=0.1)
    mark.observe(1, offset=0, occurred_at=at(3), now=0.1)
    return mark


def test_the_clock_trails_the_holding_partitions_by_the_out_of_orderness_bound() -> None:
    mark = _two_partitions_read_once(timedelta(hours=1))
    assert mark.advance({0: 10, 1: 10}, now=0.1) == at(2)
    assert mark.value == at(2)


def test_once_every_partition_is_read_to_its_end_the_clock_is_the_largest_occurred_at() -> None:
    """Nothing in flight can be late any more: the clock `dossierflow replay` takes."""
    mark = _two_partitions_read_once(timedelta(days=1))
    assert mark.advance({0: 1, 1: 1}, now=10.1) == at(5)


def test_a_partition_whose_last_messages_are_dead_letters_holds_nothing_back() -> None:
    """A malformed message has no `occurred_at`, but reading it still moves the partition
    towards its end: else malformed last messages hold the clock back for ever."""
    mark = Watermark(idle_after=10)
    mark.assign({0, 1}, now=0.0)
    mark.observe(0, offset=0, occurred_at=at(5), now=0.1)
    mark.observe(1, offset=0, occurred_at=at(2), now=0.1)
    assert mark.advance({0: 1, 1: 3}, now=0.1) == at(2)  # partition 1 has two more messages
    mark.observe(1, offset=1, occurred_at=None, now=0.2)  # the last two are dead letters
    mark.observe(1, offset=2, occurred_at=None, now=0.2)
    assert mark.advance({0: 1, 1: 3}, now=10.2) == at(5)


def test_a_dead_letter_first_in_a_partition_tells_nothing_of_its_time() -> None:
    mark = Watermark(idle_after=10)
    mark.assign({0, 1}, now=0.0)
    mark.observe(0, offset=0, occurred_at=at(5), now=0.1)
    mark.observe(1, offset=0, occurred_at=None, now=0.1)
    assert mark.advance({0: 1, 1: 5}, now=0.1) is None


def test_a_partition_taken_over_holds_its_own_clock_behind_the_watermark() -> None:
    """After a rebalance the watermark is already past the events of a partition taken
    over that are still to be read: the watermark never moves backwards, so that
    partition's dossiers go by a clock of their own, which waits for them."""
    mark = Watermark(idle_after=10)
    mark.assign({0}, now=0.0)
    mark.observe(0, offset=0, occurred_at=at(10), now=0.1)
    assert mark.advance({0: 1}, now=10.1) == at(10)
    mark.assign({0, 1}, now=11.0, positions={1: 0}, ends={1: 3})
    assert mark.advance({0: 1, 1: 3}, now=11.0) == at(10)
    assert mark.value_for(0) == at(10)
    assert mark.value_for(1) is None  # nothing read of it yet: no alert of it is due
    mark.observe(1, offset=0, occurred_at=at(3), now=11.1)
    mark.advance({0: 1, 1: 3}, now=11.1)
    assert (mark.value, mark.value_for(0), mark.value_for(1)) == (at(10), at(10), at(3))
    mark.observe(1, offset=2, occurred_at=at(7), now=11.2)  # read to its end
    mark.advance({0: 1, 1: 3}, now=21.2)
    assert mark.value_for(1) == at(10)


def test_a_partitions_clock_never_passes_the_watermark_nor_moves_backwards() -> None:
    mark = _two_partitions_read_once(timedelta(hours=1))
    mark.advance({0: 10, 1: 10}, now=0.1)
    assert (mark.value_for(0), mark.value_for(1)) == (at(2), at(2))
    mark.advance({0: 1, 1: 1}, now=10.2)  # both read to their end
    assert (mark.value_for(0), mark.value_for(1)) == (at(5), at(5))
    mark.observe(0, offset=1, occurred_at=at(5.5), now=10.3)  # more arrives on partition 0
    mark.advance({0: 5, 1: 1}, now=10.3)
    assert mark.value_for(0) == at(5)


def test_after_a_restart_a_partition_with_nothing_new_goes_by_the_watermark() -> None:
    """Its restored dossiers' timers are due by the watermark, though nothing of it is read."""
    mark = Watermark(idle_after=10)
    mark.assign({0, 1}, now=0.0, positions={0: 0, 1: 7}, ends={0: 2, 1: 7})
    mark.observe(0, offset=1, occurred_at=at(4), now=0.1)
    assert mark.advance({0: 2}, now=10.1) == at(4)
    assert mark.value_for(1) == at(4)


def test_after_a_restart_a_partition_with_nothing_new_counts_as_read_up_to_what_it_applied(
) -> None:
    """Its events were all committed before the restart: the largest `occurred_at` applied
    from it (its restored progress record) stands in for them, else the clock would ignore
    them."""
    mark = Watermark(idle_after=10)
    mark.assign({0, 1}, now=0.0, positions={0: 0, 1: 7}, ends={0: 2, 1: 7},
                seen={0: at(20), 1: at(9)})
    mark.observe(0, offset=0, occurred_at=at(3), now=10.1)
    assert mark.advance({0: 2, 1: 7}, now=10.1) == at(3)  # not partition 0's restored at(20)
    mark.observe(0, offset=1, occurred_at=at(4), now=10.2)
    assert mark.advance({0: 2, 1: 7}, now=20.2) == at(9)
