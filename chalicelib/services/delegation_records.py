"""Derived state and the JSON view of delegation records (both sides), used by every
service that reads them: expiry is applied here on every read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.delegation import Status, effective_status
from chalicelib.services.call import iso
from chalicelib.store.models import DelegationModel, DelegationRefModel


def expiry_bucket(epoch: int) -> str:
    """The hour an expiry falls in: the cleanup job queries one bucket at a time."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H")


def status_of(item: DelegationModel | DelegationRefModel, now: int) -> Status:
    return effective_status(
        Status(item.status),
        now=now,
        expires_at=int_or_none(item.expires_at),
        stepup_expires_at=int_or_none(item.stepup_expires_at),
    )


def int_or_none(value: float | None) -> int | None:
    """DynamoDB numbers arrive as floats; epochs are ints."""
    return None if value is None else int(value)


def delegation_view(item: DelegationModel | DelegationRefModel, now: int, direction: str) -> dict[str, Any]:
    status = status_of(item, now)
    deadline = {Status.PENDING: item.stepup_expires_at, Status.ACTIVE: item.expires_at}.get(status)
    return {
        "delegation_id": item.delegation_id,
        "direction": direction,
        "requesting_tenant_id": item.requesting_tenant_id,
        "receiving_tenant_id": item.receiving_tenant_id,
        "agent_id": item.agent_id,
        "action": item.action,
        "decision": item.decision,
        "status": status.value,
        "expires_in": max(0, int(deadline) - now) if deadline else None,
        "requesting_tenant_name": item.requesting_tenant_name,
        "receiving_tenant_name": item.receiving_tenant_name,
        "agent_name": item.agent_name,
        "auth_req_id": item.auth_req_id,
        "purpose": item.purpose,
        "binding_message": item.binding_message,
        "ttl_seconds": int(item.ttl_seconds),
        "created_at": item.created_at,
        "issued_at": iso(item.issued_at) if item.issued_at else None,
        "expires_at": iso(item.expires_at) if item.expires_at else None,
        "stepup_expires_at": iso(item.stepup_expires_at) if item.stepup_expires_at else None,
        "revoked_at": item.revoked_at,
        "decided_at": item.decided_at,
        "decided_by": getattr(item, "decided_by", None),  # the receiving side's record only
        "decision_reason": item.decision_reason,
        **_revoker(item, direction),
    }


def _revoker(item: DelegationModel | DelegationRefModel, direction: str) -> dict[str, Any]:
    """Who revoked it: the person or client by subject when they belong to the viewer's
    tenant; of the counterpart, only which tenant (its people are not the viewer's to know)."""
    viewer = item.receiving_tenant_id if direction == "inbound" else item.requesting_tenant_id
    tenant = item.revoked_by_tenant_id
    return {
        "revoked_by": item.revoked_by if tenant is not None and tenant == viewer else None,
        "revoked_by_tenant_id": tenant,
    }
