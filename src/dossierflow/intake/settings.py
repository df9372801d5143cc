"""Settings of `dossierflow intake` (the file command and `intake serve`).

Kafka's address and the events topic are the variables every process shares
(DOSSIERFLOW_BOOTSTRAP, DOSSIERFLOW_EVENTS_TOPIC); the intake's own are DOSSIERFLOW_INTAKE_*.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from dossierflow import config
from dossierflow.config import ConfigError, env_name, setting
from dossierflow.intake.translate import IntakeRules

MIB = 1024 * 1024


def default_rejections_file(environ: Mapping[str, str] | None = None) -> Path:
    return config.data_home(environ) / "intake-rejections.jsonl"


def default_memory_file(environ: Mapping[str, str] | None = None) -> Path:
    return config.data_home(environ) / "intake-memory.sqlite3"


@dataclass(frozen=True)
class IntakeSettings:
    """How the intake reads the one-stop systems' bodies and where it listens for them."""

    bootstrap: str = config.bootstrap_setting()
    events_topic: str = setting(config.EVENTS_TOPIC, "topic of the dossier events",
                                option="--topic")
    partitions: int = setting(config.PARTITIONS, "partitions when the topic has to be created",
                              minimum=1)
    unit_codes_file: str = setting(
        "", "a YAML or JSON mapping of DonViXuLy as the one-stop system sends it (a unit's "
        "name) to the catalogue's unit code; a name not in it is used as sent",
        env="INTAKE_UNIT_CODES_FILE",
    )
    nine_may_hide_pause: bool = setting(
        False, "the sender rewrites statuses 5, 6 and 8 to 9 (as HuanVu201's does): a 9 "
        "without NgayKetThucXuLy is then an open dossier, not a rejected record",
        env="INTAKE_NINE_MAY_HIDE_PAUSE",
    )
    http_host: str = setting(
        "127.0.0.1", "address `intake serve` listens on (0.0.0.0: every interface, behind the "
        "reverse proxy or a network policy)", option="--http-host", env="INTAKE_HTTP_HOST",
    )
    http_port: int = setting(8687, "port of `intake serve`", minimum=0, option="--http-port",
                             env="INTAKE_HTTP_PORT")
    http_allowed_hosts: str = config.allowed_hosts_setting(
        "POST / and the probes of `intake serve`", "INTAKE_HTTP_ALLOWED_HOSTS"
    )
    token: str = setting(
        "", "the bearer token the one-stop system (or the LGSP) sends to `intake serve`: "
        "required, at least 32 characters (from a mounted secret with "
        "DOSSIERFLOW_INTAKE_TOKEN_FILE: its first line)",
        secret=True, env="INTAKE_TOKEN",
    )
    max_body_bytes: int = setting(
        8 * MIB, "largest request body `intake serve` reads; a larger one is answered 413",
        minimum=1024, env="INTAKE_MAX_BODY_BYTES",
    )
    ack_timeout: float = setting(
        30.0, "seconds Kafka has to acknowledge a body's events; after that the body is "
        "answered 503 and the sender sends it again", minimum=1, env="INTAKE_ACK_TIMEOUT",
    )
    rejections_file: str = setting(
        "", "JSON Lines file the intake appends each rejected record or body to: the reason "
        "and the body with its personal fields removed. `intake serve` keeps it in "
        "$XDG_DATA_HOME/dossierflow/intake-rejections.jsonl unless set; `intake FILE` only "
        "counts them unless set",
        option="--rejections", metavar="FILE", env="INTAKE_REJECTIONS_FILE",
    )
    memory_file: str = setting(
        "", "SQLite file keeping what the intake must remember of each dossier between bodies "
        "(the slip's appointment, to tell an apology's new one; the last status; the last "
        "step's instant) across restarts and files; one process at a time. `intake serve` "
        "keeps it in $XDG_DATA_HOME/dossierflow/intake-memory.sqlite3 unless set; `intake "
        "FILE` keeps none unless set (a day's export each: set it)",
        option="--memory", metavar="FILE", env="INTAKE_MEMORY_FILE",
    )
    http_idle_timeout: float = setting(
        15.0, "seconds a connection may stay open without sending a whole request",
        minimum=1, env="INTAKE_HTTP_IDLE_TIMEOUT",
    )
    loglevel: str = config.loglevel_setting(
        "info", "info logs each request but the routine probes, and each rejection's reason",
        env="INTAKE_LOGLEVEL",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None,
                 **overrides: Any) -> IntakeSettings:
        """Defaults, then the DOSSIERFLOW_* variables, then explicit overrides; the unit
        codes file is read now, so a bad one stops the command at start."""
        settings = config.load(cls, environ, **overrides)
        settings.rules()
        return settings

    def rules(self) -> IntakeRules:
        return IntakeRules(unit_codes=self._unit_codes(),
                           nine_may_hide_pause=self.nine_may_hide_pause)

    def rejections_path(self, serving: bool,
                        environ: Mapping[str, str] | None = None) -> Path | None:
        """The rejections file: the one set, else the default one for `intake serve`, else
        none (the file command counts them only)."""
        if self.rejections_file:
            return Path(self.rejections_file).expanduser()
        return default_rejections_file(environ) if serving else None

    def memory_path(self, serving: bool,
                    environ: Mapping[str, str] | None = None) -> Path | None:
        """The memory file: the one set, else the default one for `intake serve`, else
        none (docs/intake.md, "Memory")."""
        if self.memory_file:
            return Path(self.memory_file).expanduser()
        return default_memory_file(environ) if serving else None

    def bearer_token(self) -> str:
        """The token `intake serve` wants; a ConfigError naming the variable when unset."""
        from dossierflow.http_access import read_token

        variable = env_name(type(self), "token")
        token = read_token(self.token, variable)
        if token is None:
            raise ConfigError(
                f"intake serve accepts bodies only with a bearer token: set {variable}_FILE "
                f"(a mounted secret) or {variable} (openssl rand -hex 32)"
            )
        return token

    def _unit_codes(self) -> dict[str, str]:
        if not self.unit_codes_file:
            return {}
        variable = env_name(type(self), "unit_codes_file")
        path = Path(self.unit_codes_file).expanduser()
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{variable}: cannot read {path}: {exc.strerror}") from None
        try:
            return msgspec.yaml.decode(text, type=dict[str, str])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ConfigError(
                f"{variable}: {path} must map unit names to unit codes: {exc}"
            ) from None
