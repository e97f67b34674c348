"""Tenant records: `T#<id>/TENANT`, plus the platform's index `PLATFORM/TENANT#<id>` and the
audience claim `PLATFORM/AUD#<sha256(audience)>` that keeps audiences unique across tenants."""

from __future__ import annotations

import hashlib

from chalicelib.domain.principal import Principal, Role, TenantScope
from chalicelib.errors import Forbidden
from chalicelib.store.db import WriteTransaction, store_errors
from chalicelib.store.models import (
    PLATFORM_PK,
    AudienceClaimModel,
    TenantModel,
    TenantRefModel,
    tenant_pk,
)

TENANT_SK = "TENANT"


def audience_claim_sk(audience: str) -> str:
    """The claim's sort key: audiences are compared exactly, byte for byte (RFC 7519 §4.1.3)."""
    return "AUD#" + hashlib.sha256(audience.encode("utf-8")).hexdigest()


class TenantRepository:
    def add(
        self, tx: WriteTransaction, scope: TenantScope, name: str, audience: str, now: str
    ) -> TenantModel:
        """Create the tenant, its platform index entry and its audience claim in `tx`. The
        claim is conditional (`attribute_not_exists`) and never deleted: if another tenant
        ever held `audience`, the whole transaction fails with `ConditionFailed`."""
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
        claim = AudienceClaimModel(
            pk=PLATFORM_PK,
            sk=audience_claim_sk(audience),
            audience=audience,
            tenant_id=scope.tenant_id,
            claimed_at=now,
        )
        tx.create(tenant)
        tx.create(ref)
        tx.create(claim)
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
