"""The caller's own audit log (admins only)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, endpoint
from chalicelib.api._validation import instant_param, limit_param, only_params
from chalicelib.auth.scope import own_scope
from chalicelib.domain.audit import EVENT_TYPES
from chalicelib.domain.ids import DELEGATION_ID
from chalicelib.domain.principal import Role
from chalicelib.errors import InvalidRequest

bp = Blueprint(__name__)

ADMIN = frozenset({Role.ADMIN})


@endpoint(bp, "/audit", roles=ADMIN)
def search_audit(ctx: Ctx) -> dict[str, Any]:
    query = ctx.query()
    only_params(query, {"type", "delegation_id", "since", "until", "limit", "cursor"})
    types = {t for value in ctx.multi_query("type") for t in value.split(",") if t}
    unknown = sorted(types - EVENT_TYPES)
    if unknown:
        raise InvalidRequest(f"Unknown event type(s): {', '.join(unknown)}.")
    delegation_id = query.get("delegation_id")
    if delegation_id is not None and not DELEGATION_ID.fullmatch(delegation_id):
        raise InvalidRequest("delegation_id is malformed.")
    assert ctx.principal is not None
    return ctx.container.auditor.search(
        own_scope(ctx.principal),
        limit=limit_param(query),
        cursor=query.get("cursor"),
        types=frozenset(types) or None,
        delegation_id=delegation_id,
        since=instant_param(query, "since"),
        until=instant_param(query, "until"),
    )
