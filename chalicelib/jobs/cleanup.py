"""Scheduled cleanup: expire ACTIVE delegations past `exp` and PENDING step-ups past their
expiry, each with `delegation.expired` in both tenants' logs (docs/architecture.md,
"Operational behaviour") and, for a token, its status list bit set in the same transaction.

One of the two named modules allowed to read across tenants. It never scans: it queries the
sparse `expiry-index` one hour bucket at a time (from `now - lookback`, so that missed runs
are caught up, to the current hour), then re-reads each candidate consistently and expires it
with a conditional transaction. Reads already treat such delegations as EXPIRED; this job
makes the stored status and the audit logs say so. Idempotent and safe to run concurrently
with itself: the loser of a race sees its condition fail and counts the item as done.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from chalicelib.auth.scope import system_scope
from chalicelib.domain import audit
from chalicelib.domain.delegation import LIVE_STATUSES, Status
from chalicelib.observability import logger
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, iso
from chalicelib.services.delegation_records import expiry_bucket
from chalicelib.services.graph import delegation_names
from chalicelib.store.db import ConditionFailed, Database, StoreError, guarded
from chalicelib.store.delegations import DLG, DelegationRepository
from chalicelib.store.models import DelegationModel
from chalicelib.store.status_lists import StatusListRepository

HOUR = 3600
LOOKBACK_SECONDS = 48 * HOUR
TENANT_PREFIX = "T#"


@dataclass
class CleanupSummary:
    """What one run did. `skipped`: no longer live, not yet due, or expired by a concurrent
    run (`raced`, a subset of skipped); `failed`: store errors, retried by the next run."""

    examined: int = 0
    expired: int = 0
    skipped: int = 0
    raced: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def hour_buckets(now: int, lookback_seconds: int) -> list[str]:
    """The `expiry_bucket` values (UTC hours) from `now - lookback` to now, oldest first."""
    first = (now - lookback_seconds) // HOUR
    last = now // HOUR
    return [expiry_bucket(hour * HOUR) for hour in range(first, last + 1)]


class CleanupJob:
    def __init__(
        self,
        db: Database,
        delegations: DelegationRepository,
        auditor: AuditService,
        *,
        lookback_seconds: int = LOOKBACK_SECONDS,
        status_lists: StatusListRepository | None = None,
    ) -> None:
        self._status_lists = status_lists or StatusListRepository()
        self._db = db
        self._delegations = delegations
        self._auditor = auditor
        self._lookback = lookback_seconds

    def run(self, now: float | None = None, request_id: str | None = None) -> CleanupSummary:
        """Expire everything due at `now` (default: the current time)."""
        call = Call(
            principal=None,
            request_id=request_id or f"cleanup-{uuid.uuid4()}",
            now=time.time() if now is None else now,
        )
        summary = CleanupSummary()
        for pk, sk in self._due(call.epoch):
            summary.examined += 1
            try:
                outcome = self._expire(call, pk, sk)
            except StoreError as exc:
                summary.failed += 1
                logger.warning("cleanup: could not expire %s: %s", sk, exc.detail)
                continue
            if outcome == "expired":
                summary.expired += 1
            else:
                summary.skipped += 1
                summary.raced += outcome == "raced"
        logger.info("cleanup finished", extra={"cleanup": summary.as_dict(), "request_id": call.request_id})
        return summary

    def _due(self, now: int) -> Iterator[tuple[str, str]]:
        """Keys of delegations whose indexed expiry is at or before `now` (keys only)."""
        seen: set[tuple[str, str]] = set()
        for bucket in hour_buckets(now, self._lookback):
            query = DelegationModel.expiry_index.query(bucket, DelegationModel.expiry_at <= now)
            for item in guarded(query):
                key = (item.pk, item.sk)
                if key not in seen and item.pk.startswith(TENANT_PREFIX) and item.sk.startswith(DLG):
                    seen.add(key)
                    yield key

    def _expire(self, call: Call, pk: str, sk: str) -> str:
        """Expire one delegation if it is still live and due, on the fresh item."""
        receiving = system_scope(pk[len(TENANT_PREFIX) :])
        record = self._delegations.get(receiving, sk[len(DLG) :])
        if record is None:
            return "skipped"
        live = Status(record.status)
        deadline = record.expires_at if live is Status.ACTIVE else record.stepup_expires_at
        if live not in LIVE_STATUSES or deadline is None or int(deadline) > call.epoch:
            return "skipped"
        requesting = system_scope(record.requesting_tenant_id)
        ref = self._delegations.get_ref(requesting, record.delegation_id)
        if ref is None:
            logger.warning("cleanup: %s has no reference in the requesting partition", sk)
        changes: dict[str, Any] = {
            "status": Status.EXPIRED.value,
            "updated_at": call.timestamp,
            "expiry_bucket": None,
            "expiry_at": None,
        }
        tx = self._db.transaction()
        self._delegations.expire(tx, record, ref, changes, call.epoch)
        if live is Status.ACTIVE and record.status_list_id is not None and record.status_idx is not None:
            # the token's status list bit, with the event (status type INVALID)
            self._status_lists.invalidate(
                tx, receiving, record.status_list_id, int(record.status_idx), call.epoch
            )
        self._auditor.record(
            tx,
            call,
            audit.DELEGATION_EXPIRED,
            (requesting, receiving),
            names=delegation_names(record),
            delegation_id=record.delegation_id,
            action=record.action,
            token_sha256=record.token_sha256 if live is Status.ACTIVE else None,
            detail={"previous_status": live.value, "expired_at": iso(int(deadline))},
        )
        try:
            tx.commit()
        except ConditionFailed:
            return "raced"  # a concurrent run (or a revocation/decision) settled it first
        return "expired"


def build_job(container: Any = None) -> CleanupJob:
    """The job wired to the process's container (one per Lambda container)."""
    if container is None:
        from chalicelib.services.container import get_container

        container = get_container()
    return CleanupJob(container.db, container.delegation_repo, container.auditor)


def handler(event: Any = None, context: Any = None) -> dict[str, int]:
    """Entry point for the 5-minute schedule (and the local scheduler)."""
    event_id = getattr(event, "event_id", None) or (event.get("id") if isinstance(event, dict) else None)
    request_id = f"cleanup-{event_id}" if event_id else None
    return build_job().run(request_id=request_id).as_dict()
