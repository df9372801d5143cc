"""The worker's lag series follow the partitions it owns (prometheus-client's registry);
a batch's latencies observed at once are what observing each gives."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Histogram

from dossierflow.streams import metrics


def _lag(partition: int) -> float | None:
    return REGISTRY.get_sample_value("dossierflow_consumer_lag", {"partition": str(partition)})


def test_a_partition_that_moved_to_another_worker_leaves_the_lag_series() -> None:
    metrics.forget_lag_of_partitions_not_in(())
    metrics.set_consumer_lag(0, 120)
    metrics.set_consumer_lag(1, 7)
    assert (_lag(0), _lag(1)) == (120, 7)
    metrics.forget_lag_of_partitions_not_in({1, 2})  # a rebalance took partition 0 away
    metrics.set_consumer_lag(1, 3)
    assert (_lag(0), _lag(1), _lag(2)) == (None, 3, None)
    metrics.forget_lag_of_partitions_not_in(())  # a spare that owns nothing reports nothing
    assert _lag(1) is None


def _histogram_samples(amounts: list[float], at_once: bool) -> dict[str, float]:
    registry = CollectorRegistry()
    histogram = Histogram("latency_seconds", "", buckets=(0.005, 0.1, 1, 30), registry=registry)
    if at_once:
        metrics.observe_each(histogram, amounts)
    else:
        for amount in amounts:
            histogram.observe(amount)
    return {
        f"{sample.name}{sample.labels}": sample.value
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def test_a_batch_observed_at_once_fills_the_buckets_as_observing_each() -> None:
    amounts = [0.0, 0.005, 0.0051, 0.1, 0.09, 1.0, 29.9, 30.0, 30.5, 4e6]  # bounds included
    samples = _histogram_samples(amounts, at_once=True)
    assert samples == _histogram_samples(amounts, at_once=False)
    assert samples["latency_seconds_bucket{'le': '0.005'}"] == 2
    assert samples["latency_seconds_bucket{'le': '+Inf'}"] == 10
