"""Notifier settings from the environment: shared Kafka names, a prefix per part, one-line
errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from dossierflow.notify.settings import notify_settings, smtp_settings, zalo_settings


def test_kafka_names_are_shared_and_notifier_settings_have_their_prefix() -> None:
    settings = notify_settings({
        "DOSSIERFLOW_BOOTSTRAP": "kafka:9093",
        "DOSSIERFLOW_ALERTS_TOPIC": "alerts",
        "DOSSIERFLOW_NOTIFY_BATCH_WINDOW": "5",
        "DOSSIERFLOW_NOTIFY_MORNING_DIGEST": "no",
        "DOSSIERFLOW_NOTIFY_STATE": "/var/lib/n.sqlite",
        "DOSSIERFLOW_BATCH_WINDOW": "99",  # not the notifier's
    }, recipients=Path("r.yaml"), catalog=None)
    assert (settings.bootstrap, settings.alerts_topic, settings.facts_topic) == (
        "kafka:9093", "alerts", "dossier-facts")
    assert (settings.batch_window, settings.morning_digest) == (5.0, False)
    assert (settings.state, settings.recipients) == (Path("/var/lib/n.sqlite"), Path("r.yaml"))


def test_channel_settings_read_their_own_prefixes() -> None:
    smtp = smtp_settings({"DOSSIERFLOW_SMTP_PORT": "465", "DOSSIERFLOW_SMTP_STARTTLS": "false"})
    assert (smtp.port, smtp.starttls, smtp.host) == (465, False, "localhost")
    zalo = zalo_settings(
        {"DOSSIERFLOW_ZALO_ACCESS_TOKEN": "t", "DOSSIERFLOW_ZALO_TEMPLATE_ALERT": "1"}
    )
    assert (zalo.access_token, zalo.template_alert, zalo.template_digest) == ("t", "1", None)


def test_a_bad_value_names_its_variable() -> None:
    expected = r"^DOSSIERFLOW_NOTIFY_CONCURRENCY='many': expected a whole number$"
    with pytest.raises(ValueError, match=expected):
        notify_settings({"DOSSIERFLOW_NOTIFY_CONCURRENCY": "many"})
