"""The worker's record of applied offsets (streams/offsets.py)."""

from __future__ import annotations

from dossierflow.streams.offsets import AppliedOffsets


def test_consecutive_offsets_leave_no_gap_and_the_first_one_sets_the_start() -> None:
    applied = AppliedOffsets()
    assert applied.gap_before(0, 17) == range(0)  # wherever reading starts after assignment
    applied.applied(0, 17)
    assert applied.gap_before(0, 18) == range(0)
    assert applied.gap_before(1, 0) == range(0)  # partitions are independent


def test_a_jump_names_the_skipped_offsets() -> None:
    applied = AppliedOffsets()
    for offset in range(25):
        applied.applied(2, offset)
    assert applied.gap_before(2, 42) == range(25, 42)
    assert list(applied.gap_before(2, 26)) == [25]


def test_a_re_read_offset_is_no_gap_and_a_rebalance_forgets() -> None:
    applied = AppliedOffsets()
    applied.applied(0, 10)
    assert applied.gap_before(0, 5) == range(0)  # a re-delivered message
    applied.applied(0, 5)
    assert applied.gap_before(0, 11) == range(0)
    applied.forget()
    assert applied.gap_before(0, 99) == range(0)


def test_a_copy_is_independent() -> None:
    applied = AppliedOffsets()
    applied.applied(0, 3)
    after = applied.copy()
    after.applied(0, 4)
    assert applied.gap_before(0, 5) == range(4, 5)
    assert after.gap_before(0, 5) == range(0)


def test_messages_dropped_at_the_start_of_a_partition_are_a_gap() -> None:
    """After a restart reading starts at the committed offset (25): a first message at 42
    means 25–41 never reached the agent (issue 9, defect 2)."""
    applied = AppliedOffsets()
    assert 3 not in applied
    applied.start(3, 25)
    assert 3 in applied
    assert applied.gap_before(3, 42) == range(25, 42)
    assert applied.gap_before(3, 25) == range(0)
