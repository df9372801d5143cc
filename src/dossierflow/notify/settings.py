"""Notifier settings: defaults for a laptop, each overridable by a DOSSIERFLOW_ variable.

`NotifySettings` fields read `DOSSIERFLOW_NOTIFY_<FIELD>` (the Kafka bootstrap and topic names
use the same variables as every other command: DOSSIERFLOW_BOOTSTRAP, DOSSIERFLOW_ALERTS_TOPIC,
DOSSIERFLOW_FACTS_TOPIC); `SmtpSettings` fields read `DOSSIERFLOW_SMTP_<FIELD>` and
`ZaloSettings` fields `DOSSIERFLOW_ZALO_<FIELD>`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dossierflow import config
from dossierflow.config import setting
from dossierflow.notify.channels.smtp import SmtpSettings
from dossierflow.notify.channels.zalo import ZaloSettings


@dataclass(frozen=True)
class NotifySettings:
    """Settings of `dossierflow notify` (the e-mail, webhook and Zalo channels below)."""

    bootstrap: str = config.bootstrap_setting()
    alerts_topic: str = setting(config.ALERTS_TOPIC, "topic of the alerts to deliver")
    facts_topic: str = setting(
        config.FACTS_TOPIC, "topic of the facts, read for closings only: a closed dossier "
        "leaves the morning digest",
    )
    group_id: str = setting("dossierflow-notify", "consumer group of the notifier",
                            env="NOTIFY_GROUP_ID")
    recipients: Path = setting(
        Path("recipients.yaml"), "recipients YAML: who is told about which unit, on which "
        "channels", option="--recipients", env="NOTIFY_RECIPIENTS",
    )
    catalog: Path | None = config.catalog_setting(
        ", for the units tree and the working calendar", env="NOTIFY_CATALOG"
    )
    state: Path = setting(
        Path(".dossierflow/notify.sqlite"), "SQLite file of the outbox, the deliveries and "
        "the dedup keys", option="--state", env="NOTIFY_STATE",
    )
    identifier_pattern: str = setting(
        r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", "pattern (whole match) every dossier id and "
        "procedure code of an alert must match; an alert that does not is rejected, counted "
        "and logged, never sent (no spaces, `:`, `/` or `@`: no link can hide in a message)",
        env="NOTIFY_IDENTIFIER_PATTERN",
    )
    batch_window: float = setting(
        30.0, "seconds a person's alerts wait in office hours so that a burst leaves as one "
        "message", minimum=0, env="NOTIFY_BATCH_WINDOW",
    )
    morning_digest: bool = setting(
        True, "send each person, at the start of the working day, the alerts held outside "
        "office hours and the dossiers still overdue", env="NOTIFY_MORNING_DIGEST",
    )
    retention_days: float = setting(
        100, "days sent deliveries are kept as dedup keys; keep it above the alerts topic's "
        "retention (90) so that no re-read alert finds its key gone", minimum=1,
        env="NOTIFY_RETENTION_DAYS",
    )
    retry_base: float = setting(
        2.0, "seconds of backoff after a message's first failure, doubled at each further "
        "one (with jitter)", minimum=0.01, env="NOTIFY_RETRY_BASE",
    )
    retry_cap: float = setting(600.0, "upper bound, in seconds, of that backoff", minimum=0.01,
                               env="NOTIFY_RETRY_CAP")
    tick: float = setting(0.2, "seconds between two looks at the outbox", minimum=0.01,
                          env="NOTIFY_TICK")
    concurrency: int = setting(32, "messages in flight at once (at most one per person and "
                               "channel)", minimum=1, env="NOTIFY_CONCURRENCY")
    max_alerts_per_message: int = setting(
        100, "a longer burst or digest is split: past this a list is not read, and payloads "
        "grow", minimum=1, env="NOTIFY_MAX_ALERTS_PER_MESSAGE",
    )
    webhook_ca_file: str | None = setting(
        None, "CA bundle (PEM) to trust for https:// webhooks, a private CA's (default: the "
        "system's)", env="NOTIFY_WEBHOOK_CA_FILE",
    )
    webhook_timeout: float = setting(10.0, "seconds one webhook request may take",
                                     minimum=0.1, env="NOTIFY_WEBHOOK_TIMEOUT")
    metrics_port: int = setting(9110, "port of /metrics (0: none)",
                                minimum=0, option="--metrics-port", env="NOTIFY_METRICS_PORT")
    http_host: str = setting("127.0.0.1", "address /metrics listens on",
                             env="NOTIFY_HTTP_HOST")
    http_allowed_hosts: str = config.allowed_hosts_setting(
        "/metrics", "NOTIFY_HTTP_ALLOWED_HOSTS"
    )
    loglevel: str = config.loglevel_setting("info", env="NOTIFY_LOGLEVEL")

    def __post_init__(self) -> None:
        try:
            re.compile(self.identifier_pattern)
        except re.error as exc:
            raise ValueError(
                f"DOSSIERFLOW_NOTIFY_IDENTIFIER_PATTERN={self.identifier_pattern!r}: not a "
                f"regular expression ({exc})"
            ) from None

    @property
    def identifier(self) -> re.Pattern[str]:
        return re.compile(self.identifier_pattern)


def notify_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> NotifySettings:
    return config.load(NotifySettings, environ, **overrides)


def smtp_settings(environ: Mapping[str, str] | None = None) -> SmtpSettings:
    return config.load(SmtpSettings, environ)


def zalo_settings(environ: Mapping[str, str] | None = None) -> ZaloSettings:
    return config.load(ZaloSettings, environ)
