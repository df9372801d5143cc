"""`dossierflow kafka start|stop|status`: a local Apache Kafka broker for development;
`dossierflow kafka acls|users`: each process's rights and SCRAM credentials on a broker."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from dossierflow.commands.setting_options import add_setting_options, settings_from
from dossierflow.errors import ExitCode


def add_commands(subparsers: Any) -> None:
    """Register `kafka` on an argparse `add_subparsers()` object."""
    kafka = subparsers.add_parser(
        "kafka",
        help="a local Kafka broker for development; each process's rights on a broker",
        description="start|stop|status manage a local Apache Kafka broker (the jars are "
        "fetched from Maven Central on first start into ~/.cache/dossierflow/kafka/<version>/; "
        "needs Java 17+ and Maven). acls and users give each process its own principal and "
        "rights on a broker with an authorizer, run with the admin's DOSSIERFLOW_KAFKA_* "
        "settings.",
    )
    actions = kafka.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (("start", "start the local broker"), ("stop", "stop it"),
                         ("status", "say whether it runs (exit 3 when not)")):
        actions.add_parser(action, help=text, options=_add_local_options).set_defaults(
            func=run_kafka)

    acls = actions.add_parser(
        "acls", options=_add_rights_options,
        help="create the pipeline's topics and each process's ACLs (idempotent)",
        description="Create the pipeline's topics and the ACLs of the worker, sink, notifier "
        "and intake principals (DOSSIERFLOW_KAFKA_*_PRINCIPAL) for the topics and groups "
        "their settings name; what exists is left as it is, nothing is removed.",
    )
    acls.set_defaults(func=run_acls)
    users = actions.add_parser(
        "users", options=_add_rights_options,
        help="set the SCRAM-SHA-512 password of each process's principal",
        description="Create or replace the SCRAM-SHA-512 credential of each principal from "
        "the file of the same name in --password-dir (a Kubernetes or systemd secret).",
    )
    users.add_argument("--password-dir", type=Path, required=True,
                       help="folder with one file per principal holding its password")
    users.set_defaults(func=run_users)


def _add_local_options(parser: argparse.ArgumentParser) -> None:
    from dossierflow.kafka.local_broker import LocalBrokerSettings

    add_setting_options(parser, LocalBrokerSettings)


def _add_rights_options(parser: argparse.ArgumentParser) -> None:
    from dossierflow.streams.settings import WorkerSettings

    # The broker the worker reads: its topics and group are what the rights are about.
    add_setting_options(parser, WorkerSettings, only=["bootstrap"])
    parser.add_argument("--dry-run", action="store_true",
                        help="list what would be done; connect to nothing")


def run_kafka(args: argparse.Namespace) -> int:
    from dossierflow.kafka.local_broker import (
        KafkaAlreadyRunning,
        KafkaLocalError,
        LocalBrokerSettings,
        LocalKafka,
    )

    settings = settings_from(args, LocalBrokerSettings)
    try:
        # The port given, else the running broker's, else the variable's (LocalKafka).
        broker = LocalKafka(settings.data_dir, args.port, startup_timeout=settings.timeout)
        if args.action == "start":
            began = time.monotonic()
            try:
                status = broker.start()
            except KafkaAlreadyRunning as exc:
                print(f"kafka: {exc}", file=sys.stderr)
                return 0
            print(
                f"kafka: started on {status.bootstrap} (pid {status.pid}) in "
                f"{time.monotonic() - began:.1f} s; data {broker.data_dir}, log {broker.log_file}"
            )
            return 0
        if args.action == "stop":
            if broker.stop(timeout=settings.timeout):
                print(f"kafka: stopped the broker of {broker.data_dir}")
            else:
                print(f"kafka: no broker running from {broker.data_dir}")
            return 0
        running = broker.status()
        if running is None:
            print(f"kafka: not running (data {broker.data_dir})")
            # Like `systemctl status`: not running is not an error of the command.
            return ExitCode.CHECK_FAILED
        print(
            f"kafka: running on {running.bootstrap} (pid {running.pid}, up "
            f"{time.time() - running.started_at:.0f} s); data {running.data_dir}, "
            f"log {running.log_file}"
        )
        return 0
    except KafkaLocalError as exc:
        print(f"kafka: {exc}", file=sys.stderr)
        return 1


def run_acls(args: argparse.Namespace) -> int:
    from dossierflow.kafka.acl_admin import apply_grants
    from dossierflow.kafka.admin import admin_client
    from dossierflow.kafka.rights import KafkaPrincipals, PipelineNames, plan
    from dossierflow.kafka.security import KafkaSecurity
    from dossierflow.kafka.topics import ensure_topics
    from dossierflow.notify.settings import notify_settings
    from dossierflow.sinks.settings import SinkSettings
    from dossierflow.streams.settings import WorkerSettings

    worker = settings_from(args, WorkerSettings)
    names = PipelineNames(
        events_topic=worker.events_topic, alerts_topic=worker.alerts_topic,
        facts_topic=worker.facts_topic, dead_letter_topic=worker.dead_letter_topic,
        worker_app_id=worker.app_id, sink_group=SinkSettings.from_env().group_id,
        notify_group=notify_settings().group_id,
    )
    grants = plan(names, KafkaPrincipals.from_env())
    topics = worker.topics()
    if args.dry_run:
        for spec in topics:
            print(f"topic {spec.name}: created if missing, partitions: {spec.partitions}")
        for grant in grants:
            print(grant.line())
        return 0
    security = KafkaSecurity.from_env()
    result = ensure_topics(worker.bootstrap, topics, security=security)
    for name in result.created:
        print(f"topic {name}: created")
    with admin_client(worker.bootstrap, security) as admin:
        applied = apply_grants(admin, security, grants)
    for grant in grants:
        print(f"{grant.line()}: {'created' if grant in applied.created else 'present'}")
    for grant in applied.beyond_plan:
        print(f"{grant.line()}: held beyond the plan (not removed; review it)")
    print(f"{len(grants)} grants: {len(applied.created)} created, {len(applied.present)} "
          f"already present; {len(result.created)} topics created")
    return 0


def run_users(args: argparse.Namespace) -> int:
    from dossierflow.config import ConfigError
    from dossierflow.kafka.acl_admin import set_passwords
    from dossierflow.kafka.admin import admin_client
    from dossierflow.kafka.rights import KafkaPrincipals
    from dossierflow.kafka.security import KafkaSecurity
    from dossierflow.streams.settings import WorkerSettings

    bootstrap = settings_from(args, WorkerSettings).bootstrap
    files = {user: args.password_dir / user for user in KafkaPrincipals.from_env().users()}
    if args.dry_run:
        for user, path in files.items():
            print(f"User:{user}: SCRAM-SHA-512 password from {path}")
        return 0
    passwords: dict[str, str] = {}
    for user, path in files.items():
        try:
            passwords[user] = path.read_text().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"--password-dir: cannot read {path}: {exc.strerror}") from None
        if not passwords[user]:
            raise ConfigError(f"--password-dir: {path} is empty")
    security = KafkaSecurity.from_env()
    with admin_client(bootstrap, security) as admin:
        set_passwords(admin, passwords)
    for user in passwords:
        print(f"User:{user}: SCRAM-SHA-512 credential set")
    return 0
