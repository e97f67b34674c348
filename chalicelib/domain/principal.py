"""Who is calling, and the tenant partition a repository call may touch."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    PLATFORM = "platform"
    ADMIN = "admin"
    APPROVER = "approver"
    AUDITOR = "auditor"
    AGENT = "agent"


# Roles a person (signed in through the identity provider) can hold.
PERSON_ROLES = frozenset({Role.PLATFORM, Role.ADMIN, Role.APPROVER, Role.AUDITOR})
PERSON_ROLE_VALUES = frozenset(r.value for r in PERSON_ROLES)
TENANT_PERSON_ROLES = frozenset({Role.ADMIN, Role.APPROVER, Role.AUDITOR})
# Who reads a tenant's delegations as a whole (agents see only their own), and who decides
# step-up requests.
TENANT_READERS = frozenset({Role.ADMIN, Role.APPROVER, Role.AUDITOR})
DECIDERS = frozenset({Role.ADMIN, Role.APPROVER})

# How a machine got its API token: the token's `amr` claim (RFC 8176 §1 allows values of
# one's own; one value here). Keys: a private_key_jwt assertion, or a federated identity
# (its issuer's signed JWT); neither is a secret shared with VaultGuard.
AMR_CLIENT_SECRET = "client_secret"
AMR_PRIVATE_KEY_JWT = "private_key_jwt"
AMR_FEDERATED = "federated"
AMR_VALUES = frozenset({AMR_CLIENT_SECRET, AMR_PRIVATE_KEY_JWT, AMR_FEDERATED})
KEY_BASED_AMR = frozenset({AMR_PRIVATE_KEY_JWT, AMR_FEDERATED})


def amr_of(credential_auth_method: str | None) -> str:
    """The `amr` of a credential's `auth_method` (None: a client secret)."""
    if credential_auth_method is not None and credential_auth_method in KEY_BASED_AMR:
        return credential_auth_method
    return AMR_CLIENT_SECRET


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `tenant_id` is None only for the platform operator."""

    role: Role
    subject: str
    client_id: str  # a machine's client id; "session" for a person signed in through the IdP
    tenant_id: str | None
    # A machine's `amr` (AMR_VALUES); None for people and for tokens older than the claim.
    # Not part of who the caller is (a use case may presume the caller before the read).
    auth_method: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class TenantScope:
    """The one tenant partition a repository call works in, and on whose behalf.

    Built only by `chalicelib.auth`: from the verified token for the caller's own tenant, or
    as a counterpart scope when a delegation necessarily touches the other party's partition.
    """

    tenant_id: str
    principal: Principal | None
