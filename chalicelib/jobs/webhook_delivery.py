"""Webhook delivery from the audit table's stream: the function that tells a tenant's webhook
that a step-up request waits or was decided, or that a vault connection needs its admin.

The events that cause a webhook are already audit events, written in the transaction of the
change (`delegation.stepup_required`, `.approved`, `.rejected`; `vault.needs_reauth`), so
their stream is a durable queue: nothing is lost when the request's container is frozen.
The body is the one the request path would have sent (`stepup_payload`); free text
(purpose, binding message, a connection's label) stays out of the audit log, so it is read
from the delegation or connection record, whose fields a webhook names never change.

- At-least-once, idempotent by event id: `VaultGuard-Event-Id` is `evt_<audit event id>`,
  the same on every retry, and a delivered marker (chalicelib/store/webhook_deliveries.py)
  keeps a retried or bisected batch from delivering an event twice. Round trips per batch:
  one `BatchGetItem` (each event's webhook, marker and record), one `PutItem` per delivery.
- Only the tenant whose partition holds the event is told, at its own webhook: a delegation
  event's requesting-side copy finds no `DLG#` record there and is skipped.
- Retries are bounded so the function's timeout fits (`worst_case_seconds`); a record whose
  delivery still fails with a retryable error (no connection, timeout, 5xx, 429) is reported
  in `batchItemFailures` and comes again; a refused destination, another 4xx or an unreadable
  secret is logged and never retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.auth.scope import system_scope
from chalicelib.crypto import DecryptionFailed, EncryptionUnavailable, Encryptor
from chalicelib.domain import audit
from chalicelib.domain.delegation import Status
from chalicelib.domain.webhooks import event_body
from chalicelib.jobs.audit_export import PoisonRecord, event_from_image
from chalicelib.observability import logger
from chalicelib.services.notify import stepup_payload
from chalicelib.services.webhook_delivery import Delivery, Post, Result, RetryPolicy, attempt, fields
from chalicelib.services.webhooks import secret_context
from chalicelib.store.connections import connection_key
from chalicelib.store.db import StoreError
from chalicelib.store.keys import delegation_key
from chalicelib.store.models import ConnectionModel, DelegationModel, WebhookModel
from chalicelib.store.reads import MAX_BATCH_KEYS, BatchReader, Key, Snapshot
from chalicelib.store.webhook_deliveries import DeliveryMarkers, marker_key
from chalicelib.store.webhooks import webhook_key

# The event source mapping's batch; the records of one batch are delivered side by side.
BATCH_SIZE = 10
# Per record: 3 attempts, each with a 3 s connect and a 3 s read timeout, 0.5 s and 1 s apart.
STREAM_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.5, timeout=3.0)
FUNCTION_TIMEOUT_SECONDS = 30
SAFETY_SECONDS = 3.0  # kept for the markers and the answer when the time runs short
KEYS_PER_EVENT = 3  # its webhook, its marker, its delegation or connection record

# audit event type -> (webhook event type, the status it announces; None: not a delegation's)
WEBHOOK_EVENTS: Mapping[str, tuple[str, Status | None]] = {
    audit.DELEGATION_STEPUP_REQUIRED: ("stepup.pending", Status.PENDING),
    audit.DELEGATION_APPROVED: ("stepup.approved", Status.ACTIVE),
    audit.DELEGATION_REJECTED: ("stepup.rejected", Status.REJECTED),
    audit.VAULT_NEEDS_REAUTH: (audit.VAULT_NEEDS_REAUTH, None),
}


def stream_retry(backoff_ms: int) -> RetryPolicy:
    """`STREAM_RETRY` with the configured first wait, never a longer one than the function's
    timeout was sized for."""
    return replace(STREAM_RETRY, backoff_base=min(backoff_ms / 1000, STREAM_RETRY.backoff_base))


def attempt_seconds(policy: RetryPolicy) -> float:
    """The longest one attempt may take: `requests` applies the timeout to the connect and
    again to the read."""
    return 2 * policy.timeout


def worst_case_seconds(policy: RetryPolicy) -> float:
    """The longest one record's delivery may take, every attempt timing out; the records of a
    batch run side by side, so this is also the batch's."""
    waits = sum(policy.delay(n) for n in range(1, policy.max_attempts))
    return policy.max_attempts * attempt_seconds(policy) + waits


@dataclass(frozen=True)
class Candidate:
    """An audit event that may become a webhook, with the keys its delivery reads."""

    sequence: str
    event: dict[str, Any]
    webhook_type: str
    status: Status | None
    subject: Key

    @property
    def tenant_id(self) -> str:
        return str(self.event["tenant_id"])

    @property
    def event_id(self) -> str:
        return str(self.event["event_id"])

    def keys(self) -> list[Key]:
        return [webhook_key(self.tenant_id), marker_key(self.tenant_id, self.event_id), self.subject]


def candidate(raw: Mapping[str, Any]) -> Candidate | None:
    """A stream record -> the event to deliver; None for any other record. PoisonRecord for an
    event of a webhook type that cannot be read."""
    if raw.get("eventName") != "INSERT":
        return None
    dynamodb = raw.get("dynamodb") or {}
    image = dynamodb.get("NewImage")
    kind = ((image or {}).get("type") or {}).get("S") if isinstance(image, Mapping) else None
    if kind not in WEBHOOK_EVENTS:
        return None
    assert isinstance(image, Mapping)
    event = event_from_image(image)
    webhook_type, status = WEBHOOK_EVENTS[event["type"]]
    if status is not None:
        delegation_id = event.get("delegation_id")
        if not delegation_id:
            raise PoisonRecord("a delegation event without delegation_id")
        subject = delegation_key(event["tenant_id"], delegation_id)
    else:
        connection_id = (event.get("detail") or {}).get("connection_id")
        if not isinstance(connection_id, str) or not connection_id:
            raise PoisonRecord("a vault event without connection_id")
        subject = connection_key(event["tenant_id"], connection_id)
    return Candidate(str(dynamodb.get("SequenceNumber")), event, webhook_type, status, subject)


def payload(item: Candidate, snapshot: Snapshot) -> dict[str, Any] | None:
    """The event's `data`, as the request path builds it; None when this tenant is not the
    one to tell (the requesting side's copy of a delegation event)."""
    event = item.event
    if item.status is not None:
        record = snapshot.get(DelegationModel, item.subject)
        if record is None or record.receiving_tenant_id != item.tenant_id:
            return None
        return stepup_payload(item.webhook_type, event["occurred_at"], record, item.status.value)
    detail = event.get("detail") or {}
    connection = snapshot.get(ConnectionModel, item.subject)
    return {
        "type": item.webhook_type,
        "occurred_at": event["occurred_at"],
        "connection_id": detail.get("connection_id"),
        "provider": detail.get("provider"),
        "label": connection.label if connection is not None else None,
        "reason": detail.get("reason"),
    }


class StreamDelivery:
    """One stream batch -> signed deliveries -> `{"batchItemFailures": [...]}`."""

    def __init__(
        self,
        reader: BatchReader,
        markers: DeliveryMarkers,
        encryptor: Encryptor,
        post: Post,
        policy: RetryPolicy = STREAM_RETRY,
        *,
        budget_seconds: float = FUNCTION_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._reader = reader
        self._markers = markers
        self._encryptor = encryptor
        self._post = post
        self.policy = policy
        self._budget = budget_seconds
        self._clock = clock
        self._sleep = sleep

    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """A store failure on the batch read raises: Lambda retries the whole batch, and the
        markers keep what was delivered from going out twice."""
        deadline = time.monotonic() + _remaining_seconds(context, self._budget) - SAFETY_SECONDS
        failed: list[str] = []
        items: list[Candidate] = []
        for raw in event.get("Records") or []:
            try:
                item = candidate(raw)
            except PoisonRecord as exc:
                sequence = str((raw.get("dynamodb") or {}).get("SequenceNumber"))
                logger.error(
                    "webhook stream: unreadable event", extra={"sequence": sequence, "error": str(exc)}
                )
                failed.append(sequence)
                continue
            if item is not None:
                items.append(item)
        per_read = MAX_BATCH_KEYS // KEYS_PER_EVENT
        for start in range(0, len(items), per_read):
            failed += self._deliver_all(items[start : start + per_read], deadline)
        order = {
            str((r.get("dynamodb") or {}).get("SequenceNumber")): n
            for n, r in enumerate(event.get("Records") or [])
        }
        failed.sort(key=lambda s: order.get(s, 0))
        if items or failed:
            logger.info("webhook stream batch", extra={"events": len(items), "failed": len(failed)})
        return {"batchItemFailures": [{"itemIdentifier": s} for s in failed]}

    def _deliver_all(self, items: Sequence[Candidate], deadline: float) -> list[str]:
        snapshot = self._reader.read(k for item in items for k in item.keys())
        secrets: dict[tuple[str, str], str | None] = {}
        jobs: list[tuple[Candidate, Delivery]] = []
        failed: list[str] = []
        for item in items:
            webhook = snapshot.get(WebhookModel, webhook_key(item.tenant_id))
            if webhook is None:
                continue  # a tenant without a webhook is sent nothing
            if marker_key(item.tenant_id, item.event_id) in snapshot:
                logger.info(
                    "webhook already delivered",
                    extra={"tenant_id": item.tenant_id, "event_id": item.event_id},
                )
                continue
            data = payload(item, snapshot)
            if data is None:
                continue
            try:
                secret = self._secret(secrets, item.tenant_id, webhook.secret_ciphertext)
            except EncryptionUnavailable:
                logger.warning("webhook secret: key service unavailable", extra={"tenant_id": item.tenant_id})
                failed.append(item.sequence)
                continue
            if secret is None:
                continue
            event_id = f"evt_{item.event_id}"
            body = event_body(event_id, item.webhook_type, item.event["occurred_at"], data)
            jobs.append(
                (item, Delivery(item.tenant_id, webhook.url, event_id, item.webhook_type, body, secret))
            )
        if jobs:
            with ThreadPoolExecutor(max_workers=min(len(jobs), BATCH_SIZE)) as pool:
                results = list(pool.map(lambda job: self._deliver(job[0], job[1], deadline), jobs))
            failed += [item.sequence for (item, _), ok in zip(jobs, results, strict=True) if not ok]
        return failed

    def _secret(self, cache: dict[tuple[str, str], str | None], tenant_id: str, blob: str) -> str | None:
        """The tenant's signing secret (decrypted once per batch); None when it cannot be
        decrypted, which no retry mends."""
        if (tenant_id, blob) not in cache:
            try:
                cache[(tenant_id, blob)] = self._encryptor.decrypt(blob, secret_context(tenant_id)).decode()
            except DecryptionFailed:
                logger.error(
                    "webhook secret cannot be decrypted; not delivered", extra={"tenant_id": tenant_id}
                )
                cache[(tenant_id, blob)] = None
        return cache[(tenant_id, blob)]

    def _deliver(self, item: Candidate, delivery: Delivery, deadline: float) -> bool:
        """Attempts within the policy and the deadline; False when the record should come
        again (every attempt failed with a retryable error, or no time was left)."""
        policy = self.policy
        for n in range(1, policy.max_attempts + 1):
            if time.monotonic() + attempt_seconds(policy) > deadline:
                logger.warning(
                    "webhook delivery deferred: out of time", extra={**fields(delivery), "attempt": n}
                )
                return False
            result, detail = attempt(self._post, delivery, policy.timeout)
            extra = {**fields(delivery), "attempt": n, "detail": detail}
            if result is Result.DELIVERED:
                logger.info("webhook delivered", extra=extra)
                self._mark(item)
                return True
            if result is Result.FAILED:
                logger.warning("webhook refused; not retried", extra=extra)
                return True
            if n < policy.max_attempts:
                logger.info("webhook delivery failed; will retry", extra=extra)
                self._sleep(policy.delay(n))
        logger.warning("webhook delivery failed; the batch will retry it", extra=extra)
        return False

    def _mark(self, item: Candidate) -> None:
        """After a delivery: a failed marker write is logged, not retried (the event went
        out; at worst a retried batch sends it again, with the same event id)."""
        try:
            self._markers.mark(system_scope(item.tenant_id), item.event_id, int(self._clock()))
        except StoreError:
            logger.warning(
                "webhook delivered but not marked",
                extra={"tenant_id": item.tenant_id, "event_id": item.event_id},
            )


def _remaining_seconds(context: Any, budget: float) -> float:
    """What Lambda left this invocation; `budget` where no context says (the local poller)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if callable(remaining) else budget


def handle_event(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """The Lambda entry point (`app.py`) and what the local stream poller calls."""
    from chalicelib.services.container import get_container

    return get_container().webhook_stream.handle(event, context)
