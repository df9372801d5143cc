"""Prometheus metrics of the worker (served on /metrics by prometheus-client)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "dossierflow_events_total",
    "Events consumed, by type and result (applied, duplicate, invalid, failed).",
    ["type", "result"],
)
PROCESSING_SECONDS = Histogram(
    "dossierflow_event_processing_seconds",
    "Time from the event's Kafka timestamp to the end of its processing.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30),
)
ALERTS = Counter("dossierflow_alerts_total", "Alerts published, by kind.", ["kind"])
OPEN_DOSSIERS = Gauge("dossierflow_open_dossiers", "Open or paused dossiers this worker owns.")
OVERDUE_OPEN_DOSSIERS = Gauge(
    "dossierflow_overdue_open_dossiers", "Open or paused dossiers past their overdue instant."
)
DEAD_LETTERS = Counter(
    "dossierflow_dead_letters_total", "Events sent to the dead-letter topic, by problem.",
    ["problem"],
)
CONSUMER_LAG = Gauge(
    "dossierflow_consumer_lag", "Messages not yet read, per events-topic partition.",
    ["partition"],
)
TIMER_SCAN_SECONDS = Histogram(
    "dossierflow_timer_scan_seconds", "Duration of one scan of due timers.",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
)
EVENT_TIME_WATERMARK = Gauge(
    "dossierflow_event_time_watermark_seconds",
    "The event-time clock (Unix seconds) in --event-time mode.",
)
SKIPPED_OFFSETS = Counter(
    "dossierflow_skipped_offsets_total",
    "Events-topic offsets Faust dropped before the worker saw them (the worker then stops).",
    ["partition"],
)
LATE_EVENTS = Counter(
    "dossierflow_late_events_total",
    "--event-time: events applied whose occurred_at was behind the clock already reached "
    "(later than DOSSIERFLOW_OUT_OF_ORDERNESS allows).",
)
ALERTS_CONTRADICTED = Counter(
    "dossierflow_alerts_contradicted_total",
    "Published alerts that the full history, after a late event, no longer fires, by kind.",
    ["kind"],
)
UNKNOWN_PROCEDURE_DOSSIERS = Counter(
    "dossierflow_unknown_procedure_dossiers_total",
    "Dossiers received for a procedure the catalogue does not know (no deadline, no alert "
    "until a reloaded catalogue knows it).",
)
EVALUATION_FAILURES = Counter(
    "dossierflow_evaluation_failures_total",
    "Dossiers the rules raised on at a timer or a catalogue reload, by when (timer, "
    "catalog_reload): logged with the traceback and left as they were (an event the rules "
    "raise on goes to the dead letters instead).",
    ["during"],
)
CATALOG_RELOADS = Counter(
    "dossierflow_catalog_reloads_total",
    "Catalogue reloads on SIGHUP, by result (loaded, refused).",
    ["result"],
)
CALENDAR_YEAR_UNCONFIRMED = Gauge(
    "dossierflow_calendar_year_unconfirmed",
    "1 while the worker's clock is in a year whose days off the calendar override file does "
    "not confirm (the holidays package's guess is used; make-up days are missing).",
    ["year"],
)


_lag_partitions: set[int] = set()


def forget_lag_of_partitions_not_in(owned: Collection[int]) -> None:
    """Drop the lag series of partitions this worker no longer owns. Kept, a moved
    partition's last lag would be reported by its old owner for ever: twice in the sum of the
    lag panel, and by a spare that owns nothing as events waiting that it never applies
    (DossierflowWorkerNotConsuming)."""
    for partition in _lag_partitions - set(owned):
        CONSUMER_LAG.remove(str(partition))
    _lag_partitions.intersection_update(owned)


def set_consumer_lag(partition: int, lag: int) -> None:
    CONSUMER_LAG.labels(str(partition)).set(lag)
    _lag_partitions.add(partition)


def observe_each(histogram: Histogram, amounts: Iterable[float]) -> None:
    """`histogram.observe(amount)` for each of `amounts` (not NaN), as one increment of
    its sum and of each bucket hit: a batch's latencies cost two locks a bucket instead of
    two an event. Reads the histogram's bucket values, private in prometheus-client
    (pinned; tests/test_worker_metrics.py compares it with `observe`)."""
    bounds = histogram._upper_bounds
    hits = [0] * len(bounds)
    total = 0.0
    for amount in amounts:
        total += amount
        hits[bisect_left(bounds, amount)] += 1  # the first bound >= amount, as `observe`
    histogram._sum.inc(total)
    for bucket, count in zip(histogram._buckets, hits, strict=True):
        if count:
            bucket.inc(count)
