"""Delivered markers of the stream's webhook deliveries: `T#<tenant>/WHSENT#<event id>`.

The audit stream is at-least-once (a retried or bisected batch comes again), so the delivery
function reads the markers of a batch with its one batched read and skips events delivered
before. A marker is put once, with `attribute_not_exists`, right after its delivery; TTL
removes it after `MARKER_SECONDS`, well past the 24 hours a stream keeps a record. A marker
TTL has not removed yet still means "delivered": no read needs to check its expiry.
"""

from __future__ import annotations

from pynamodb.exceptions import PutError

from chalicelib.domain.principal import TenantScope
from chalicelib.store.db import Database, store_errors
from chalicelib.store.models import WebhookDeliveredModel, tenant_pk
from chalicelib.store.reads import Key

MARKER_PREFIX = "WHSENT#"
MARKER_SECONDS = 3 * 86400
MARKER_ATTRIBUTES = ("pk", "sk", "delivered_at", "ttl")  # all a marker put may write (IAM too)


def marker_key(tenant_id: str, event_id: str) -> Key:
    return Key(tenant_pk(tenant_id), f"{MARKER_PREFIX}{event_id}")


class DeliveryMarkers:
    def __init__(self, db: Database, table_name: str) -> None:
        self._db = db
        self._table = table_name

    @store_errors
    def mark(self, scope: TenantScope, event_id: str, now: int) -> bool:
        """Record that `event_id` reached the scope's webhook (one PutItem); False when a
        marker was there already."""
        key = marker_key(scope.tenant_id, event_id)
        marker = WebhookDeliveredModel(
            pk=key.pk, sk=key.sk, delivered_at=int(now), ttl=int(now) + MARKER_SECONDS
        )
        try:
            marker.save(condition=WebhookDeliveredModel.pk.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True
