"""Worker settings: defaults for a laptop, every one overridable by DOSSIERFLOW_* variables."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar


@dataclass(frozen=True)
class WorkerSettings:
    bootstrap: str = "localhost:9092"
    app_id: str = "dossierflow"
    """Faust app id: the consumer group and the prefix of the state changelog topic."""
    events_topic: str = "dossier-events"
    alerts_topic: str = "dossier-alerts"
    facts_topic: str = "dossier-facts"
    dead_letter_topic: str = "dossier-dead-letters"
    partitions: int = 4
    retention_days: int = 90
    """Retention of the alerts, facts and dead-letter topics."""
    store: str = "rocksdb://"
    """`rocksdb://` (rocksdict) in production, `memory://` in tests."""
    data_dir: Path = Path(".dossierflow/worker")
    event_time: bool = False
    metrics_port: int = 9108
    timer_interval: float = 0.2
    closed_retention_days: float = 30
    batch_size: int = 2000
    """Most events applied in one batch."""
    batch_within: float = 0.01
    """Seconds a batch waits for more events (latency against throughput)."""
    idle_partition_seconds: float = 10.0
    """--event-time: seconds after which a partition whose end is unknown and that sent
    nothing stops holding the clock."""
    out_of_orderness: timedelta = timedelta(days=1)
    """--event-time: how far behind the partitions' largest `occurred_at` the clock stays
    while a partition has more to read (Flink's bounded out-of-orderness), in seconds or an
    ISO 8601 duration (`PT10M`, `P1D`). An event that occurred further back than this behind
    an event before it in its partition may arrive after the clock passed it: a late event
    (`dossierflow_late_events_total`). History in Kafka costs no waiting for it: alerts
    only come later in the stream's order, and all of them once every partition is read."""
    session_timeout: float = 10.0
    """Seconds before the group gives a silent (crashed) worker's partitions to another."""
    catalog: Path | None = None
    max_event_bytes: int = 64 * 1024

    @property
    def closed_retention(self) -> timedelta:
        return timedelta(days=self.closed_retention_days)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> WorkerSettings:
        """Defaults, then DOSSIERFLOW_<FIELD> variables, then explicit overrides."""
        return settings_from_env(cls, "", environ, **overrides)


T = TypeVar("T")


def settings_from_env(
    cls: type[T],
    prefix: str,
    environ: Mapping[str, str] | None = None,
    shared: Mapping[str, str] | None = None,
    **overrides: Any,
) -> T:
    """A settings dataclass from its defaults, then `DOSSIERFLOW_<prefix><FIELD>` variables
    (or `DOSSIERFLOW_<shared[field]>` for a name every command shares, such as BOOTSTRAP),
    then the overrides that are not None. A bad value names its variable."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for item in fields(cls):  # type: ignore[arg-type]
        name = f"DOSSIERFLOW_{(shared or {}).get(item.name) or prefix + item.name.upper()}"
        text = env.get(name)
        if text is None:
            continue
        kind = item.type if isinstance(item.type, str) else item.type.__name__
        try:
            values[item.name] = _parse(kind, text)
        except ValueError:
            raise ValueError(f"{name}={text!r}: expected {_EXPECTED.get(kind, kind)}") from None
    settings: Any = replace(cls(), **values)  # type: ignore[type-var]
    result: T = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    return result


_ISO_DURATION = re.compile(
    r"P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


_EXPECTED = {"timedelta": "seconds or an ISO 8601 duration such as PT10M or P1D"}


def parse_duration(text: str) -> timedelta:
    """Seconds (`600`) or an ISO 8601 duration of days, hours, minutes and seconds
    (`PT10M`, `P1DT12H`); never negative."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        match = _ISO_DURATION.fullmatch(text.upper())
        if match is None or text.upper() in {"P", "PT"} or text.upper().endswith("T"):
            raise ValueError(text) from None
        parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
        return timedelta(**parts)
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(text)
    return timedelta(seconds=seconds)


def _parse(kind: str, text: str) -> Any:
    if kind == "timedelta":
        return parse_duration(text)
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        if text.lower() not in {"1", "0", "true", "false", "yes", "no"}:
            raise ValueError(text)
        return text.lower() in {"1", "true", "yes"}
    if "Path" in kind:
        return Path(text)
    return text
