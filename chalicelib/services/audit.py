"""Writing and reading the per-tenant audit log."""

from __future__ import annotations

from typing import Any

from ulid import ULID

from chalicelib.domain.audit import AuditEvent
from chalicelib.domain.principal import TenantScope
from chalicelib.errors import InvalidRequest
from chalicelib.services.call import Call
from chalicelib.store.audit import AuditRepository, decode_cursor
from chalicelib.store.db import WriteTransaction


class AuditService:
    def __init__(self, repository: AuditRepository) -> None:
        self._repository = repository

    def record(
        self,
        tx: WriteTransaction,
        call: Call,
        event_type: str,
        scopes: tuple[TenantScope, ...],
        **fields: Any,
    ) -> None:
        """Add one event to each scope's log, inside `tx`; for two tenants each log names
        the other as counterpart."""
        event_id = str(ULID())
        unique = {s.tenant_id: s for s in scopes}
        explicit_counterpart = fields.pop("counterpart_tenant_id", None)
        for scope in unique.values():
            others = [t for t in unique if t != scope.tenant_id]
            event = AuditEvent(
                event_id=event_id,
                tenant_id=scope.tenant_id,
                occurred_at=call.timestamp,
                type=event_type,
                actor=call.actor,
                request_id=call.request_id,
                counterpart_tenant_id=others[0] if others else explicit_counterpart,
                **fields,
            )
            self._repository.add(tx, scope, event)

    def search(
        self,
        scope: TenantScope,
        *,
        limit: int,
        cursor: str | None,
        types: frozenset[str] | None,
        delegation_id: str | None,
        since: str | None,
        until: str | None,
    ) -> dict[str, Any]:
        sk = None
        if cursor is not None:
            sk = decode_cursor(cursor)
            if sk is None:
                raise InvalidRequest("The cursor is malformed.")
        events, next_cursor = self._repository.query(
            scope,
            limit=limit,
            cursor=sk,
            types=types,
            delegation_id=delegation_id,
            since=since,
            until=until,
        )
        return {"events": [e.as_dict() for e in events], "next_cursor": next_cursor}
