"""Approver notifications: called when a step-up request becomes pending and when it is
decided. Delivery is best effort and never blocks or fails the request that caused it.

Where webhooks go out from the audit stream (`VAULTGUARD_WEBHOOK_DELIVERY=stream`, every
deployed stage) the request path gets `NullNotifier`; the stream's delivery function builds
the same `data` with `stepup_payload` (chalicelib/jobs/webhook_delivery.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.services.call import Call
    from chalicelib.store.models import DelegationModel
    from chalicelib.store.reads import Key, Snapshot


class Notifier(Protocol):
    def keys(self, receiving_tenant_id: str) -> list[Key]:
        """What the notifier needs to read; a use case adds these to its batched read."""
        ...

    def stepup_event(
        self,
        event_type: str,
        receiving_tenant_id: str,
        payload: dict[str, Any],
        snapshot: Snapshot | None = None,
    ) -> None:
        """`snapshot`: the request's read; what it did not cover is read now."""
        ...


class NullNotifier:
    """The default: nobody is notified (approvers look at the pending queue)."""

    def keys(self, receiving_tenant_id: str) -> list[Key]:
        return []

    def stepup_event(
        self,
        event_type: str,
        receiving_tenant_id: str,
        payload: dict[str, Any],
        snapshot: Snapshot | None = None,
    ) -> None:
        return None


def stepup_payload(event_type: str, occurred_at: str, record: DelegationModel, status: str) -> dict[str, Any]:
    """A step-up event's `data`, the same whichever path delivers it: the request's own
    notifier or the audit stream's delivery function (chalicelib/jobs/webhook_delivery.py).
    Every field but `status` and `occurred_at` is fixed when the request is created."""
    from chalicelib.services.call import iso

    return {
        "type": event_type,
        "occurred_at": occurred_at,
        "delegation_id": record.delegation_id,
        "auth_req_id": record.auth_req_id,
        "requesting_tenant_id": record.requesting_tenant_id,
        "requesting_tenant_name": record.requesting_tenant_name,
        "agent_id": record.agent_id,
        "agent_name": record.agent_name,
        "action": record.action,
        "purpose": record.purpose,
        "binding_message": record.binding_message,
        "ttl_seconds": int(record.ttl_seconds),
        "status": status,
        "stepup_expires_at": iso(record.stepup_expires_at) if record.stepup_expires_at else None,
    }


def notify_stepup(
    notifier: Notifier,
    event_type: str,
    record: DelegationModel,
    call: Call,
    snapshot: Snapshot | None = None,
) -> None:
    """Tell the receiving tenant's approvers about a step-up request; never raises.
    `snapshot`: the request's read, which saves a round trip where it covered
    `notifier.keys(...)` of the receiving tenant."""
    from chalicelib.services.delegation_records import status_of

    try:
        status = status_of(record, call.epoch).value
        notifier.stepup_event(
            event_type,
            record.receiving_tenant_id,
            stepup_payload(event_type, call.timestamp, record, status),
            snapshot,
        )
    except Exception:  # noqa: BLE001 - a notification must never fail the request
        logger.exception("step-up notification failed")
