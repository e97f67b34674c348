"""The caller's own audit log (admins only): search and CSV export."""

from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._validation import instant_param, limit_param, only_params
from chalicelib.auth.scope import own_scope
from chalicelib.domain.audit import EVENT_TYPES, AuditFilter
from chalicelib.domain.ids import DELEGATION_ID
from chalicelib.domain.principal import Role
from chalicelib.errors import InvalidRequest

bp = Blueprint(__name__)

ADMIN = frozenset({Role.ADMIN})
FILTERS = {"type", "delegation_id", "actor_id", "since", "until"}
ACTOR_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


def _filter(ctx: Ctx, query: dict[str, str]) -> AuditFilter:
    types = {t for value in ctx.multi_query("type") for t in value.split(",") if t}
    unknown = sorted(types - EVENT_TYPES)
    if unknown:
        raise InvalidRequest(f"Unknown event type(s): {', '.join(unknown)}.")
    delegation_id = query.get("delegation_id")
    if delegation_id is not None and not DELEGATION_ID.fullmatch(delegation_id):
        raise InvalidRequest("delegation_id is malformed.")
    actor_id = query.get("actor_id")
    if actor_id is not None and not ACTOR_ID.fullmatch(actor_id):
        raise InvalidRequest("actor_id is malformed.")
    return AuditFilter(
        types=frozenset(types) or None,
        delegation_id=delegation_id,
        actor_id=actor_id,
        since=instant_param(query, "since"),
        until=instant_param(query, "until"),
    )


@endpoint(bp, "/audit", roles=ADMIN)
def search_audit(ctx: Ctx) -> dict[str, Any]:
    query = ctx.query()
    only_params(query, FILTERS | {"limit", "cursor"})
    assert ctx.principal is not None
    return ctx.container.auditor.search(
        own_scope(ctx.principal), _filter(ctx, query), limit=limit_param(query), cursor=query.get("cursor")
    )


@endpoint(bp, "/audit/export.csv", roles=ADMIN)
def export_audit_csv(ctx: Ctx) -> Reply:
    """RFC 4180 CSV of the caller's log, oldest first; large exports redirect (303) to a
    short-lived presigned S3 URL instead of exceeding Lambda's response limit."""
    query = ctx.query()
    only_params(query, FILTERS)
    assert ctx.principal is not None
    export = ctx.container.auditor.export_csv(own_scope(ctx.principal), _filter(ctx, query), ctx.call.now)
    if export.body is not None:
        return Reply(
            export.body,
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": 'attachment; filename="audit.csv"',
                "X-Row-Count": str(export.rows),
            },
        )
    assert export.download_url is not None
    return Reply(
        {"download_url": export.download_url, "expires_in": export.expires_in, "rows": export.rows},
        303,
        {"Location": export.download_url},
    )
