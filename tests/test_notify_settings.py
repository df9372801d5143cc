"""Notifier settings from the environment: shared Kafka names, a prefix per part, one-line
errors naming the variable."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from dossierflow.config import describe, effective
from dossierflow.notify.channels.smtp import SmtpSettings
from dossierflow.notify.channels.zalo import ZaloSettings
from dossierflow.notify.settings import (
    NotifySettings,
    notify_settings,
    smtp_settings,
    zalo_settings,
)


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


def test_the_names_config_shows_are_the_ones_read_and_secrets_are_masked() -> None:
    env = {
        "DOSSIERFLOW_BOOTSTRAP": "kafka:9093",
        "DOSSIERFLOW_NOTIFY_GROUP_ID": "province-notify",
        "DOSSIERFLOW_SMTP_PASSWORD": "hunter2",
        "DOSSIERFLOW_ZALO_ACCESS_TOKEN": "zns-token",
    }
    rows = dict(effective(notify_settings(env)))
    rows.update(effective(smtp_settings(env)))
    rows.update(effective(zalo_settings(env)))
    assert rows["DOSSIERFLOW_BOOTSTRAP"] == "kafka:9093"
    assert rows["DOSSIERFLOW_NOTIFY_GROUP_ID"] == "province-notify"
    assert rows["DOSSIERFLOW_SMTP_PASSWORD"] == rows["DOSSIERFLOW_ZALO_ACCESS_TOKEN"] == "***"
    assert "hunter2" not in rows.values() and "zns-token" not in rows.values()


@pytest.mark.parametrize(("model", "load"), [
    (NotifySettings, notify_settings), (SmtpSettings, smtp_settings),
    (ZaloSettings, zalo_settings),
])
def test_every_described_variable_is_read(
    model: type, load: Callable[[Mapping[str, str]], object]
) -> None:
    for entry in describe(model):
        given = {"integer": "7", "number": "7", "true/false": str(not entry.default)}.get(
            entry.type.removesuffix(" (optional)"), "x")
        if entry.choices:
            given = next(choice for choice in entry.choices if choice != entry.default)
        changed = getattr(load({entry.env: given}), entry.name)
        assert changed != entry.default, f"{entry.env} is described but not read"
