"""Who may ask what of a process's HTTP endpoint, and the headers every answer carries.

Shared by the sink's aiohttp application and the worker's and notifier's health servers
(docs/operations.md, "Security: HTTP endpoints"):

- **Host names.** A request whose `Host` is not an allowed name is refused with 421, so a
  web page whose name an attacker points at 127.0.0.1 (DNS rebinding) cannot read the
  endpoint from a browser. Allowed by default: localhost, 127.0.0.1, ::1 and the address
  the endpoint listens on; `*` allows any (behind a proxy or a network policy).
- **A bearer token** for machines: when one is set, every path but the probes wants
  `Authorization: Bearer <token>`, compared in constant time; 401 otherwise. People come
  through the data centre's reverse proxy (deploy/nginx/), which adds it.
- **Probes** (`/healthz`, `/readyz`) always answer, since a kubelet or a load balancer asks
  without credentials, but only with alive / ready / not ready; what is wrong (the store,
  the broker's address, the last error) goes to trusted callers: with the token, or, with
  no token set, over an allowed Host to an endpoint on loopback. The log has it always.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dossierflow.config import ConfigError

PROBE_PATHS = ("/healthz", "/readyz")
MIN_TOKEN_CHARS = 32
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
ANY_HOST = "*"
SERVER_NAME = "dossierflow"
"""The `Server` header of every answer: no versions for a scanner to match."""

SECURITY_HEADERS: Mapping[str, str] = {
    # Scripts, styles and images from this endpoint only, no inline code, no framing.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""On every answer (OWASP Secure Headers Project): the pages show figures of a province's
offices, never to be framed by another site, cached on a shared computer or leaked in a
Referer."""


def host_name(header: str | None) -> str:
    """The name of a `Host` header without its port: `[::1]:8686` -> `::1`."""
    host = (header or "").strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HttpAccess:
    """The rules of one endpoint: the Host names it answers to, and its token (None: none
    required, which `for_listener` allows only on loopback)."""

    allowed_hosts: frozenset[str]
    token: str | None = None
    loopback: bool = True

    @classmethod
    def for_listener(
        cls, bound_host: str, allowed_hosts: Iterable[str] = (), token: str | None = None
    ) -> HttpAccess:
        names = {host_name(name) for name in allowed_hosts if name.strip()}
        names |= set(LOOPBACK_NAMES)
        if bound_host and bound_host not in ("0.0.0.0", "::"):
            names.add(host_name(bound_host))
        return cls(frozenset(names), token or None, is_loopback(bound_host))

    def host_allowed(self, header: str | None) -> bool:
        return ANY_HOST in self.allowed_hosts or host_name(header) in self.allowed_hosts

    def authorized(self, authorization: str | None) -> bool:
        if self.token is None:
            return True
        return hmac.compare_digest(
            (authorization or "").encode(), f"Bearer {self.token}".encode()
        )

    def trusted(self, host: str | None, authorization: str | None) -> bool:
        """Whether a probe may tell this caller what is wrong."""
        if not self.host_allowed(host):
            return False
        return self.authorized(authorization) if self.token else self.loopback

    def refusal(
        self, path: str, host: str | None, authorization: str | None
    ) -> tuple[int, str] | None:
        """(status, text) of the refusal of a request, or None when it may be answered."""
        if path in PROBE_PATHS:
            return None
        if not self.host_allowed(host):
            return 421, (
                f"this endpoint does not answer to the name {host_name(host)!r}; it answers "
                f"to {', '.join(sorted(self.allowed_hosts))}\n"
            )
        if not self.authorized(authorization):
            return 401, "this endpoint wants Authorization: Bearer <token>\n"
        return None


def read_token(token: str, variable: str) -> str | None:
    """The token given (a mounted file's first line: `config` reads `<VARIABLE>_FILE` for
    every secret setting), else None; `variable` names the setting in errors."""
    text = (token.strip().splitlines() or [""])[0].strip()
    if text and len(text) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"{variable}: the token has {len(text)} characters; use at least {MIN_TOKEN_CHARS} "
            "random ones (openssl rand -hex 32)"
        )
    return text or None
