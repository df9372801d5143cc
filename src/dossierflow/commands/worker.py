"""`dossierflow worker`: run the Faust app (topics are created first if missing)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dossierflow.commands.setting_options import add_setting_options, settings_from


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run the real-time worker (Faust) on the events topic",
        description="Consume dossier events from Kafka, keep per-dossier state, fire "
        "deadline alerts, publish facts and dead letters. Each option's help names the "
        "DOSSIERFLOW_* variable read when the option is not given.",
        options=_add_options,
    )
    parser.set_defaults(func=run)


def _add_options(parser: argparse.ArgumentParser) -> None:
    from dossierflow.streams.settings import WorkerSettings

    add_setting_options(parser, WorkerSettings)


def run(args: argparse.Namespace) -> int:
    from dossierflow.streams.collector import defer_full_collections

    defer_full_collections()  # this process is the worker: see streams/collector.py
    from dossierflow.stopping import exit_code_for

    Worker = _worker_class()
    from dossierflow import config, logs
    from dossierflow.health import start_health_server
    from dossierflow.kafka import credentials_watch
    from dossierflow.kafka.consumer import refusal_behind, topic_operation_of
    from dossierflow.kafka.preflight import check_rights
    from dossierflow.kafka.security import KafkaSecurity
    from dossierflow.kafka.topics import ensure_topics_waiting
    from dossierflow.rules.catalog import load_catalog
    from dossierflow.streams.faust_internals import internal_topics
    from dossierflow.streams.health import WorkerHealth
    from dossierflow.streams.settings import WorkerSettings
    from dossierflow.streams.worker import DossierWorker

    settings = settings_from(args, WorkerSettings)
    logs.configure(settings.loglevel)
    catalog = load_catalog(settings.catalog)
    _make_table_folder(settings.data_dir, config.named(WorkerSettings, "data_dir"))
    security = KafkaSecurity.from_env()
    health = WorkerHealth(settings)
    server = start_health_server(
        settings.metrics_host, settings.metrics_port, health.readiness,
        config.named(WorkerSettings, "metrics_port"),
        allowed_hosts=settings.metrics_allowed_hosts.split(","),
    )
    ensure_topics_waiting(
        settings.bootstrap, settings.topics(), security=security, wait=settings.startup_wait
    )
    worker = DossierWorker(settings, catalog, security)
    check_rights(settings.bootstrap, security, may_create=internal_topics(worker.app),
                 groups=[settings.app_id])
    health.attach(worker)
    credentials_watch.watch_authentications()
    worker.app.timer(1.0)(_end_if_credentials_refused)
    faust_worker = Worker(
        worker.app,
        loglevel=settings.loglevel,
        quiet=True,
        logging_config=logs.logging_config(settings.loglevel),
    )
    # Faust's spinner sets the root logger to DEBUG, and then every debug call of Faust and
    # aiokafka builds a record, a cost the hot path does not need.
    faust_worker.spinner = None
    try:
        faust_worker.execute_from_commandline()
    except SystemExit as done:  # how Faust's worker always ends
        # A grant removed or a password changed while it ran: said as the start-up check
        # says it. crash_reason: mode's Service, why it stopped if it crashed.
        crash = faust_worker.crash_reason
        refused = refusal_behind(crash, settings.app_id,
                                 topic_operation=topic_operation_of(crash))
        if refused is not None:
            raise refused from None
        if done.code not in (0, None):
            raise
    finally:
        server.shutdown()
    return exit_code_for(faust_worker.received)


async def _end_if_credentials_refused() -> None:
    """A Faust timer: a reconnection Kafka refused (a password changed while the worker
    runs, kafka/credentials_watch.py) ends the worker at once, exit 2 with the refusal's
    sentence: not through Faust's crash path, which could commit past what another broker
    still took (`stop_at_once`)."""
    from dossierflow.kafka.credentials_watch import refusal
    from dossierflow.streams.worker import stop_at_once

    if refusal() is not None:
        stop_at_once("Kafka refused the worker's credentials")


def _make_table_folder(folder: Path, named: str) -> None:
    """Faust makes only the last folder of its data dir, and a fresh clone has no
    `.dossierflow/`: make the parents too, before waiting for Kafka, so a folder that
    cannot be made is said at once."""
    from dossierflow.config import ConfigError

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot make the table folder {folder}: {exc.strerror}; give a folder it may "
            f"write with {named}"
        ) from None


def _worker_class() -> Any:
    """Faust's worker, remembering which signal stopped it (so Ctrl-C exits 130 and a
    supervisor's SIGTERM 0, as for every process: `dossierflow.stopping`). mode's worker
    handles the signals in `_on_sigint` and `_on_sigterm` (mode-streaming, pinned)."""
    import signal

    from faust.worker import Worker

    class SignalRecordingWorker(Worker):
        received: signal.Signals | None = None

        def _on_sigint(self) -> None:
            self.received = self.received or signal.SIGINT
            super()._on_sigint()

        def _on_sigterm(self) -> None:
            self.received = self.received or signal.SIGTERM
            super()._on_sigterm()

    return SignalRecordingWorker
