"""Request budgets (DESIGN.md "Operational behaviour"): per client over 15 minutes and per
agent for delegation requests per minute; 0 disables a budget. Over budget: 429 + Retry-After."""

from __future__ import annotations

import time

from chalicelib.auth.scope import system_scope
from chalicelib.config import Settings
from chalicelib.errors import RateLimited
from chalicelib.store.ratelimits import RateLimitRepository

CLIENT_WINDOW = 15 * 60
DELEGATION_WINDOW = 60


class RateLimiter:
    def __init__(self, settings: Settings, repository: RateLimitRepository) -> None:
        self._settings = settings
        self._repository = repository

    def client_request(self, tenant_id: str | None, client_id: str) -> None:
        """One request by a client, authenticated or not yet (failed secrets count too)."""
        self._hit(
            tenant_id, "client", client_id, self._settings.rate_client_requests_per_15_minutes, CLIENT_WINDOW
        )

    def delegation_request(self, tenant_id: str, agent_id: str) -> None:
        self._hit(
            tenant_id, "delegation", agent_id, self._settings.rate_delegations_per_minute, DELEGATION_WINDOW
        )

    def _hit(self, tenant_id: str | None, kind: str, subject: str, limit: int, window: int) -> None:
        if limit <= 0:
            return
        scope = system_scope(tenant_id) if tenant_id else None
        retry_after = self._repository.hit(
            scope, kind, subject, limit=limit, window=window, now=int(time.time())
        )
        if retry_after is not None:
            raise RateLimited(retry_after)
