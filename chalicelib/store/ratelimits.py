"""Fixed-window rate counters, one conditional atomic update per request.

The window is fixed (not sliding): at a boundary a client may briefly send up to twice the
limit. The counter lives in the caller's tenant partition and expires by TTL.
"""

from __future__ import annotations

from pynamodb.exceptions import UpdateError

from chalicelib.domain.principal import TenantScope
from chalicelib.store.db import store_errors
from chalicelib.store.models import PLATFORM_PK, RateCounterModel, tenant_pk


class RateLimitRepository:
    @store_errors
    def hit(
        self, scope: TenantScope | None, kind: str, subject: str, *, limit: int, window: int, now: int
    ) -> int | None:
        """Count one request; None when within `limit`, else the seconds until the window ends."""
        start = now - now % window
        counter = RateCounterModel(
            pk=tenant_pk(scope.tenant_id) if scope else PLATFORM_PK,
            sk=f"RATE#{kind}#{subject}#{start}",
        )
        try:
            counter.update(
                actions=[RateCounterModel.n.add(1), RateCounterModel.ttl.set(start + window + 3600)],
                condition=RateCounterModel.n.does_not_exist() | (RateCounterModel.n < limit),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return max(1, start + window - now)
            raise
        return None
