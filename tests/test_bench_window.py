"""The window devtools/bench_pipeline.py times a worker in (devtools/bench_window.py)."""

from __future__ import annotations

import pytest

from devtools.bench_window import AppliedTimeline, OutputBatch, interpolate, output_batches


def test_facts_appended_together_form_one_batch_marked_by_its_last() -> None:
    # Three deliveries: 3 facts within 4 ms, 2 within 1 ms, 1; given in any order.
    times = [10.104, 10.100, 10.102, 10.250, 10.251, 10.400]
    assert output_batches(times, gap=0.02) == [
        OutputBatch(10.104, 3), OutputBatch(10.251, 2), OutputBatch(10.400, 1)]


def test_batches_closer_than_the_gap_merge() -> None:
    assert output_batches([1.0, 1.01, 1.02, 1.5], gap=0.02) == [
        OutputBatch(1.02, 3), OutputBatch(1.5, 1)]
    assert output_batches([]) == []


def timeline(scale: float = 1.0) -> AppliedTimeline:
    # Batches of 100, 200, 300 and 400 events marked at 1, 2, 3 and 5 s.
    return AppliedTimeline([OutputBatch(1.0, 100), OutputBatch(2.0, 200),
                            OutputBatch(3.0, 300), OutputBatch(5.0, 400)], scale)


def test_the_window_leaves_out_the_first_batch_whose_rules_ran_before_it() -> None:
    line = timeline()
    assert (line.first, line.last) == (1.0, 5.0)
    assert line.applied_after(line.first) == 900  # not 1,000: the first batch is before
    assert line.rate_between(line.first, line.last) == 900 / 4


def test_events_count_in_the_topic_s_events_through_the_scale() -> None:
    # 1,000 fact-bearing events of a topic of 1,010 (ten duplicates without a fact).
    assert timeline(1.01).applied_after(1.0) == pytest.approx(909)


def test_an_instant_belongs_to_the_batch_whose_mark_follows_it() -> None:
    line = timeline()
    assert line.mark_of(2.0) == 2.0
    assert line.mark_of(2.5) == 3.0
    assert line.mark_of(9.0) == 5.0
    assert line.rate_between(line.mark_of(2.5), line.last) == 400 / 2


def test_the_steady_part_runs_between_the_marks_of_its_shares() -> None:
    line = timeline()
    assert line.mark_reached(0.1) == 1.0  # 100 of 1,000
    assert line.mark_reached(0.11) == 2.0
    assert line.mark_reached(0.9) == 5.0
    assert line.rate_between(line.mark_reached(0.2), line.mark_reached(0.6)) == 300 / 1


def test_one_batch_gives_no_window() -> None:
    with pytest.raises(ValueError, match="no window"):
        AppliedTimeline([OutputBatch(1.0, 10)])


def test_cpu_is_interpolated_between_the_samples_either_side() -> None:
    samples = [(0.0, [0.0, 10.0]), (1.0, [0.5, 10.0]), (2.0, [0.7, 12.0])]
    assert interpolate(samples, 0.5) == [0.25, 10.0]
    assert interpolate(samples, 1.5) == pytest.approx([0.6, 11.0])
    assert interpolate(samples, 1.0) == [0.5, 10.0]
    assert interpolate(samples, 0.0) == [0.0, 10.0]
    assert interpolate(samples, 2.0) == [0.7, 12.0]


def test_an_instant_outside_the_samples_is_refused() -> None:
    with pytest.raises(ValueError, match="outside the samples"):
        interpolate([(0.0, [0.0]), (1.0, [1.0])], 1.5)
    with pytest.raises(ValueError, match="outside the samples"):
        interpolate([], 0.0)
