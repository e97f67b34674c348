"""Health and platform-wide metrics."""

from __future__ import annotations

from typing import Any

from chalicelib.auth.scope import system_scope
from chalicelib.domain.principal import Principal
from chalicelib.errors import ServiceUnavailable
from chalicelib.services.tenants import TenantService
from chalicelib.store.db import StoreError
from chalicelib.store.tenants import TenantRepository


class PlatformService:
    def __init__(self, tenants: TenantRepository, tenant_service: TenantService) -> None:
        self._tenants = tenants
        self._tenant_service = tenant_service

    def health(self) -> dict[str, Any]:
        """Healthy when DynamoDB answers a consistent read."""
        try:
            self._tenants.get(system_scope("healthcheck"))
        except StoreError as exc:
            raise ServiceUnavailable("DynamoDB is not reachable.") from exc
        return {"status": "ok", "checks": {"dynamodb": "ok"}}

    def metrics(self, principal: Principal, now: int) -> dict[str, Any]:
        """Totals over every tenant: tenants by status, agents, policies, delegations."""
        refs = self._tenants.list_for_platform(principal)
        totals: dict[str, Any] = {
            "tenants": {"total": len(refs), "ACTIVE": 0, "DISABLED": 0},
            "agents": 0,
            "policies": 0,
            "delegations": {},
            "audit_events": 0,
        }
        for ref in refs:
            totals["tenants"][ref.status] = totals["tenants"].get(ref.status, 0) + 1
            counts = self._tenant_service.counts(system_scope(ref.tenant_id), now)
            totals["agents"] += counts["agents"]
            totals["policies"] += counts["policies"]
            totals["audit_events"] += counts["audit_events"]
            for status, n in counts["delegations"]["inbound"].items():
                totals["delegations"][status] = totals["delegations"].get(status, 0) + n
        return totals
