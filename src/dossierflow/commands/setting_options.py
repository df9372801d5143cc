"""Command-line options made from the settings models.

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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from dossierflow import config

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
    defaults: Mapping[str, Any] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Model:
    """`model` read as `config.load` does, the options of `args` that `add_setting_options`
    made overriding the variables. `defaults`: values that replace the declared defaults
    for this run, where neither the option nor the variable is given (the sink listens
    where DOSSIERFLOW_SINK_URL points). `warn`: says a deprecated variable was read
    (default: a DeprecationWarning)."""
    env = os.environ if environ is None else environ
    overrides = {s.name: getattr(args, s.name, None) for s in setting_options(model)}
    for name, value in (defaults or {}).items():
        if overrides.get(name) is None and not env.get(config.env_name(model, name)):
            overrides[name] = value
    return config.load(model, env, warn, **overrides)


def _option_type(entry: config.Setting) -> Callable[[str], Any]:
    """Read an option's text as its variable's (`config.parse_value`), so both accept the
    same values; argparse names the option in the error."""

    def parse(text: str) -> Any:
        try:
            return config.parse_value(entry.kind, text.lower() if entry.fold_case else text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None

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
