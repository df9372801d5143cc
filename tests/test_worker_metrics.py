"""The worker's lag series follow the partitions it owns (prometheus-client's registry)."""

from __future__ import annotations

from prometheus_client import REGISTRY

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
