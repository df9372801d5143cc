"""Notifier settings: defaults for a laptop, each overridable by a DOSSIERFLOW_ variable.

`NotifySettings` fields read `DOSSIERFLOW_NOTIFY_<FIELD>` (the Kafka bootstrap and topic names
use the same variables as every other command: DOSSIERFLOW_BOOTSTRAP, DOSSIERFLOW_ALERTS_TOPIC,
DOSSIERFLOW_FACTS_TOPIC); `SmtpSettings` fields read `DOSSIERFLOW_SMTP_<FIELD>` and
`ZaloSettings` fields `DOSSIERFLOW_ZALO_<FIELD>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dossierflow import config
from dossierflow.notify.channels.smtp import SmtpSettings
from dossierflow.notify.channels.zalo import ZaloSettings

_COMMON_NAMES = {
    "bootstrap": "BOOTSTRAP", "alerts_topic": "ALERTS_TOPIC", "facts_topic": "FACTS_TOPIC",
}
"""Fields read from the variable every command uses for the same thing."""


@dataclass(frozen=True)
class NotifySettings:
    bootstrap: str = "localhost:9092"
    alerts_topic: str = "dossier-alerts"
    facts_topic: str = "dossier-facts"
    """Read for closing facts only: a closed dossier leaves the morning digest."""
    group_id: str = "dossierflow-notify"
    recipients: Path = Path("recipients.yaml")
    catalog: Path | None = None
    """Catalogue YAML (units tree and working calendar); the shipped sample by default."""
    state: Path = Path(".dossierflow/notify.sqlite")
    batch_window: float = 30.0
    """Seconds a person's alerts wait in office hours so that a burst leaves as one message."""
    morning_digest: bool = True
    retention_days: float = 100
    """Sent deliveries are kept this long as dedup keys: more than the alerts topic keeps."""
    retry_base: float = 2.0
    retry_cap: float = 600.0
    """Seconds: backoff of a failing message doubles from `retry_base` up to this."""
    tick: float = 0.2
    """Seconds between two looks at the outbox."""
    concurrency: int = 32
    """Messages in flight at once (each to one person on one channel)."""
    max_alerts_per_message: int = 100
    """A longer burst or digest is split: past this a list is not read, and payloads grow."""
    metrics_port: int = 9110
    http_host: str = "127.0.0.1"


def notify_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> NotifySettings:
    return config.load(
        NotifySettings, environ, prefix="DOSSIERFLOW_NOTIFY_", names=_COMMON_NAMES, **overrides
    )


def smtp_settings(environ: Mapping[str, str] | None = None) -> SmtpSettings:
    return config.load(SmtpSettings, environ, prefix="DOSSIERFLOW_SMTP_")


def zalo_settings(environ: Mapping[str, str] | None = None) -> ZaloSettings:
    return config.load(ZaloSettings, environ, prefix="DOSSIERFLOW_ZALO_")
