"""Approver notifications: called when a step-up request becomes pending and when it is
decided. Delivery is best effort and never blocks or fails the request that caused it."""

from __future__ import annotations

from typing import Any, Protocol


class Notifier(Protocol):
    def stepup_event(self, event_type: str, receiving_tenant_id: str, payload: dict[str, Any]) -> None: ...


class NullNotifier:
    """The default: nobody is notified (approvers look at the pending queue)."""

    def stepup_event(self, event_type: str, receiving_tenant_id: str, payload: dict[str, Any]) -> None:
        return None
