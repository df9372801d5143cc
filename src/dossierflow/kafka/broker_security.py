"""A secured listener for the local broker: SASL_SSL with SCRAM-SHA-512 and an authorizer.

What a data centre's broker runs, on one node, so the tests can show that each process
holds only its rights (docs/operations.md, "Kafka and ClickHouse rights"):

- clients connect over TLS with the broker's certificate (a PEM key and chain signed by a
  private CA) and authenticate with SCRAM-SHA-512;
- KRaft's `StandardAuthorizer` allows only what an ACL grants; the admin is the one super
  user (it also carries the broker's own inter-broker and controller traffic);
- the admin's SCRAM credential is written at storage format (`--add-scram`): KRaft keeps
  credentials in its metadata log, so the first one must exist before the broker serves.
  The other principals get theirs from `dossierflow kafka users`.

The controller listener stays on loopback with SASL PLAIN (KRaft controllers cannot read
SCRAM credentials: they are the metadata being served).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from dossierflow.kafka.security import KafkaSecurity

SCRAM = "SCRAM-SHA-512"
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


_PLAIN_TEXT = re.compile(r"[A-Za-z0-9._~-]+")
"""What a user name or password of the test broker may hold: the storage tool's
`--add-scram` value and the JAAS options have no quoting of their own for the rest."""


@dataclass(frozen=True)
class BrokerSecurity:
    """The broker's TLS material and its admin (super user) credentials.

    `keystore` is one PEM file with the broker's private key (PKCS#8, unencrypted) and its
    certificate chain; `ca_file` the PEM of the CA that signed it, which the clients and the
    broker itself (as the client of its own listener) trust.
    """

    ca_file: Path
    keystore: Path
    admin_user: str = "admin"
    admin_password: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        for what, text in (("user name", self.admin_user), ("password", self.admin_password)):
            if not _PLAIN_TEXT.fullmatch(text):
                raise ValueError(f"the admin {what} may hold only letters, digits and ._~-")

    def properties(self) -> str:
        """Lines appended to server.properties: in a properties file the last value of a
        key wins, so these replace the template's PLAINTEXT listeners."""
        admin, password = f'"{self.admin_user}"', f'"{self.admin_password}"'
        scram_login = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f"username={admin} password={password};"
        )
        plain_login = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f"username={admin} password={password} user_{self.admin_user}={password};"
        )
        lines = [
            "# Secured listener (dossierflow.kafka.broker_security)",
            "listeners=SASL_SSL://${HOST}:${PORT},CONTROLLER://${HOST}:${CONTROLLER_PORT}",
            "advertised.listeners=SASL_SSL://${ADVERTISED_HOST}:${PORT}",
            "inter.broker.listener.name=SASL_SSL",
            "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT",
            f"listener.name.sasl_ssl.sasl.enabled.mechanisms={SCRAM}",
            f"sasl.mechanism.inter.broker.protocol={SCRAM}",
            f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={scram_login}",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            "sasl.mechanism.controller.protocol=PLAIN",
            f"listener.name.controller.plain.sasl.jaas.config={plain_login}",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={self.keystore}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.ca_file}",
            f"authorizer.class.name={STANDARD_AUTHORIZER}",
            f"super.users=User:{self.admin_user}",
            "allow.everyone.if.no.acl.found=false",
        ]
        return "\n".join(lines) + "\n"

    def format_arguments(self) -> list[str]:
        """Arguments of the storage tool's `format` that write the admin's credential."""
        return ["--add-scram", f"{SCRAM}=[name={self.admin_user},password={self.admin_password}]"]

    def client(self, user: str | None = None, password: str | None = None) -> KafkaSecurity:
        """Client settings for this broker: the admin's, or those of `user`."""
        return KafkaSecurity(
            security_protocol="SASL_SSL",
            sasl_mechanism=SCRAM,
            sasl_username=user or self.admin_user,
            sasl_password=password if user else self.admin_password,
            ssl_cafile=str(self.ca_file),
        )
