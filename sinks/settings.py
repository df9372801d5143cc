"""Settings of `dossierflow sink`: defaults for a laptop, each one overridable by its
DOSSIERFLOW_* variable and, where it has one, by a command-line option."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dossierflow import config
from dossierflow.config import setting


@dataclass(frozen=True)
class SinkSettings:
    bootstrap: str = config.bootstrap_setting()
    facts_topic: str = setting(config.FACTS_TOPIC, "topic of the facts to store",
                               metavar="TOPIC", option="--facts-topic")
    alerts_topic: str = setting(config.ALERTS_TOPIC, "topic of the alerts to store",
                                metavar="TOPIC", option="--alerts-topic")
    group_id: str = setting("dossierflow-clickhouse-sink", "consumer group of the sink",
                            option="--group", env="SINK_GROUP_ID")
    batch_size: int = setting(
        10_000, "a partition's buffer is written once it holds this many records", minimum=1,
        option="--batch-size", env="SINK_BATCH_SIZE",
    )
    batch_max_age: float = setting(
        1.0, "... or once its oldest record waited this many seconds", minimum=0,
        option="--batch-max-age", env="SINK_BATCH_MAX_AGE",
    )
    poll_timeout: float = setting(0.2, "seconds one poll of Kafka waits for records",
                                  minimum=0.01, env="SINK_POLL_TIMEOUT")
    backoff_max: float = setting(
        30.0, "upper bound, in seconds, of the backoff while the store is unreachable",
        minimum=0.1, env="SINK_BACKOFF_MAX",
    )
    rollup_refresh_interval: float = setting(
        10.0, "after writing facts, ask for a rebuild of the dashboards' rollup, at most once "
        "per this many seconds, so that the dashboards catch up with /report in seconds "
        "(0: never; the rollup then rebuilds on its own every minute)", minimum=0,
        env="SINK_ROLLUP_REFRESH_INTERVAL",
    )
    http_host: str = setting(
        "127.0.0.1", "address of the HTTP endpoint (/report, /healthz, /readyz, /metrics), "
        "else the host of DOSSIERFLOW_SINK_URL, where `report` asks (0.0.0.0: every "
        "interface)",
        option="--http-host", env="SINK_HTTP_HOST",
    )
    http_port: int = setting(
        8686, "port of the HTTP endpoint, else the port of DOSSIERFLOW_SINK_URL", minimum=0,
        option="--http-port", env="SINK_HTTP_PORT",
    )
    http_allowed_hosts: str = config.allowed_hosts_setting(
        "/report, /dashboard and the probes", "SINK_HTTP_ALLOWED_HOSTS"
    )
    query_time_limit: float = setting(
        30.0, "seconds a query of /report or the dashboard may run before it is stopped "
        "(ClickHouse's max_execution_time) and answered 503", minimum=1,
        env="SINK_QUERY_TIME_LIMIT",
    )
    http_idle_timeout: float = setting(
        15.0, "seconds a connection may stay open without sending a whole request (slow or "
        "idle clients are closed)", minimum=1, env="SINK_HTTP_IDLE_TIMEOUT",
    )
    catalog: Path | None = config.catalog_setting(
        ", for the units' names and tree in /report and the dashboard"
    )
    startup_wait: float = config.startup_wait_setting()
    loglevel: str = config.loglevel_setting(
        "info", "info logs each request but the probes and scrapes that answered as "
        "expected; debug logs those too", env="SINK_LOGLEVEL",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> SinkSettings:
        """Defaults, then the DOSSIERFLOW_* variables, then explicit overrides."""
        return config.load(cls, environ, **overrides)
