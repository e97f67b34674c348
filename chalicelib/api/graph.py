"""The trust graph of the caller's tenant (admins, approvers, auditors)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, endpoint
from chalicelib.api._spec import INTEGER, STRING, TIMESTAMP, enum, maybe, obj
from chalicelib.api._validation import Check, Query, instant
from chalicelib.domain.principal import Role
from chalicelib.errors import InvalidRequest
from chalicelib.services.graph import DEFAULT_DAYS, MAX_DAYS
from chalicelib.store.edges import OUTCOMES

bp = Blueprint(__name__)

GRAPH_READERS = frozenset({Role.ADMIN, Role.APPROVER, Role.AUDITOR})


def _since(name: str, raw: str) -> datetime:
    return datetime.strptime(instant(name, raw), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


SINCE = Check(
    _since,
    {
        **instant.schema,
        "description": f"Count from this instant's UTC day on (default: {DEFAULT_DAYS} days ago); "
        f"not in the future, at most {MAX_DAYS} days back.",
    },
)
GRAPH_QUERY = Query({"since": SINCE})
TENANT_NODE = obj({"tenant_id": STRING, "name": maybe(STRING)}, title="GraphNode")
COUNTS = obj({name: INTEGER for name in OUTCOMES}, title="GraphCounts")
EDGE = obj(
    {
        "from_tenant_id": {**STRING, "description": "The requesting tenant."},
        "to_tenant_id": {**STRING, "description": "The receiving tenant."},
        "direction": {**enum("outbound", "inbound"), "description": "Relative to the caller's tenant."},
        "counts": COUNTS,
        "total": INTEGER,
    },
    title="GraphEdge",
)
GRAPH = obj(
    {
        "tenant": obj({"tenant_id": STRING, "name": STRING}),
        "since": {**TIMESTAMP, "description": "Midnight (UTC) of the first day counted."},
        "nodes": {
            "type": "array",
            "items": TENANT_NODE,
            "description": "The counterparts (not the caller). A counterpart the caller only "
            "met with BLOCKs of its own requests has no name: a BLOCK tells nothing of whether "
            "the tenant exists. Nor has one whose every dealing in the window concerns "
            "delegations created before names were kept with the counts.",
        },
        "edges": {"type": "array", "items": EDGE},
    },
    title="TrustGraph",
)


@endpoint(bp, "/graph", roles=GRAPH_READERS, prefetch=True, query=GRAPH_QUERY, responses={200: GRAPH})
def get_graph(ctx: Ctx) -> dict[str, Any]:
    """The caller's tenant, the tenants it dealt with and the delegation outcomes between
    them, by direction, counted by UTC day from `since` to today."""
    since = GRAPH_QUERY(ctx.query())["since"]
    now = datetime.fromtimestamp(ctx.now, tz=UTC)
    if since is not None and since > now:
        raise InvalidRequest("since must not lie in the future.")
    if since is not None and since < now - timedelta(days=MAX_DAYS):
        raise InvalidRequest(f"since must lie at most {MAX_DAYS} days back.")
    # A signed-in caller's session read fetched its tenant already; a bearer caller's is read
    # by the service, in the read that confirms the caller.
    tenant = ctx.session_claim.tenant if ctx.session_claim is not None else None
    return ctx.container.graph.graph(ctx.call, since, tenant)
