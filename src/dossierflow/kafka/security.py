"""How Kafka clients authenticate and encrypt, read from the environment.

Connection security comes from the environment (`KafkaSecurity.from_env`) so production
credentials never sit in code or arguments.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from dossierflow.config import setting
from dossierflow.errors import DossierflowError, ExitCode

ENV_PREFIX = "DOSSIERFLOW_KAFKA_"
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class KafkaConfigError(DossierflowError, ValueError):
    """Kafka connection settings in the environment are incomplete or contradictory."""

    exit_code = ExitCode.USAGE


class _RedactSecret(logging.Filter):
    """Masks a secret in log records: kafka-python logs its whole config at DEBUG."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg = message.replace(self._secret, "***")
            record.args = None
        return True


_redacted: set[str] = set()
_redact_lock = threading.Lock()


def _redact_in_kafka_logs(secret: str) -> None:
    with _redact_lock:
        if secret in _redacted:
            return
        _redacted.add(secret)
        for name in ("kafka", "kafka.admin.client", "kafka.producer.kafka", "aiokafka"):
            logging.getLogger(name).addFilter(_RedactSecret(secret))


@dataclass(frozen=True)
class KafkaSecurity:
    """How clients authenticate and encrypt (SASL/SCRAM, TLS); PLAINTEXT for local dev.

    Build it with `from_env()`; the password is read from the environment or a file and
    is left out of `repr()` so it cannot leak through logs or tracebacks.
    """

    ENV_PREFIX: ClassVar[str] = ENV_PREFIX

    security_protocol: str = setting("PLAINTEXT", ", ".join(SECURITY_PROTOCOLS))
    sasl_mechanism: str | None = setting(None, "with SASL_*: " + ", ".join(SASL_MECHANISMS))
    sasl_username: str | None = setting(None, "with SASL_*: the user name")
    sasl_password: str | None = field(
        default=None,
        repr=False,
        metadata={"help": "with SASL_*: the password (or SASL_PASSWORD_FILE)", "secret": True},
    )
    sasl_password_file: str | None = setting(
        None, "with SASL_*: a file holding the password (a Docker or Kubernetes secret)"
    )
    ssl_cafile: str | None = setting(None, "with SSL: CA certificates (PEM) to trust")
    ssl_certfile: str | None = setting(None, "with SSL: client certificate (PEM), for mutual TLS")
    ssl_keyfile: str | None = setting(None, "with SSL: the client certificate's key (PEM)")

    def __post_init__(self) -> None:
        protocol = self.security_protocol
        if protocol not in SECURITY_PROTOCOLS:
            raise KafkaConfigError(
                f"{ENV_PREFIX}SECURITY_PROTOCOL={protocol!r}: expected one of "
                + ", ".join(SECURITY_PROTOCOLS)
            )
        if protocol.startswith("SASL"):
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise KafkaConfigError(
                    f"{protocol} needs {ENV_PREFIX}SASL_MECHANISM, one of "
                    + ", ".join(SASL_MECHANISMS)
                    + f" (got {self.sasl_mechanism!r})"
                )
            if not self.sasl_username or not self.sasl_password:
                raise KafkaConfigError(
                    f"{protocol} needs {ENV_PREFIX}SASL_USERNAME and {ENV_PREFIX}SASL_PASSWORD "
                    f"or {ENV_PREFIX}SASL_PASSWORD_FILE"
                )
        elif self.sasl_mechanism or self.sasl_username or self.sasl_password:
            raise KafkaConfigError(
                f"SASL settings are given but {ENV_PREFIX}SECURITY_PROTOCOL is {protocol}; "
                "use SASL_SSL or SASL_PLAINTEXT"
            )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise KafkaConfigError(
                f"{ENV_PREFIX}SSL_CERTFILE and {ENV_PREFIX}SSL_KEYFILE go together"
            )
        if self.sasl_password:
            _redact_in_kafka_logs(self.sasl_password)

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        """Read DOSSIERFLOW_KAFKA_{SECURITY_PROTOCOL,SASL_*,SSL_*}; unset means PLAINTEXT."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name, "").strip()
            return value or None

        password = env.get(ENV_PREFIX + "SASL_PASSWORD") or None
        password_file = get("SASL_PASSWORD_FILE")
        if password and password_file:
            raise KafkaConfigError(
                f"set only one of {ENV_PREFIX}SASL_PASSWORD and {ENV_PREFIX}SASL_PASSWORD_FILE"
            )
        if password_file:
            try:
                # Secret files (Docker/Kubernetes secrets) usually end with a newline.
                password = Path(password_file).read_text().rstrip("\r\n")
            except OSError as exc:
                raise KafkaConfigError(
                    f"{ENV_PREFIX}SASL_PASSWORD_FILE: cannot read {password_file}: {exc.strerror}"
                ) from None
        for name in ("SSL_CAFILE", "SSL_CERTFILE", "SSL_KEYFILE"):
            path = get(name)
            if path and not Path(path).is_file():
                raise KafkaConfigError(f"{ENV_PREFIX}{name}: {path} is not a file")
        return cls(
            security_protocol=(get("SECURITY_PROTOCOL") or "PLAINTEXT").upper(),
            sasl_mechanism=(get("SASL_MECHANISM") or "").upper() or None,
            sasl_username=get("SASL_USERNAME"),
            sasl_password=password,
            sasl_password_file=password_file,
            ssl_cafile=get("SSL_CAFILE"),
            ssl_certfile=get("SSL_CERTFILE"),
            ssl_keyfile=get("SSL_KEYFILE"),
        )

    def as_kafka_python_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for KafkaProducer/KafkaConsumer/KafkaAdminClient."""
        kwargs: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.sasl_mechanism:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        if self.uses_ssl:
            for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                if getattr(self, key):
                    kwargs[key] = getattr(self, key)
        return kwargs

    def as_aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer/AIOKafkaConsumer: kafka-python's, but
        TLS as an SSLContext instead of file names."""
        kwargs = {
            key: value
            for key, value in self.as_kafka_python_kwargs().items()
            if not key.startswith("ssl_")
        }
        if self.uses_ssl:
            from aiokafka.helpers import create_ssl_context

            kwargs["ssl_context"] = create_ssl_context(
                cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile
            )
        return kwargs

    def as_faust_credentials(self) -> Any:
        """`broker_credentials` for a Faust app, or None for PLAINTEXT."""
        if self.security_protocol == "PLAINTEXT":
            return None
        import ssl

        import faust

        context: ssl.SSLContext | None = None
        if self.uses_ssl:
            context = ssl.create_default_context(cafile=self.ssl_cafile)
            if self.ssl_certfile:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        if self.sasl_mechanism:
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password,
                mechanism=self.sasl_mechanism,
                ssl_context=context,
            )
        return faust.SSLCredentials(context)
