"""Scheduled idle refresh of vault connections: a connection whose token was not refreshed
for a week (or whose provider failed and whose backoff is over) is refreshed now, so that a
grant revoked at the provider shows up as `needs_reauth` before an agent needs it, and a
refresh token that expires when unused (Google: six months; some providers far less) stays
alive. Refreshes go through the agents' refresh path and its lease
(services/vault_exchange.py), so a job run and an exchange never refresh at once.

One of the named modules allowed to read across tenants. It never scans: every refresh (and
every connect) puts the connection's next due time on the sparse `expiry-index` the
delegation cleanup already uses, under the bucket `vault-refresh#<UTC day>` (a value the
cleanup's hour buckets never take), and the job queries one day bucket at a time for the
last two weeks (missed runs catch up), `expiry_at <= now`, keys only. A connection needing
reauthorization or deleted drops out of the index (its bucket is removed). Each candidate is
re-read consistently in its own partition and skipped unless still live and due.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from chalicelib.auth.scope import system_scope
from chalicelib.domain.vault_refresh import refresh_buckets
from chalicelib.errors import VaultGuardError
from chalicelib.observability import logger
from chalicelib.services.call import Call
from chalicelib.store.connections import CONN_PREFIX
from chalicelib.store.db import guarded
from chalicelib.store.models import ConnectionModel

LOOKBACK_DAYS = 14
TENANT_PREFIX = "T#"


class VaultRefreshJob:
    def __init__(self, exchange: Any, *, lookback_days: int = LOOKBACK_DAYS) -> None:
        self._exchange = exchange
        self._lookback = lookback_days

    def run(self, now: float | None = None, request_id: str | None = None) -> dict[str, int]:
        call = Call(None, request_id or f"vault-refresh-{uuid.uuid4()}", time.time() if now is None else now)
        summary: dict[str, int] = {"examined": 0, "refreshed": 0, "failing": 0, "needs_reauth": 0}
        summary.update({"skipped": 0, "failed": 0})
        seen: set[tuple[str, str]] = set()
        for bucket in refresh_buckets(call.epoch, self._lookback):
            query = ConnectionModel.refresh_index.query(bucket, ConnectionModel.refresh_due_at <= call.epoch)
            for item in guarded(query):
                key = (item.pk, item.sk)
                if (
                    key in seen
                    or not item.pk.startswith(TENANT_PREFIX)
                    or not item.sk.startswith(CONN_PREFIX)
                ):
                    continue
                seen.add(key)
                summary["examined"] += 1
                scope = system_scope(item.pk[len(TENANT_PREFIX) :])
                try:
                    outcome = self._exchange.refresh_due(call, scope, item.sk[len(CONN_PREFIX) :])
                except VaultGuardError as exc:
                    summary["failed"] += 1
                    logger.warning("vault refresh job: %s failed: %s", item.sk, exc.error)
                    continue
                summary[outcome] = summary.get(outcome, 0) + 1
        logger.info("vault refresh finished", extra={"vault_refresh": summary, "request_id": call.request_id})
        return summary


def handler(event: Any = None, context: Any = None) -> dict[str, int]:
    """Entry point for the hourly schedule (and the local scheduler)."""
    from chalicelib.services.container import get_container

    return VaultRefreshJob(get_container().vault_exchange).run()
