"""The append-only audit log: put with attribute_not_exists, queried newest first.

There is deliberately no update or delete method here, nor anywhere else in the store.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from pynamodb.exceptions import PynamoDBException
from pynamodb.expressions.condition import Condition

from chalicelib.domain.audit import Actor, AuditEvent, AuditFilter
from chalicelib.domain.principal import TenantScope
from chalicelib.store.db import StoreError, WriteTransaction, guarded
from chalicelib.store.models import AuditEventModel, tenant_pk


def _sort_key(event: AuditEvent) -> str:
    return f"{event.occurred_at}#{event.event_id}"


def encode_cursor(sk: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"sk": sk}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    """Only the sort key travels in a cursor; the partition always comes from the scope."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sk = json.loads(raw)["sk"]
    except (ValueError, KeyError, TypeError):
        return None
    return sk if isinstance(sk, str) and len(sk) < 200 else None


def _to_event(item: AuditEventModel) -> AuditEvent:
    return AuditEvent(
        event_id=item.event_id,
        tenant_id=item.tenant_id,
        occurred_at=item.occurred_at,
        type=item.type,
        actor=Actor(item.actor_type, item.actor_id),
        request_id=item.request_id,
        delegation_id=item.delegation_id,
        counterpart_tenant_id=item.counterpart_tenant_id,
        action=item.action,
        decision=item.decision,
        token_sha256=item.token_sha256,
        detail=dict(item.detail.as_dict()) if item.detail is not None else {},
    )


class AuditRepository:
    def add(self, tx: WriteTransaction, scope: TenantScope, event: AuditEvent) -> None:
        """Append `event` to the scope's log as part of `tx` (never overwrites)."""
        if event.tenant_id != scope.tenant_id:
            raise ValueError("audit event tenant does not match the scope")
        item = AuditEventModel(
            pk=tenant_pk(scope.tenant_id),
            sk=_sort_key(event),
            event_id=event.event_id,
            tenant_id=event.tenant_id,
            occurred_at=event.occurred_at,
            type=event.type,
            actor_type=event.actor.type,
            actor_id=event.actor.id,
            request_id=event.request_id,
            delegation_id=event.delegation_id,
            counterpart_tenant_id=event.counterpart_tenant_id,
            action=event.action,
            decision=event.decision,
            token_sha256=event.token_sha256,
            detail=event.detail or None,
        )
        tx.create(item)

    def query(
        self, scope: TenantScope, flt: AuditFilter, *, limit: int, cursor: str | None = None
    ) -> tuple[list[AuditEvent], str | None]:
        """One page, newest first; the cursor is the last sort key returned."""
        start_key: dict[str, Any] | None = None
        if cursor:
            start_key = {"pk": {"S": tenant_pk(scope.tenant_id)}, "sk": {"S": cursor}}
        try:
            items = list(
                AuditEventModel.query(
                    tenant_pk(scope.tenant_id),
                    range_key_condition=_range(flt),
                    filter_condition=_filters(flt),
                    scan_index_forward=False,
                    limit=limit + 1,
                    last_evaluated_key=start_key,
                    page_size=min(max(limit + 1, 25), 500),
                )
            )
        except PynamoDBException as exc:
            raise StoreError(str(exc)) from exc
        events = [_to_event(item) for item in items[:limit]]
        next_cursor = encode_cursor(_sort_key(events[-1])) if len(items) > limit else None
        return events, next_cursor

    def iterate(self, scope: TenantScope, flt: AuditFilter) -> Iterator[AuditEvent]:
        """Every matching event, oldest first, fetched page by page as it is consumed."""
        items = AuditEventModel.query(
            tenant_pk(scope.tenant_id),
            range_key_condition=_range(flt),
            filter_condition=_filters(flt),
            scan_index_forward=True,
            page_size=500,
        )
        return (_to_event(item) for item in guarded(items))



def _range(flt: AuditFilter) -> Condition | None:
    sk = AuditEventModel.sk
    if flt.since and flt.until:
        return sk.between(flt.since, flt.until + "\uffff")
    if flt.since:
        return sk >= flt.since
    if flt.until:
        return sk <= flt.until + "\uffff"
    return None


def _filters(flt: AuditFilter) -> Condition | None:
    conditions: list[Condition] = []
    if flt.types:
        conditions.append(AuditEventModel.type.is_in(*sorted(flt.types)))
    if flt.delegation_id:
        conditions.append(AuditEventModel.delegation_id == flt.delegation_id)
    if flt.actor_id:
        conditions.append(AuditEventModel.actor_id == flt.actor_id)
    combined: Condition | None = None
    for condition in conditions:
        combined = condition if combined is None else combined & condition
    return combined
