"""The caller's own audit log (admins only): search and CSV export."""

from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._permissions import AUTHENTICATED, Permission
from chalicelib.api._spec import INTEGER, STRING, Answer, obj
from chalicelib.api._validation import Check, Query, check, cursor, instant, limit
from chalicelib.auth.scope import own_scope
from chalicelib.domain.audit import EVENT_TYPES, AuditFilter
from chalicelib.domain.ids import DELEGATION_ID
from chalicelib.domain.principal import Role
from chalicelib.errors import InvalidRequest

bp = Blueprint(__name__)

AUDIT_READERS = frozenset({Role.ADMIN, Role.AUDITOR})
ACTOR_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


def _matching(pattern: re.Pattern[str], description: str) -> Check:
    def parse(name: str, raw: str) -> str:
        if not pattern.fullmatch(raw):
            raise InvalidRequest(f"{name} is malformed.")
        return raw

    return Check(
        parse,
        {"type": "string", "pattern": f"^(?:{pattern.pattern.strip('^$')})$", "description": description},
    )


@check(
    {
        "type": "array",
        "items": {"type": "string", "enum": sorted(EVENT_TYPES)},
        "description": "Event types (repeat the parameter, or separate them with commas).",
    }
)
def event_types(name: str, values: list[str]) -> frozenset[str]:
    types = {t for value in values for t in value.split(",") if t}
    unknown = sorted(types - EVENT_TYPES)
    if unknown:
        raise InvalidRequest(f"Unknown event type(s): {', '.join(unknown)}.")
    return frozenset(types)


FILTERS = {
    "type": event_types,
    "delegation_id": _matching(DELEGATION_ID, "Events about this delegation."),
    "actor_id": _matching(ACTOR_ID, "Events by this actor (agent, admin client or subject)."),
    "since": instant,
    "until": instant,
}
SEARCH = Query({**FILTERS, "limit": limit(), "cursor": cursor})
EXPORT = Query(FILTERS)
EVENT = obj(
    {
        "event_id": STRING,
        "tenant_id": STRING,
        "occurred_at": STRING,
        "type": STRING,
        "actor": obj({"type": STRING, "id": STRING}),
        "request_id": STRING,
    },
    {
        "delegation_id": STRING,
        "counterpart_tenant_id": STRING,
        "action": STRING,
        "decision": STRING,
        "token_sha256": STRING,
        "detail": {"type": "object"},
    },
    title="AuditEvent",
)
EVENTS = obj({"events": {"type": "array", "items": EVENT}, "next_cursor": {"type": ["string", "null"]}})
REDIRECT = obj({"download_url": STRING, "expires_in": INTEGER, "rows": INTEGER})


def _filter(ctx: Ctx, query: dict[str, Any]) -> AuditFilter:
    return AuditFilter(
        types=event_types("type", ctx.multi_query("type")) or None,
        delegation_id=query["delegation_id"],
        actor_id=query["actor_id"],
        since=query["since"],
        until=query["until"],
    )


@endpoint(
    bp,
    "/audit",
    roles=AUDIT_READERS,
    query=SEARCH,
    responses={200: EVENTS},
    permissions=AUTHENTICATED | {Permission.AUDIT_READ},
)
def search_audit(ctx: Ctx) -> dict[str, Any]:
    """The caller's own audit log, newest first, a page at a time."""
    query = SEARCH(ctx.query())
    assert ctx.principal is not None
    return ctx.container.auditor.search(
        own_scope(ctx.principal), _filter(ctx, query), limit=query["limit"], cursor=query["cursor"]
    )


@endpoint(
    bp,
    "/audit/export.csv",
    permissions=AUTHENTICATED | {Permission.AUDIT_READ, Permission.CSV_EXPORT},
    roles=AUDIT_READERS,
    query=EXPORT,
    responses={
        200: Answer({"type": "string"}, "RFC 4180 CSV, oldest first.", "text/csv"),
        303: Answer(REDIRECT, "A large export: a short-lived download URL.", headers=("Location",)),
    },
    operation_id="exportAuditCsv",
)
def export_audit_csv(ctx: Ctx) -> Reply:
    """RFC 4180 CSV of the caller's log, oldest first; large exports redirect (303) to a
    short-lived presigned S3 URL instead of exceeding Lambda's response limit."""
    query = EXPORT(ctx.query())
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
