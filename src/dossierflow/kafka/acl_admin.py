"""Applying the rights plan (kafka/rights.py) to a broker, as its admin.

`apply_grants` creates the ACLs the broker lacks and leaves the others as they are, so it
may run at every deployment (idempotent); it removes nothing, and reports the ACLs the
principals hold beyond the plan for the admin to review. `set_passwords` writes SCRAM
credentials (KRaft keeps them in its metadata; no ZooKeeper tool needed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dossierflow.kafka.diagnosis import not_authorized
from dossierflow.kafka.rights import GROUP, TOPIC, Grant
from dossierflow.kafka.security import KafkaSecurity

SCRAM_ITERATIONS = 8192
"""PBKDF2 iterations of the SCRAM credentials written (Kafka accepts 4096 to 16384)."""


@dataclass(frozen=True)
class AclsApplied:
    created: tuple[Grant, ...]
    present: tuple[Grant, ...]
    beyond_plan: tuple[Grant, ...]
    """ALLOW ACLs the planned principals hold that the plan does not give: not removed."""


def _acl(grant: Grant) -> Any:
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    kind = {TOPIC: ResourceType.TOPIC, GROUP: ResourceType.GROUP}[grant.resource]
    pattern = ACLResourcePatternType.PREFIXED if grant.prefixed else ACLResourcePatternType.LITERAL
    return ACL(
        principal=f"User:{grant.principal}", host="*",
        operation=ACLOperation[grant.operation], permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(kind, grant.name, pattern),
    )


def _held_grants(admin: Any, security: KafkaSecurity, principals: set[str]) -> set[Grant]:
    """The ALLOW ACLs on topics and groups that `principals` hold now."""
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
    )
    from kafka.errors import ClusterAuthorizationFailedError

    held: set[Grant] = set()
    for kind, resource in ((ResourceType.TOPIC, TOPIC), (ResourceType.GROUP, GROUP)):
        query = ACLFilter(
            principal=None, host=None, operation=ACLOperation.ANY,
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePatternFilter(kind, None, ACLResourcePatternType.ANY),
        )
        try:
            acls, _ = admin.describe_acls(query)
        except ClusterAuthorizationFailedError:
            raise not_authorized(security, "describe the cluster's ACLs (the "
                                 "rights are applied by a super user)") from None
        for acl in acls:
            user = acl.principal.removeprefix("User:")
            if user in principals:
                held.add(Grant(
                    user, resource, acl.resource_pattern.resource_name, acl.operation.name,
                    prefixed=acl.resource_pattern.pattern_type == ACLResourcePatternType.PREFIXED,
                ))
    return held


def apply_grants(admin: Any, security: KafkaSecurity, grants: Iterable[Grant]) -> AclsApplied:
    """Create the ACLs of `grants` that the broker does not hold yet (`security`: the
    admin's, named in a refusal)."""
    from dossierflow.errors import DossierflowError

    wanted = sorted(set(grants))
    held = _held_grants(admin, security, {grant.principal for grant in wanted})
    missing = [grant for grant in wanted if grant not in held]
    if missing:
        result = admin.create_acls([_acl(grant) for grant in missing])
        if result["failed"]:
            raise DossierflowError(
                "the broker refused ACLs: " + ", ".join(sorted({
                    type(error).__name__ if isinstance(error, Exception) else str(error)
                    for error in result["failed"]
                }))
            )
    return AclsApplied(
        created=tuple(missing),
        present=tuple(grant for grant in wanted if grant in held),
        beyond_plan=tuple(sorted(held - set(wanted))),
    )


def set_passwords(admin: Any, passwords: Mapping[str, str]) -> None:
    """Create or replace the SCRAM-SHA-512 credential of each user."""
    from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

    from dossierflow.errors import DossierflowError

    errors = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion(user, ScramMechanism.SCRAM_SHA_512, password,
                                     iterations=SCRAM_ITERATIONS)
        for user, password in sorted(passwords.items())
    ])
    refused = {user: error for user, error in errors.items() if error}
    if refused:
        raise DossierflowError("the broker refused the credentials of " + "; ".join(
            f"{user}: {error}" for user, error in sorted(refused.items())))
