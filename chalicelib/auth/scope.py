"""The only place a TenantScope is built."""

from __future__ import annotations

from chalicelib.domain.principal import Principal, Role, TenantScope
from chalicelib.errors import Forbidden, NotFound
from chalicelib.store import scoped_credentials


def own_scope(principal: Principal) -> TenantScope:
    """The caller's own tenant partition, from its verified token."""
    if principal.tenant_id is None:
        raise Forbidden("This operation needs a tenant principal.")
    return TenantScope(tenant_id=principal.tenant_id, principal=principal)


def people_partition(tenant_id: str | None) -> str:
    """Where the people of `tenant_id` live: its partition, or `T#platform` for the operators."""
    return tenant_id or PLATFORM_PEOPLE_TENANT


def person_scope(principal: Principal) -> TenantScope:
    """A signed-in person's partition."""
    return TenantScope(tenant_id=people_partition(principal.tenant_id), principal=principal)


def counterpart_scope(principal: Principal, tenant_id: str) -> TenantScope:
    """The other party's partition, for the narrow reads and writes a delegation needs
    (its policy, its tenant record, the paired record). Never built from a listing. The
    request's tenant-scoped credentials then reach that partition too."""
    scoped_credentials.add_counterpart(tenant_id)
    return TenantScope(tenant_id=tenant_id, principal=principal)


def tenant_scope_for(principal: Principal, tenant_id: str) -> TenantScope:
    """A tenant named in the path: the platform may act on any; an admin only on its own,
    and any other id answers exactly like one that does not exist."""
    if principal.role is Role.PLATFORM:
        return TenantScope(tenant_id=tenant_id, principal=principal)
    if principal.tenant_id != tenant_id:
        raise NotFound()
    return own_scope(principal)


def system_scope(tenant_id: str) -> TenantScope:
    """For platform jobs and bootstrap, which act on no caller's behalf."""
    return TenantScope(tenant_id=tenant_id, principal=None)


PLATFORM_LOG_TENANT = "platform"
PLATFORM_PEOPLE_TENANT = "platform"  # the operators' people records live in `T#platform`


def platform_log_scope() -> TenantScope:
    """The platform's security log: events that belong to no existing tenant (a BLOCK against
    an unknown or disabled tenant, failed authentication of an unknown or platform client)."""
    return TenantScope(tenant_id=PLATFORM_LOG_TENANT, principal=None)
