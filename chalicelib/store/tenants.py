"""Tenant records: `T#<id>/TENANT`, plus the platform's index `PLATFORM/TENANT#<id>`."""

from __future__ import annotations

from chalicelib.domain.principal import Principal, Role, TenantScope
from chalicelib.errors import Forbidden
from chalicelib.store.db import WriteTransaction, store_errors
from chalicelib.store.models import PLATFORM_PK, TenantModel, TenantRefModel, tenant_pk

TENANT_SK = "TENANT"


class TenantRepository:
    def add(
        self, tx: WriteTransaction, scope: TenantScope, name: str, audience: str, now: str
    ) -> TenantModel:
        tenant = TenantModel(
            pk=tenant_pk(scope.tenant_id),
            sk=TENANT_SK,
            tenant_id=scope.tenant_id,
            name=name,
            audience=audience,
            status="ACTIVE",
            created_at=now,
        )
        ref = TenantRefModel(
            pk=PLATFORM_PK,
            sk=f"TENANT#{scope.tenant_id}",
            tenant_id=scope.tenant_id,
            name=name,
            status="ACTIVE",
            created_at=now,
        )
        tx.create(tenant)
        tx.create(ref)
        return tenant

    @store_errors
    def get(self, scope: TenantScope) -> TenantModel | None:
        """The scope's tenant, or None when it does not exist."""
        try:
            return TenantModel.get(tenant_pk(scope.tenant_id), TENANT_SK, consistent_read=True)
        except TenantModel.DoesNotExist:
            return None

    def set_status(self, tx: WriteTransaction, scope: TenantScope, tenant: TenantModel, status: str) -> None:
        tx.update(tenant, [TenantModel.status.set(status)])
        ref = TenantRefModel(pk=PLATFORM_PK, sk=f"TENANT#{scope.tenant_id}")
        tx.update(ref, [TenantRefModel.status.set(status)], TenantRefModel.pk.exists())

    @store_errors
    def list_for_platform(self, principal: Principal, limit: int = 1000) -> list[TenantRefModel]:
        """Every tenant, from the platform's own index partition (never a table scan)."""
        if principal.role is not Role.PLATFORM:
            raise Forbidden("Only the platform operator lists tenants.")
        return list(TenantRefModel.query(PLATFORM_PK, TenantRefModel.sk.startswith("TENANT#"), limit=limit))
