"""Configuration: one frozen settings model per process, declared once.

Each model is a frozen dataclass whose fields are declared with `setting(default, help)`;
the field `bootstrap` is read from `DOSSIERFLOW_BOOTSTRAP` (a model may set another
`ENV_PREFIX`), then overridden by the command line's options. `load` validates every value
at start and names the variable (and the option) in its errors; `describe` feeds
`dossierflow config`, which prints the effective values with secrets masked, and the
configuration reference (docs/configuration.md), which is generated from the same declarations.

A small helper over dataclasses rather than pydantic-settings: the settings are a few flat
scalars, the errors must name the environment variable (pydantic names the field), and
commands that never read them (`--help`, `report`) should not import a validation library.

The names and sizes several processes share are defined here, once.
"""

from __future__ import annotations

import builtins
import dataclasses
import os
import re
import types
import typing
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from dossierflow.errors import DossierflowError, ExitCode

ENV_PREFIX = "DOSSIERFLOW_"
EVENTS_TOPIC = "dossier-events"
ALERTS_TOPIC = "dossier-alerts"
FACTS_TOPIC = "dossier-facts"
DEAD_LETTER_TOPIC = "dossier-dead-letters"
PARTITIONS = 4
"""Partitions of the topics the processes create (existing topics are left as they are)."""
BOOTSTRAP = "localhost:9092"

Model = TypeVar("Model")
SECRET_MASK = "***"


class ConfigError(DossierflowError, ValueError):
    """A setting has a value that cannot be used; the message names the variable."""

    exit_code = ExitCode.USAGE


def setting(
    default: Any,
    help: str,
    *,
    secret: bool = False,
    minimum: float | None = None,
    choices: tuple[str, ...] = (),
    aliases: tuple[str, ...] = (),
    option: str | None = None,
    metavar: str | None = None,
    env: str | None = None,
    read_env: bool = True,
    fold_case: bool = False,
    fallback: Callable[[Mapping[str, str] | None], Any] | None = None,
) -> Any:
    """A field of a settings model. `env` names its variable after the prefix when the
    field's name would clash with another process's setting; `aliases` are deprecated
    variable names still read (with a warning); `option` is the command-line option that
    overrides it, if any (commands/setting_options.py makes it, `metavar` naming its value
    in the help). `read_env=False`: set by the option (or the caller) only. `fold_case`: the value
    is read in lower case. `fallback(environ)`: the value used when the setting is left
    empty, computed when it is used because it depends on the environment (a folder under
    the user's data home)."""
    metadata = {
        "fallback": fallback,
        "env": env,
        "read_env": read_env,
        "help": help,
        "secret": secret,
        "minimum": minimum,
        "choices": choices,
        "aliases": aliases,
        "option": option,
        "metavar": metavar,
        "fold_case": fold_case,
    }
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Setting:
    """One declared setting, as `describe` lists it."""

    name: str
    env: str
    type: str
    default: Any
    help: str
    secret: bool
    option: str | None
    kind: builtins.type = str
    """The scalar type its text is read as (`parse_value`)."""
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    fold_case: bool = False
    fallback: Callable[[Mapping[str, str] | None], Any] | None = None
    aliases: tuple[str, ...] = ()
    """Deprecated variables still read."""


def _prefix(model: type) -> str:
    return str(getattr(model, "ENV_PREFIX", ENV_PREFIX))


def env_name(model: type, name: str) -> str:
    declared = next(
        (f.metadata.get("env") for f in fields(model) if f.name == name),
        None,
    )
    return _prefix(model) + (declared or name.upper())


def _types(model: type) -> dict[str, Any]:
    return typing.get_type_hints(model)


def _base_type(annotation: Any) -> tuple[type, bool]:
    """(the scalar type, whether None is allowed) of `X` or `X | None`."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


_ISO_DURATION = re.compile(
    r"P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


def parse_duration(text: str) -> timedelta:
    """Seconds (`600`) or an ISO 8601 duration of days, hours, minutes and seconds
    (`PT10M`, `P1DT12H`); never negative."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        match = _ISO_DURATION.fullmatch(text.upper())
        if match is None or text.upper() in {"P", "PT"} or text.upper().endswith("T"):
            raise ValueError(text) from None
        parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
        return timedelta(**parts)
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(text)
    return timedelta(seconds=seconds)


def parse_value(kind: type, text: str) -> Any:
    """`text` read as a value of `kind`; ValueError says what was expected."""
    if kind is timedelta:
        try:
            return parse_duration(text)
        except ValueError:
            raise ValueError(
                "expected seconds or an ISO 8601 duration such as PT10M or P1D"
            ) from None
    if kind is bool:
        lowered = text.strip().lower()
        if lowered not in _TRUE | _FALSE:
            raise ValueError("expected true or false (1/0, yes/no)")
        return lowered in _TRUE
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError("expected a whole number") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("expected a number") from None
    if kind is Path:
        return Path(text).expanduser()
    return text


def _check(item: dataclasses.Field[Any], value: Any) -> None:
    minimum = item.metadata.get("minimum")
    if minimum is not None and value is not None and value < minimum:
        raise ValueError(f"must be at least {minimum:g}")
    choices = item.metadata.get("choices") or ()
    if choices and value is not None and value not in choices:
        raise ValueError("expected one of " + ", ".join(choices))


def named(model: type, name: str) -> str:
    """How a message names the setting `name` of `model`: `--option (or VARIABLE)`, or
    the variable alone when it has no option."""
    item = next(f for f in fields(model) if f.name == name)
    return _where(model, item, True)


def _where(model: type, item: dataclasses.Field[Any], option_given: bool) -> str:
    variable = env_name(model, item.name)
    option = item.metadata.get("option")
    return f"{option} (or {variable})" if option_given and option else variable


def load(
    model: type[Model],
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
    **overrides: Any,
) -> Model:
    """The model's defaults, then its DOSSIERFLOW_* variables, then the non-None
    `overrides` (command-line options). Raises `ConfigError` naming the variable."""
    env = os.environ if environ is None else environ
    hints = _types(model)
    values: dict[str, Any] = {}
    for item in fields(model):  # type: ignore[arg-type]
        if not item.metadata.get("read_env", True):
            continue
        name = env_name(model, item.name)
        text = env.get(name)
        for alias in item.metadata.get("aliases", ()):
            if text is None and env.get(alias) is not None:
                text = env[alias]
                message = f"{alias} is deprecated; use {name}"
                (warn or (lambda m: warnings.warn(m, DeprecationWarning, stacklevel=3)))(message)
                name = alias
        if item.metadata.get("secret"):
            name, text = _secret_from_file(env, name, text)
        if text is None or not text.strip():
            continue
        kind, _ = _base_type(hints[item.name])
        try:
            value = parse_value(kind, text.lower() if item.metadata.get("fold_case") else text)
            _check(item, value)
        except ValueError as exc:
            raise ConfigError(f"{name}={text!r}: {exc}") from None
        values[item.name] = value
    for key, value in overrides.items():
        if value is None:
            continue
        item = next((f for f in fields(model) if f.name == key), None)  # type: ignore[arg-type]
        if item is None:
            raise TypeError(f"{model.__name__} has no setting {key!r}")
        try:
            _check(item, value)
        except ValueError as exc:
            raise ConfigError(f"{_where(model, item, True)}={value!r}: {exc}") from None
        values[key] = value
    try:
        return replace(model(), **values)  # type: ignore[type-var]
    except ValueError as exc:
        if isinstance(exc, DossierflowError):
            raise
        raise ConfigError(str(exc)) from None


SECRET_FILE_SUFFIX = "_FILE"


def _secret_from_file(
    env: Mapping[str, str], name: str, text: str | None
) -> tuple[str, str | None]:
    """A secret setting may come from a file named by `NAME_FILE` instead (a Docker or
    Kubernetes secret, a systemd credential): kept off the environment, the command line
    and `ps`. Returns the variable that gave the value and the value."""
    file_name = name + SECRET_FILE_SUFFIX
    path = (env.get(file_name) or "").strip()
    if not path:
        return name, text
    if text is not None and text.strip():
        raise ConfigError(f"set only one of {name} and {file_name}")
    try:
        # Secret files usually end with a newline that is not part of the secret.
        return file_name, Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        problem = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{file_name}: cannot read {path}: {problem}") from None


def bootstrap_setting() -> Any:
    return setting(BOOTSTRAP, "Kafka bootstrap servers, HOST:PORT[,...]", option="--bootstrap",
                   metavar="HOST:PORT[,...]")


def loglevel_setting(default: str, more: str = "", env: str | None = None) -> Any:
    """The level of a process's logs (`--loglevel`), one of `logs.LEVELS`, in any case."""
    from dossierflow.logs import LEVELS

    return setting(
        default, "level of the logs: " + ", ".join(LEVELS) + (f"; {more}" if more else ""),
        choices=LEVELS, option="--loglevel", env=env, fold_case=True,
    )


def startup_wait_setting() -> Any:
    return setting(300.0, "seconds to wait for Kafka at start before giving up (0: for ever)",
                   minimum=0)


def allowed_hosts_setting(paths: str, env: str | None = None) -> Any:
    """The Host names an HTTP endpoint answers to beyond its defaults (`HttpAccess`)."""
    return setting(
        "", f"more names the endpoint of {paths} answers to, comma-separated, beside "
        "localhost, 127.0.0.1, ::1 and the address it listens on (*: any, behind a proxy "
        "or a network policy); other names get 421", env=env,
    )


def _shipped_catalog(environ: Mapping[str, str] | None = None) -> Path:
    # Imported when used: the catalogue's modules stay out of `--help`.
    from dossierflow.rules.catalog_units import shipped_catalog

    return shipped_catalog(environ)


def catalog_setting(purpose: str = "", env: str | None = None) -> Any:
    """The catalogue YAML (`--catalog`), the shipped sample when none is given; `purpose`
    says what the process reads it for."""
    return setting(None, f"catalogue YAML{purpose} (default: the shipped sample)",
                   option="--catalog", metavar="FILE", env=env, fallback=_shipped_catalog)


def _type_name(annotation: Any) -> str:
    kind, optional = _base_type(annotation)
    names = {str: "text", int: "integer", float: "number", bool: "true/false", Path: "path",
             timedelta: "duration"}
    return names.get(kind, kind.__name__) + (" (optional)" if optional else "")


def describe(model: type) -> list[Setting]:
    """The declared settings of `model`, in declaration order."""
    hints = _types(model)
    return [
        Setting(
            name=item.name,
            env=env_name(model, item.name) if item.metadata.get("read_env", True) else "",
            type=_type_name(hints[item.name]),
            default=item.default,
            help=item.metadata.get("help", ""),
            secret=bool(item.metadata.get("secret")),
            option=item.metadata.get("option"),
            kind=_base_type(hints[item.name])[0],
            choices=tuple(item.metadata.get("choices") or ()),
            metavar=item.metadata.get("metavar"),
            fold_case=bool(item.metadata.get("fold_case")),
            fallback=item.metadata.get("fallback"),
            aliases=tuple(item.metadata.get("aliases") or ()),
        )
        for item in fields(model)
    ]


def effective(
    settings: Any, environ: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """(variable, value) of every setting of `settings`, secrets masked. A setting left
    empty shows the value its fallback computes from `environ`, marked `(default)`."""
    rows = []
    fallbacks = {item.name: item.metadata.get("fallback") for item in fields(type(settings))}
    for entry in describe(type(settings)):
        if not entry.env:
            continue
        value = getattr(settings, entry.name)
        fallback = fallbacks[entry.name]
        shown = display(value)
        if entry.secret and value:
            shown = mask_url(shown) if "://" in shown or "@" in shown else SECRET_MASK
        elif fallback is not None and value in (None, ""):
            shown = f"{display(fallback(environ))} (default)"
        rows.append((entry.env, shown))
    return rows


def mask_url(url: str) -> str:
    """`url` with the password of its user information masked, a mistyped URL too
    (`htp://user:pw@host`, `http//user:pw@host`, `http://user/pw@host`): whatever follows the
    user name (up to its first `:` or `/`) until the last `@` is masked. chDB paths have no
    user information and are shown as they are."""
    head, at, host = url.rpartition("@")
    start = head.find("//") + 2 if "//" in head else 0
    userinfo = head[start:]
    user = re.split(r"[:/]", userinfo, maxsplit=1)[0]
    if not at or user == userinfo or url.strip().startswith("chdb:"):
        return url
    return f"{head[:start]}{user}:{SECRET_MASK}@{host}"


def display(value: Any) -> str:
    """`value` as a variable would hold it (a duration in seconds)."""
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g}"
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def data_home(environ: Mapping[str, str] | None = None) -> Path:
    """Where dossierflow keeps its data by default: `$XDG_DATA_HOME/dossierflow`, else
    `~/.local/share/dossierflow`, whatever the working directory."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "dossierflow"


def cache_home(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CACHE_HOME/dossierflow`, else `~/.cache/dossierflow`: downloads such as the
    Kafka jars, which can always be fetched again."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "dossierflow"


def default_store_url(environ: Mapping[str, str] | None = None) -> str:
    """The embedded chDB store under the user's data home."""
    return f"chdb://{data_home(environ) / 'clickhouse'}"


@dataclass(frozen=True)
class StoreSettings:
    """The ClickHouse store of `migrate`, `report`, `sink`, `replay --store` and `demo`."""

    clickhouse_url: str = setting(
        "",
        "the store: chdb:///absolute/path (embedded) or https://user:password@host:8443/db "
        "(http:// on 8123 sends the password in clear: a trusted network only) "
        "(default: chDB in $XDG_DATA_HOME/dossierflow/clickhouse, i.e. "
        "~/.local/share/dossierflow/clickhouse)",
        secret=True,
        option="--store",
        metavar="URL",
        fallback=default_store_url,
    )
    sink_url: str = setting(
        "http://127.0.0.1:8686",
        "report: the HTTP endpoint of a running `dossierflow sink`, asked first when it serves "
        "the same chDB store (chDB lets one process open it)",
        option="--sink-url", metavar="URL",
    )

    sink_token: str = setting(
        "",
        "the bearer token of the sink's HTTP endpoint: the sink then wants it on every path "
        "but /healthz and /readyz, and `report` sends it (at least 32 characters; from a "
        "file, a mounted secret, with DOSSIERFLOW_SINK_TOKEN_FILE: its first line)",
        secret=True,
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> StoreSettings:
        return load(cls, environ, **overrides)

    def url(self, environ: Mapping[str, str] | None = None) -> str:
        """The store URL, with the default location filled in."""
        return self.clickhouse_url or default_store_url(environ)

    def token(self) -> str | None:
        """The sink's token (its file is read as every secret's: `<VARIABLE>_FILE`); None
        when it is not set."""
        from dossierflow.http_access import read_token

        return read_token(self.sink_token, env_name(type(self), "sink_token"))


@dataclass(frozen=True)
class CatalogSettings:
    """The catalogue of `calendar`, `report` and `replay`, read as the worker's and the sink's."""

    catalog: Path | None = catalog_setting()


@dataclass(frozen=True)
class ProgressIndexSettings:
    """How `report --index 766`, `GET /report?index=766` and the dashboard read the Decision
    766 progress index (docs/domain.md, "The Decision 766 progress index")."""

    index766_apology_appointment: str = setting(
        "synced",
        "which appointment decides after an apology letter: `synced`, the new one the letter "
        "gives (the portal compares with the synced NgayHenTra), or `original`, the receipt's "
        "(the law: a delay an apology explains remains a delay)",
        choices=("synced", "original"),
    )
    index766_max_supplements: int = setting(
        1,
        "a dossier waiting for a supplement is on time unless more supplements than this were "
        "requested",
        minimum=0,
    )
    index766_bands: str = setting(
        "0.9:Tốt:good,0.8:Khá:fair,0.65:Trung bình:average,0:Yếu:weak",
        "classes of units, best first, as min_share_of_max_score:label_vi:label_en "
        "(a documented default; set the bands of your province's CCHC ranking)",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProgressIndexSettings:
        settings = load(cls, environ)
        settings.index_settings()  # a bad band list fails at start, naming the variable
        return settings

    def index_settings(self) -> Any:
        """The rules' `IndexSettings` (rules/progress_index.py)."""
        from dossierflow.rules.progress_index import ApologyAppointment, IndexSettings, parse_bands

        try:
            bands = parse_bands(self.index766_bands)
        except ValueError as exc:
            raise ConfigError(f"{env_name(type(self), 'index766_bands')}: {exc}") from None
        return IndexSettings(
            apology_appointment=ApologyAppointment(self.index766_apology_appointment),
            max_supplements_while_waiting=self.index766_max_supplements,
            bands=bands,
        )
