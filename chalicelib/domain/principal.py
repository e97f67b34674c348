"""Who is calling, and the tenant partition a repository call may touch."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `tenant_id` is None only for the platform operator."""

    role: Role
    subject: str
    client_id: str  # a machine's client id; "session" for a person signed in through the IdP
    tenant_id: str | None


@dataclass(frozen=True)
class TenantScope:
    """The one tenant partition a repository call works in, and on whose behalf.

    Built only by `chalicelib.auth`: from the verified token for the caller's own tenant, or
    as a counterpart scope when a delegation necessarily touches the other party's partition.
    """

    tenant_id: str
    principal: Principal | None
