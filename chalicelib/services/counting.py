"""The counts behind /tenants/{id}/stats and /metrics, kept where the audit events are written.

Every change that these endpoints count (tenants and their status, agents, policies,
delegations by status, audit events) writes its audit events in the transaction that makes
it, through `AuditService.record`; that method hands each event here, and the event's type
says which counts move (sharded counters, chalicelib/store/counters.py). The counters thus
commit with the change or not at all, and no request ever counts items.

What the events must carry: delegation events name the requesting tenant first and the
receiving one last (as every caller does); `policy.upserted` says in its detail whether it
`replaced` a rule; `delegation.revoked` and `delegation.expired` give the `previous_status`,
and `tenant.status_changed` its `previous_status` and `status`.

Delegations are counted by *stored* status. Reads turn an ACTIVE or PENDING delegation past
its deadline into EXPIRED at once (`status_of`); its counts move when the cleanup job stores
EXPIRED (with `delegation.expired`), so for time-based expiry they lag by up to the cleanup
interval (5 minutes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.auth.scope import PLATFORM_LOG_TENANT
from chalicelib.domain import audit
from chalicelib.domain.delegation import Status
from chalicelib.domain.principal import TenantScope
from chalicelib.store.counters import CounterRepository
from chalicelib.store.db import WriteTransaction
from chalicelib.store.reads import Key, Snapshot

# Delegation events that store a status: (from, to). CREATED: the delegation is new;
# PREVIOUS: the status the event's detail names (revocation and expiry settle either live one).
CREATED, PREVIOUS = "created", "previous"
_TRANSITIONS: dict[str, tuple[Status | str, Status]] = {
    audit.DELEGATION_ALLOWED: (CREATED, Status.ACTIVE),
    audit.DELEGATION_STEPUP_REQUIRED: (CREATED, Status.PENDING),
    audit.DELEGATION_APPROVED: (Status.PENDING, Status.ACTIVE),
    audit.DELEGATION_REJECTED: (Status.PENDING, Status.REJECTED),
    audit.DELEGATION_REVOKED: (PREVIOUS, Status.REVOKED),
    audit.DELEGATION_EXPIRED: (PREVIOUS, Status.EXPIRED),
}
_BY_ONE = {
    audit.AGENT_CREATED: ("agents", 1),
    audit.AGENT_DISABLED: ("agents", -1),
    audit.POLICY_DELETED: ("policies", -1),
}


class EventCounter:
    def __init__(self, counters: CounterRepository) -> None:
        self._counters = counters

    def count(
        self,
        tx: WriteTransaction,
        event_type: str,
        scopes: Sequence[TenantScope],
        detail: Mapping[str, Any],
    ) -> None:
        """Add to `tx` the counts that one event (written to each of `scopes`) moves."""
        tenants, platform = event_deltas(event_type, [s.tenant_id for s in scopes], detail)
        by_id = {s.tenant_id: s for s in scopes}
        for tenant_id, deltas in tenants.items():
            self._counters.add(tx, by_id[tenant_id], deltas)
        if platform:
            self._counters.add_platform(tx, platform)

    def keys(self, scope: TenantScope) -> list[Key]:
        return self._counters.keys(scope)

    def platform_keys(self) -> list[Key]:
        return self._counters.platform_keys()

    def tenant_counts(self, scope: TenantScope, snapshot: Snapshot) -> dict[str, Any]:
        """The stats of the scope's tenant, from a snapshot that covered `keys(scope)`."""
        c = self._counters.totals(snapshot, self.keys(scope))
        return {
            "tenant_id": scope.tenant_id,
            "agents": c["agents"],
            "policies": c["policies"],
            "delegations": {
                "inbound": {s.value: c[f"in_{s.value}"] for s in Status},
                "outbound": {s.value: c[f"out_{s.value}"] for s in Status},
            },
            "audit_events": c["audit_events"],
        }

    def platform_counts(self, snapshot: Snapshot) -> dict[str, Any]:
        """The platform's totals, from a snapshot that covered `platform_keys()`; delegations
        are counted once each (by the receiving side's status)."""
        c = self._counters.totals(snapshot, self.platform_keys())
        return {
            "tenants": {
                "total": c["tenants"],
                "ACTIVE": c["tenants_ACTIVE"],
                "DISABLED": c["tenants_DISABLED"],
            },
            "agents": c["agents"],
            "policies": c["policies"],
            "delegations": {s.value: c[f"in_{s.value}"] for s in Status},
            "audit_events": c["audit_events"],
        }


def event_deltas(
    event_type: str, tenant_ids: Sequence[str], detail: Mapping[str, Any]
) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """The deltas of one event written to the logs of `tenant_ids`: by tenant, and for the
    platform's totals (which leave out the platform's own security log)."""
    unique = list(dict.fromkeys(tenant_ids))
    tenants: dict[str, dict[str, int]] = {t: {"audit_events": 1} for t in unique}
    platform: dict[str, int] = {}
    logged = sum(1 for t in unique if t != PLATFORM_LOG_TENANT)
    if logged:
        platform["audit_events"] = logged

    def add(deltas: dict[str, int], name: str, n: int) -> None:
        deltas[name] = deltas.get(name, 0) + n

    by_one = _BY_ONE.get(event_type)
    if event_type == audit.POLICY_UPSERTED and not detail["replaced"]:
        by_one = ("policies", 1)
    if by_one is not None:
        name, n = by_one
        (only,) = unique
        add(tenants[only], name, n)
        add(platform, name, n)
    elif event_type == audit.TENANT_CREATED:
        add(platform, "tenants", 1)
        add(platform, "tenants_ACTIVE", 1)
    elif event_type == audit.TENANT_STATUS_CHANGED:
        add(platform, f"tenants_{detail['previous_status']}", -1)
        add(platform, f"tenants_{detail['status']}", 1)
    elif event_type in _TRANSITIONS:
        if len(tenant_ids) != 2:
            raise ValueError(f"{event_type} must name the requesting and the receiving tenant")
        requesting, receiving = tenant_ids
        source, after = _TRANSITIONS[event_type]
        before = Status(detail["previous_status"]) if source == PREVIOUS else source
        for side, deltas in (("out", tenants[requesting]), ("in", tenants[receiving]), ("in", platform)):
            if isinstance(before, Status):
                add(deltas, f"{side}_{before.value}", -1)
            add(deltas, f"{side}_{after.value}", 1)
    return tenants, platform
