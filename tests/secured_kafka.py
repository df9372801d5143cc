"""A second session broker, secured as a data centre's: SASL_SSL with SCRAM-SHA-512,
certificates from a private CA made here (trustme), KRaft's StandardAuthorizer with the
admin as the one super user, and each process's principal and rights applied by
`dossierflow kafka users` and `dossierflow kafka acls` (the commands an operator runs).

Only tests that request `secured_kafka` start it (the rest of the suite keeps the plain
broker of conftest.py: starting every test's processes over TLS would cost minutes).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from dossierflow.kafka.broker_security import SCRAM, BrokerSecurity
from dossierflow.kafka.local_broker import LocalKafka, ensure_jars, free_port
from dossierflow.kafka.rights import KafkaPrincipals
from dossierflow.kafka.security import KafkaSecurity

PRINCIPALS = KafkaPrincipals()
PARTITIONS = "2"
"""Partitions of the pipeline's topics on this broker (DOSSIERFLOW_PARTITIONS)."""


def write_ca(ca: trustme.CA, path: Path) -> Path:
    ca.cert_pem.write_to_path(str(path))
    return path


def broker_keystore(ca: trustme.CA, path: Path) -> Path:
    """One PEM file with the broker's key (PKCS#8, as Kafka reads it) and its chain."""
    issued = ca.issue_cert("127.0.0.1", "localhost")
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), None)
    pkcs8 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    path.write_bytes(pkcs8 + b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class SecuredKafka:
    bootstrap: str
    folder: Path
    ca_file: Path
    admin: str
    passwords: Path
    """A folder with one file per principal (the admin's too) holding its password."""
    broker: LocalKafka

    def restart(self) -> None:
        """Stop the broker and start it again on the same port, as an operator's restart:
        every client connection is dropped, and a client that reconnects authenticates
        anew (its rights and credentials are kept in the broker's metadata log)."""
        self.broker.stop()
        self.broker.start()

    def password_file(self, user: str) -> Path:
        return self.passwords / user

    def env(self, user: str, *, password_file: Path | None = None,
            ca_file: Path | None = None) -> dict[str, str]:
        """The environment a process runs with as `user`."""
        return {
            "DOSSIERFLOW_BOOTSTRAP": self.bootstrap,
            "DOSSIERFLOW_PARTITIONS": PARTITIONS,
            "DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "DOSSIERFLOW_KAFKA_SASL_MECHANISM": SCRAM,
            "DOSSIERFLOW_KAFKA_SASL_USERNAME": user,
            "DOSSIERFLOW_KAFKA_SASL_PASSWORD_FILE": str(password_file
                                                        or self.password_file(user)),
            "DOSSIERFLOW_KAFKA_SSL_CAFILE": str(ca_file or self.ca_file),
        }

    def security(self, user: str) -> KafkaSecurity:
        return KafkaSecurity.from_env(self.env(user))


def dossierflow(*args: str, env: dict[str, str], timeout: float = 180
                ) -> subprocess.CompletedProcess[str]:
    """The command line, as a process, with `env` over this one's environment (less any
    Kafka security settings of the developer's shell)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DOSSIERFLOW_KAFKA_")}
    return subprocess.run([sys.executable, "-m", "dossierflow.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env={**inherited, **env})


@pytest.fixture(scope="session")
def secured_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredKafka]:
    ensure_jars()
    folder = tmp_path_factory.mktemp("secured-kafka")
    ca = trustme.CA(organization_name="dossierflow test CA")
    passwords = folder / "passwords"
    passwords.mkdir(mode=0o700)
    admin = "admin"
    for user in (admin, *PRINCIPALS.users()):
        (passwords / user).write_text(secrets.token_hex(16) + "\n")
    security = BrokerSecurity(
        ca_file=write_ca(ca, folder / "ca.pem"),
        keystore=broker_keystore(ca, folder / "broker.pem"),
        admin_user=admin,
        admin_password=(passwords / admin).read_text().strip(),
    )
    broker = LocalKafka(folder / "broker", free_port(), die_with_parent=True, security=security)
    broker.start()
    try:
        kafka = SecuredKafka(broker.bootstrap, folder, security.ca_file, admin, passwords,
                             broker)
        for action in (["users", "--password-dir", str(passwords)], ["acls"]):
            done = dossierflow("kafka", *action, env=kafka.env(admin))
            assert done.returncode == 0, done.stderr
        yield kafka
    finally:
        broker.stop()
