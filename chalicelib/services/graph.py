"""The trust graph behind GET /graph: whom the caller's tenant dealt with, and how it went.

Counting: `AuditService.record` hands every event to `EdgeCounter.count` beside the stats'
`EventCounter`, in the same transaction. A delegation outcome (the event types of
`OUTCOMES`) names the requesting tenant first and the receiving one last; it counts an
outbound edge for the requester and an inbound one for the receiver, on the event's UTC day.
A BLOCK whose receiving tenant is unknown or disabled is written to the requester's log and
the platform's security log, each alone with the requested tenant as explicit counterpart:
the requester gets the very same outbound BLOCK edge as for a real BLOCK, and the platform's
log gets no edge but the stand-in count of `chalicelib.store.edges` (as many items as the
receiver's inbound edge of a real BLOCK).

Names: tenant names never change, so the counting event stores the counterpart's name on
the edge item (the `names` its caller passes to `AuditService.record`, taken from what it has
read anyway: the request's snapshot, the delegation record). An outbound BLOCK never stores
one: a BLOCK answers alike for a real, an unknown and a disabled tenant, and its name would
tell which.

Reading: one Query on the caller's partition for the window's days; the counterparts' names
come from their edge items. The caller's own TENANT item comes from the request's first
batched read (which also authenticates a bearer caller: the route prefetches), or from the
session's, which a signed-in caller's request has already made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.auth.scope import PLATFORM_LOG_TENANT, own_scope
from chalicelib.domain import audit
from chalicelib.domain.principal import TenantScope
from chalicelib.services.call import Call
from chalicelib.store.db import WriteTransaction
from chalicelib.store.edges import OUTCOMES as OUTCOME_NAMES
from chalicelib.store.edges import Direction, EdgeRepository
from chalicelib.store.keys import tenant_key
from chalicelib.store.models import DelegationModel, DelegationRefModel, TenantModel
from chalicelib.store.reads import BatchReader

OUTCOMES = {
    audit.DELEGATION_ALLOWED: "ALLOW",
    audit.DELEGATION_STEPUP_REQUIRED: "STEP_UP",
    audit.DELEGATION_BLOCKED: "BLOCK",
    audit.DELEGATION_APPROVED: "APPROVED",
    audit.DELEGATION_REJECTED: "REJECTED",
    audit.DELEGATION_EXPIRED: "EXPIRED",
    audit.DELEGATION_REVOKED: "REVOKED",
}
DEFAULT_DAYS = 30
MAX_DAYS = 366
DIRECTIONS = {Direction.OUT: "outbound", Direction.IN: "inbound"}

# (tenant id, direction, counterpart id); a None direction: the platform log's stand-in.
Edge = tuple[str, Direction | None, str | None]


def edges_of(event_type: str, tenant_ids: Sequence[str], counterpart: str | None) -> list[Edge]:
    """The edges one event (written to the logs of `tenant_ids`) counts. A delegation with
    oneself has no counterpart and counts none."""
    if event_type not in OUTCOMES:
        return []
    if len(tenant_ids) == 2:
        requesting, receiving = tenant_ids
        if requesting == receiving:
            return []
        return [(requesting, Direction.OUT, receiving), (receiving, Direction.IN, requesting)]
    if len(tenant_ids) == 1 and counterpart is not None:
        (only,) = tenant_ids
        if only == PLATFORM_LOG_TENANT:
            return [(only, None, None)]
        return [(only, Direction.OUT, counterpart)]
    raise ValueError(f"{event_type} must name the requesting and the receiving tenant")


def delegation_names(item: DelegationModel | DelegationRefModel) -> dict[str, str]:
    """The names of a delegation's two tenants, as written at its creation, for the edges of
    its later outcomes. A delegation created before the receiving side's name was written
    lacks it: its edges then name nobody (never a read of the tenant on the request path)."""
    names = {
        item.requesting_tenant_id: item.requesting_tenant_name,
        item.receiving_tenant_id: item.receiving_tenant_name,
    }
    return {tenant_id: name for tenant_id, name in names.items() if name is not None}


class EdgeCounter:
    def __init__(self, edges: EdgeRepository) -> None:
        self._edges = edges

    def count(
        self,
        tx: WriteTransaction,
        event_type: str,
        scopes: Sequence[TenantScope],
        counterpart: str | None,
        now: float,
        names: Mapping[str, str] | None = None,
    ) -> None:
        """Add to `tx` the edge counts of one event written to each of `scopes`, each edge
        with its counterpart's name from `names` (by tenant id) when it may carry one."""
        outcome = OUTCOMES.get(event_type)
        if outcome is None:
            return
        day = _day(now)
        by_id = {s.tenant_id: s for s in scopes}
        for tenant_id, direction, other in edges_of(event_type, [s.tenant_id for s in scopes], counterpart):
            if direction is None:
                self._edges.add_unreached(tx, by_id[tenant_id], day, outcome)
                continue
            assert other is not None
            # The requester's BLOCK edge names nobody, whatever the caller passed.
            nameable = not (direction is Direction.OUT and outcome == "BLOCK")
            name = (names or {}).get(other) if nameable else None
            self._edges.add(tx, by_id[tenant_id], day, direction, other, outcome, name)


class GraphService:
    def __init__(self, edges: EdgeRepository, reader: BatchReader) -> None:
        self._edges = edges
        self._reader = reader

    def graph(self, call: Call, since: datetime | None, tenant: TenantModel | None = None) -> dict[str, Any]:
        """The caller's tenant, its counterparts and the edges with them from the UTC day
        of `since` (default: DEFAULT_DAYS ago) to today. `tenant`: the caller's TENANT item
        when the request has read it already (a session's); else it is read here, in the
        request's first batched read, which confirms a prefetching caller."""
        assert call.principal is not None
        scope = own_scope(call.principal)
        if tenant is None:
            key = tenant_key(scope.tenant_id)
            tenant = call.read(self._reader, [key]).get(TenantModel, key)
        now = datetime.fromtimestamp(call.now, tz=UTC)
        first = (since or now - timedelta(days=DEFAULT_DAYS)).date().isoformat()
        totals: dict[tuple[Direction, str], dict[str, int]] = {}
        found: dict[str, str] = {}
        for item in self._edges.days(scope, first, now.date().isoformat()):
            counts = totals.setdefault((item.direction, item.counterpart_id), dict.fromkeys(OUTCOME_NAMES, 0))
            for name, n in item.counts.items():
                counts[name] += n
            if item.counterpart_name is not None:
                found[item.counterpart_id] = item.counterpart_name
        counterparts = sorted({c for _, c in totals})
        names = {c: found.get(c) if _may_name(c, totals) else None for c in counterparts}
        return {
            "tenant": {"tenant_id": scope.tenant_id, "name": tenant.name if tenant is not None else None},
            "since": f"{first}T00:00:00Z",
            "nodes": [{"tenant_id": c, "name": names[c]} for c in counterparts],
            "edges": [
                _edge(scope.tenant_id, direction, other, counts)
                for (direction, other), counts in sorted(totals.items(), key=_order)
            ],
        }


def _may_name(counterpart: str, totals: Mapping[tuple[Direction, str], Mapping[str, int]]) -> bool:
    """Whether naming the counterpart tells the caller nothing it could not know: it dealt
    with the caller (inbound), or answered otherwise than BLOCK."""
    if (Direction.IN, counterpart) in totals:
        return True
    outbound = totals.get((Direction.OUT, counterpart), {})
    return any(n for name, n in outbound.items() if name != "BLOCK")


def _edge(me: str, direction: Direction, other: str, counts: dict[str, int]) -> dict[str, Any]:
    requesting, receiving = (me, other) if direction is Direction.OUT else (other, me)
    return {
        "from_tenant_id": requesting,
        "to_tenant_id": receiving,
        "direction": DIRECTIONS[direction],
        "counts": counts,
        "total": sum(counts.values()),
    }


def _order(entry: tuple[tuple[Direction, str], dict[str, int]]) -> tuple[int, str, str]:
    (direction, other), counts = entry
    return (-sum(counts.values()), other, direction.value)


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).date().isoformat()
