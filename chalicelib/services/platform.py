"""Health and platform-wide metrics."""

from __future__ import annotations

from typing import Any

from chalicelib.auth.scope import system_scope
from chalicelib.domain.principal import Principal, Role
from chalicelib.errors import Forbidden, ServiceUnavailable
from chalicelib.services.counting import EventCounter
from chalicelib.store.db import StoreError
from chalicelib.store.reads import BatchReader
from chalicelib.store.tenants import TenantRepository


class PlatformService:
    def __init__(self, tenants: TenantRepository, counter: EventCounter, reader: BatchReader) -> None:
        self._tenants = tenants
        self._counter = counter
        self._reader = reader

    def health(self) -> dict[str, Any]:
        """Healthy when DynamoDB answers a consistent read."""
        try:
            self._tenants.get(system_scope("healthcheck"))
        except StoreError as exc:
            raise ServiceUnavailable("DynamoDB is not reachable.") from exc
        return {"status": "ok", "checks": {"dynamodb": "ok"}}

    def metrics(self, principal: Principal) -> dict[str, Any]:
        """Totals over every tenant (tenants by status, agents, policies, delegations by
        status, audit events): the platform's counter shards in one batched read, whatever
        the number of tenants. Delegations are counted by stored status (see
        `TenantService.stats`)."""
        if principal.role is not Role.PLATFORM:
            raise Forbidden("Only the platform operator reads platform metrics.")
        snapshot = self._reader.read(self._counter.platform_keys())
        return self._counter.platform_counts(snapshot)
