"""Why a Kafka client could not connect, said as such.

kafka-python and aiokafka both end a failed bootstrap with "Unable to bootstrap", whether
nobody listens, the broker's certificate is not trusted or the broker refused the password
(aiokafka only logs the cause). Waiting helps only the first: after a failed bootstrap,
`connection_refusal` opens one connection itself, with the same settings, to tell which.

That probe is aiokafka's `create_conn` (the TLS handshake and the SASL exchange its clients
run): the one use of an aiokafka internal, checked by tests/test_kafka_rights.py against a
broker that refuses each.
"""

from __future__ import annotations

import asyncio
import ssl

from dossierflow.errors import DossierflowError, ExitCode
from dossierflow.health import server_addresses
from dossierflow.kafka.security import KafkaSecurity


class KafkaRefused(DossierflowError):
    """The broker answered but refused this client: its settings or rights must change,
    so waiting does not help."""

    exit_code = ExitCode.USAGE


class KafkaCredentialsRefused(KafkaRefused):
    """SASL authentication failed."""


class KafkaCertificateUntrusted(KafkaRefused):
    """The broker's TLS certificate does not verify against the configured CA."""


class KafkaNotAuthorized(KafkaRefused):
    """The broker's authorizer refused an operation to this principal."""


def principal(security: KafkaSecurity) -> str:
    """How the broker knows this client: its SASL user, or ANONYMOUS without SASL."""
    return f"User:{security.sasl_username}" if security.sasl_username else "User:ANONYMOUS"


def not_authorized(security: KafkaSecurity, what: str) -> KafkaNotAuthorized:
    """The error for an operation (`what`: "read topic X", "join group G") refused."""
    return KafkaNotAuthorized(
        f"Kafka does not allow {principal(security)} to {what}; the admin grants the rights "
        "of each process with `dossierflow kafka acls` (docs/operations.md, \"Kafka and "
        "ClickHouse rights\")"
    )


def credentials_refused(user: str | None, mechanism: str | None, host: str, port: int
                        ) -> KafkaCredentialsRefused:
    """The error for a SASL authentication the broker at `host:port` refused, at start or
    when a running process connects again (kafka/credentials_watch.py)."""
    return KafkaCredentialsRefused(
        f"Kafka refused the credentials of {user} (SASL {mechanism}) at {host}:{port}; check "
        "DOSSIERFLOW_KAFKA_SASL_USERNAME and the password (DOSSIERFLOW_KAFKA_SASL_PASSWORD_FILE)"
    )


def _trusted_by(security: KafkaSecurity) -> str:
    return security.ssl_cafile or "the system's CA certificates"


async def connection_refusal(
    bootstrap: str, security: KafkaSecurity, timeout: float = 5.0
) -> KafkaRefused | None:
    """The refusal of the first bootstrap server that answers, or None when none refused
    (nobody listens, or the connection works now)."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import AuthenticationFailedError, KafkaError, SaslAuthenticationFailed

    kwargs = security.as_aiokafka_kwargs()
    for host, port in server_addresses(bootstrap):
        try:
            conn = await asyncio.wait_for(
                create_conn(host, port, client_id="dossierflow-diagnosis",
                            request_timeout_ms=int(timeout * 1000), **kwargs),
                timeout,
            )
        except ssl.SSLCertVerificationError as exc:
            return KafkaCertificateUntrusted(
                f"the broker's certificate at {host}:{port} is not trusted by "
                f"{_trusted_by(security)} ({exc.verify_message}); give the CA that signed it "
                "in DOSSIERFLOW_KAFKA_SSL_CAFILE"
            )
        except ssl.SSLError as exc:
            return KafkaCertificateUntrusted(
                f"the TLS handshake with {host}:{port} failed ({exc.reason or exc}): is it "
                "a TLS listener, and does DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL match it?"
            )
        except KafkaError as exc:
            if isinstance(exc, SaslAuthenticationFailed | AuthenticationFailedError):
                return credentials_refused(security.sasl_username, security.sasl_mechanism,
                                           host, port)
            continue
        except (OSError, TimeoutError):
            continue
        conn.close()
    return None


def connection_refusal_now(bootstrap: str, security: KafkaSecurity) -> KafkaRefused | None:
    """`connection_refusal` from synchronous code (no event loop running)."""
    return asyncio.run(connection_refusal(bootstrap, security))
