"""`dossierflow config`: the effective configuration of each process, secrets masked.

`--markdown` prints the configuration reference instead (docs/configuration.md holds a copy,
checked against it by tests/test_config.py; `python deploy/gen_config_docs.py` rewrites it).
"""

from __future__ import annotations

import argparse
import importlib
from datetime import timedelta
from typing import Any

PROCESSES: dict[str, tuple[str, ...]] = {
    "worker": ("dossierflow.streams.settings:WorkerSettings",
               "dossierflow.kafka.security:KafkaSecurity"),
    "sink": ("dossierflow.sinks.settings:SinkSettings", "dossierflow.config:StoreSettings",
             "dossierflow.config:ProgressIndexSettings",
             "dossierflow.kafka.security:KafkaSecurity"),
    "produce": ("dossierflow.commands.produce:ProduceSettings",
                "dossierflow.kafka.security:KafkaSecurity"),
    "intake": ("dossierflow.intake.settings:IntakeSettings",
               "dossierflow.kafka.security:KafkaSecurity"),
    "store": ("dossierflow.config:StoreSettings", "dossierflow.config:ProgressIndexSettings"),
    "catalog": ("dossierflow.config:CatalogSettings",),
    "kafka": ("dossierflow.kafka.local_broker:LocalBrokerSettings",),
    "kafka-rights": ("dossierflow.kafka.rights:KafkaPrincipals",
                     "dossierflow.kafka.security:KafkaSecurity"),
    "notify": ("dossierflow.notify.settings:NotifySettings",
               "dossierflow.notify.channels.smtp:SmtpSettings",
               "dossierflow.notify.channels.zalo:ZaloSettings",
               "dossierflow.kafka.security:KafkaSecurity"),
}
"""The settings models each process reads (`produce`: also `simulate --produce`; `store`:
migrate, report, replay, demo; `catalog`: calendar, report, replay; `kafka-rights`: `kafka
acls|users`, which also read the worker's, sink's and notifier's topic and group names)."""


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "config",
        help="print the effective configuration (secrets masked), or its reference",
        description="Print the settings each process would use now, as VARIABLE=value lines "
        "(defaults, then the environment), secrets masked. `store` is the store of migrate, "
        "report, replay and demo; `catalog` the catalogue of calendar, report and replay; `kafka` "
        "the local development broker.",
    )
    parser.add_argument("--process", choices=tuple(PROCESSES), help="default: every process")
    parser.add_argument("--markdown", action="store_true",
                        help="print the configuration reference (Markdown) instead")
    parser.set_defaults(func=run)


def model(path: str) -> type:
    module, _, name = path.partition(":")
    found: type = getattr(importlib.import_module(module), name)
    return found


def run(args: argparse.Namespace) -> int:
    if args.markdown:
        print(reference_markdown(), end="")
        return 0
    from dossierflow.config import effective, load

    for process in [args.process] if args.process else PROCESSES:
        print(f"# {process}")
        for path in PROCESSES[process]:
            cls = model(path)
            from_env = getattr(cls, "from_env", None)
            settings = from_env() if from_env else load(cls)
            for variable, value in effective(settings):
                print(f"{variable}={value}")
        print()
    return 0


def reference_markdown() -> str:
    """One table per settings model, in the order of `PROCESSES`."""
    from dossierflow.config import describe

    seen: list[str] = []
    for paths in PROCESSES.values():
        seen.extend(path for path in paths if path not in seen)
    users = {
        path: ", ".join(process for process, paths in PROCESSES.items() if path in paths)
        for path in seen
    }
    parts = []
    for path in seen:
        cls = model(path)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        lines = [
            f"#### `{cls.__name__}` ({users[path]})",
            "",
            *([doc, ""] if doc and not doc.startswith(cls.__name__ + "(") else []),
            "| variable | option | default | meaning |",
            "|---|---|---|---|",
        ]
        for entry in describe(cls):
            default = "" if entry.default in (None, "") else f"`{_default(entry.default)}`"
            option = f"`{entry.option}`" if entry.option else ""
            secret = (
                f" (secret: masked by `dossierflow config`; or `{entry.env}_FILE`, a file "
                "holding it)" if entry.secret and entry.env else ""
            )
            variable = f"`{entry.env}`" if entry.env else "—"
            lines.append(f"| {variable} | {option} | {default} | {entry.help}{secret} |")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def _default(value: Any) -> str:
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g} s"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
