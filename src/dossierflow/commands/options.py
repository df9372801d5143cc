"""Options shared by several commands, and the options made from the settings models.

A command's settings are declared once, in its settings model (`config.setting`): a setting
with an `option` becomes that command-line option here, with its type, choices, help, the
default in effect and its variable (`add_setting_options`), and `settings_from` reads the
model back with the precedence of `config.load`: the option given, else the variable, else
the default. Nothing about a setting is written twice, so the help cannot drift from what
is read.

The settings models import what their checks need (the catalogue, the notifier's
channels): a command builds its options only when it is the one run (`CommandParser`), so
that `dossierflow report` does not pay for the worker's imports.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from dossierflow import config
from dossierflow.errors import DossierflowError, ExitCode

Model = TypeVar("Model")


class CommandParser(argparse.ArgumentParser):
    """The parser of one sub-command (cli.py's `parser_class`). `options(parser)`, when
    given, adds the command's options the first time the parser is used, to parse or to
    print its help."""

    def __init__(
        self, *args: Any, options: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._pending_options = options

    def _add_pending_options(self) -> None:
        add, self._pending_options = self._pending_options, None
        if add is not None:
            add(self)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._add_pending_options()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._add_pending_options()
        return super().format_usage()

    def format_help(self) -> str:
        self._add_pending_options()
        return super().format_help()


def setting_options(model: type, only: Sequence[str] = ()) -> list[config.Setting]:
    """The settings of `model` that have an option (those named in `only`, when given)."""
    chosen = [s for s in config.describe(model) if s.option and (not only or s.name in only)]
    unknown = set(only) - {s.name for s in chosen}
    if unknown:
        raise TypeError(f"{model.__name__} has no option for {', '.join(sorted(unknown))}")
    return chosen


def add_setting_options(
    parser: argparse.ArgumentParser, model: type, only: Sequence[str] = ()
) -> None:
    """Add an option per setting of `model` that declares one (or only those in `only`),
    its value kept under the setting's name. The options default to None, so that
    `settings_from` knows which were given; the help says the default in effect and the
    variable read when the option is not given."""
    for entry in setting_options(model, only):
        assert entry.option is not None
        kind: dict[str, Any] = (
            {"action": argparse.BooleanOptionalAction} if entry.kind is bool
            else {"type": _option_type(entry), "metavar": entry.metavar,
                  "choices": entry.choices or None}
        )
        parser.add_argument(entry.option, dest=entry.name, default=None, help=_help(entry),
                            **kind)


def settings_from(
    args: argparse.Namespace,
    model: type[Model],
    environ: Mapping[str, str] | None = None,
    below_variables: Mapping[str, Any] | None = None,
) -> Model:
    """`model` read as `config.load` does, the options of `args` that `add_setting_options`
    made overriding the variables. `below_variables`: values in effect when neither the
    option nor the variable is given, above the declared default (the sink listens where
    DOSSIERFLOW_SINK_URL points)."""
    env = os.environ if environ is None else environ
    overrides = {s.name: getattr(args, s.name, None) for s in setting_options(model)}
    for name, value in (below_variables or {}).items():
        if overrides.get(name) is None and not env.get(config.env_name(model, name)):
            overrides[name] = value
    return config.load(model, env, **overrides)


def _option_type(entry: config.Setting) -> Callable[[str], Any]:
    """Read an option's text as its variable's (`config.parse_value`), so both accept the
    same values; argparse names the option in the error."""

    def parse(text: str) -> Any:
        try:
            return config.parse_value(entry.kind, text.lower() if entry.fold_case else text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None

    parse.__name__ = entry.type  # what argparse calls the type in its errors
    return parse


def _help(entry: config.Setting) -> str:
    text, default = entry.help, entry.default
    if entry.fallback is not None and default in (None, ""):
        # The help says how the default is found (for the reference); here it is found.
        text = text.rsplit(" (default: ", 1)[0] if text.endswith(")") else text
        default = entry.fallback(None)
    shown = config.display(default) or "none"
    where = f"; env {entry.env}" if entry.env else ""
    # argparse formats the help with %: a literal % must be doubled.
    return f"{text} (default: {shown}{where})".replace("%", "%%")


EVENTS_FILE_HINT = "give a file of events, one JSON object a line"
"""What to do, in the error of `replay` and `produce` on a file they cannot read."""


def local_date(text: str) -> date:
    """An argparse type for a local date: `YYYY-MM-DD` or `dd/mm/yyyy`, the forms `report`
    accepts (one parser, so every command reads a date the same way)."""
    from dossierflow.reporting.report import ReportError, parse_date

    try:
        return parse_date(text, "date")
    except ReportError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("date ")) from None


class EventsFileError(DossierflowError):
    """The events file given to `replay` or `produce` cannot be read."""

    exit_code = ExitCode.USAGE


def check_events_file(path: Path) -> None:
    """Raise `EventsFileError` (one line, exit 2) with the system's reason (missing, a
    directory, no permission) unless `path` opens for reading. Opening it, not testing its
    type, is what tells them all apart, and `produce` checks before it connects to Kafka,
    which would otherwise be blamed."""
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise EventsFileError(
            f"{path}: cannot read it: {exc.strerror}; {EVENTS_FILE_HINT}"
        ) from exc

TOPIC_DEFAULTS = {
    "events": config.EVENTS_TOPIC,
    "alerts": config.ALERTS_TOPIC,
    "facts": config.FACTS_TOPIC,
    "dead-letter": config.DEAD_LETTER_TOPIC,
}


def add_kafka_options(parser: argparse.ArgumentParser, *topics: str) -> None:
    """`--bootstrap` and a `--<topic>-topic` per topic of `TOPIC_DEFAULTS` the command uses.
    They default to None: the command's settings model fills in the environment's value
    (`DOSSIERFLOW_BOOTSTRAP`, `DOSSIERFLOW_<TOPIC>_TOPIC`), else its default."""
    parser.add_argument(
        "--bootstrap",
        metavar="HOST:PORT[,...]",
        help=f"Kafka bootstrap servers (default: $DOSSIERFLOW_BOOTSTRAP, else {config.BOOTSTRAP})",
    )
    for topic in topics:
        variable = f"DOSSIERFLOW_{topic.upper().replace('-', '_')}_TOPIC"
        parser.add_argument(
            f"--{topic}-topic",
            metavar="TOPIC",
            help=f"default: ${variable}, else {TOPIC_DEFAULTS[topic]}",
        )


def add_catalog_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalog", type=Path, help="catalogue YAML (default: the sample)")


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="URL",
        help="chdb:///abs/path or http(s)://user:password@host:8123/db "
        "(default: $DOSSIERFLOW_CLICKHOUSE_URL, else chDB in "
        "$XDG_DATA_HOME/dossierflow/clickhouse, i.e. ~/.local/share/dossierflow/clickhouse)",
    )


def fail(command: str, message: str, status: int = 2) -> int:
    """Print `dossierflow COMMAND: message` on stderr and return `status` (for checks a
    command makes itself; errors of the lower layers are raised and printed by cli.main)."""
    print(f"dossierflow {command}: {message}", file=sys.stderr)
    return status
