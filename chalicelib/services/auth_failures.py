"""Failed client authentications: counted per source and per client, audited aggregated.

Nobody can lock a client out by knowing its id (client ids are in every delegation token):
past the client's failure budget a *wrong* secret gets 429 instead of 401, and the right
secret keeps working. A source past its own failure budget gets 429 for every attempt.
Failures are audited at the 1st, 10th, 100th, … failure of a client in a window, each event
with the count so far and the sources seen, so an attack writes a handful of events, not one
per attempt.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from chalicelib.auth.authenticator import FailedAttempt
from chalicelib.auth.scope import platform_log_scope, system_scope
from chalicelib.domain import audit
from chalicelib.errors import RateLimited
from chalicelib.observability import count_auth_failure, logger
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, iso
from chalicelib.services.ratelimit import FAILURE_WINDOW, RateLimiter
from chalicelib.store.db import ConditionFailed, Database, StoreError
from chalicelib.store.models import CredentialModel, RateCounterModel
from chalicelib.store.ratelimits import count_in
from chalicelib.store.reads import Key, Snapshot

MAX_SOURCES = 10


def audited(failures: int) -> bool:
    """Whether the n-th failure of a window is audited: 1, 10, 100, 1000, …"""
    while failures >= 10 and failures % 10 == 0:
        failures //= 10
    return failures == 1


class FailedAuthentications:
    def __init__(self, db: Database, limiter: RateLimiter, auditor: AuditService) -> None:
        self._db = db
        self._limiter = limiter
        self._auditor = auditor

    def keys(self, source: str, tenant_id: str | None, client_id: str) -> list[Key]:
        """The counters an authentication attempt reads with the credential."""
        now = int(time.time())
        charges = [
            self._limiter.source_failure_charge(source, now),
            self._limiter.client_failure_charge(tenant_id, client_id, now),
        ]
        return [c.key for c in charges if c is not None]

    def check_source(self, source: str, snapshot: Snapshot) -> None:
        self._limiter.check_source(source, snapshot, int(time.time()))

    def __call__(self, attempt: FailedAttempt, snapshot: Snapshot) -> None:
        """Count a failed client authentication (one transaction); raise 429 past the client's
        failure budget."""
        self.count(attempt.source, attempt.request_id, attempt.credential, snapshot, "invalid_client_secret")

    def count(
        self,
        source: str,
        request_id: str,
        cred: CredentialModel | None,
        snapshot: Snapshot,
        reason: str,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Count a failure per source and, when `cred` is known, per client (one transaction);
        audit it in the client's tenant's log (the platform's for a platform client) at the 1st,
        10th, 100th... failure of a window, with `reason` and `detail`; raise 429 past the
        client's failure budget (a right secret or token keeps working: only failures count)."""
        count_auth_failure()
        now = int(time.time())
        tx = self._db.transaction()
        by_source = self._limiter.source_failure_charge(source, now)
        if by_source is not None:
            count_in(tx, by_source)
        over: int | None = None
        if cred is not None:
            by_client = self._limiter.client_failure_charge(cred.tenant_id, cred.client_id, now)
            if by_client is not None:
                counter = snapshot.get(RateCounterModel, by_client.key)
                seen = set(counter.sources or ()) if counter is not None else set()
                failures = by_client.spent(snapshot) + 1
                if failures > by_client.limit:
                    over = by_client.retry_after(now)
                note = source if source not in seen and len(seen) < MAX_SOURCES else None
                count_in(tx, by_client, source=note)
                if audited(failures):
                    scope = system_scope(cred.tenant_id) if cred.tenant_id else platform_log_scope()
                    self._auditor.record(
                        tx,
                        Call(None, request_id, now),
                        audit.AUTH_FAILED,
                        (scope,),
                        detail={
                            "client_id": cred.client_id,
                            **(detail or {}),
                            "reason": reason,
                            "failures": failures,
                            "window_start": iso(by_client.window_end - FAILURE_WINDOW),
                            "sources": sorted(seen | {source}),
                        },
                    )
        try:
            if len(tx):
                tx.commit()
        except (StoreError, ConditionFailed) as exc:  # the attempt fails either way
            logger.warning("could not record a failed authentication: %s", exc)
        if over is not None:
            raise RateLimited(over)
