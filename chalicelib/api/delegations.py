"""Delegations: request, list, read, revoke, verify."""

from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._validation import (
    action,
    fields,
    integer,
    limit_param,
    one_of,
    only_params,
    receiving_tenant,
    text,
    token,
)
from chalicelib.domain.delegation import MAX_TTL_SECONDS, MIN_TTL_SECONDS, Status
from chalicelib.domain.principal import Role
from chalicelib.errors import InvalidRequest, TenantMismatch
from chalicelib.services.delegations import DelegationRequest

bp = Blueprint(__name__)

AGENT = frozenset({Role.AGENT})
ADMIN_OR_AGENT = frozenset({Role.ADMIN, Role.AGENT})
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")


@endpoint(bp, "/delegations/request", methods=["POST"], roles=AGENT, prefetch=True)
def request_delegation(ctx: Ctx) -> Reply:
    raw = ctx.json()
    assert ctx.principal is not None
    for own in ("requesting_tenant_id", "tenant_id"):
        if own in raw and raw.pop(own) != ctx.principal.tenant_id:
            raise TenantMismatch()
    body = fields(
        raw,
        {"receiving_tenant_id": receiving_tenant, "action": action},
        {
            "ttl_seconds": integer(MIN_TTL_SECONDS, MAX_TTL_SECONDS),
            "purpose": text(500),
            "binding_message": text(128),
        },
    )
    key = ctx.headers.get("idempotency-key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidRequest("Idempotency-Key must be 8 to 128 characters of [A-Za-z0-9_.:-].")
    outcome = ctx.container.delegations.request(ctx.call, DelegationRequest(**body), key)
    return Reply(outcome.body, outcome.status_code, NO_STORE)


@endpoint(bp, "/delegations", roles=ADMIN_OR_AGENT)
def list_delegations(ctx: Ctx) -> dict[str, Any]:
    query = ctx.query()
    only_params(query, {"direction", "status", "limit", "cursor"})
    assert ctx.principal is not None
    default = "inbound" if ctx.principal.role is Role.ADMIN else "outbound"
    direction = one_of("inbound", "outbound")("direction", query.get("direction", default))
    status = query.get("status")
    if status is not None:
        one_of(*(s.value for s in Status))("status", status)
    return ctx.container.delegations.list(
        ctx.call,
        direction=direction,
        status=Status(status) if status else None,
        limit=limit_param(query),
        cursor=query.get("cursor"),
    )


@endpoint(bp, "/delegations/verify", methods=["POST"], roles=ADMIN_OR_AGENT, prefetch=True)
def verify_delegation(ctx: Ctx) -> Reply:
    body = fields(ctx.json(), {"token": token})
    return Reply(ctx.container.verification.verify(ctx.call, body["token"]), headers=NO_STORE)


@endpoint(bp, "/delegations/{delegation_id}", roles=ADMIN_OR_AGENT)
def get_delegation(ctx: Ctx, delegation_id: str) -> dict[str, Any]:
    return ctx.container.delegations.get(ctx.call, delegation_id)


@endpoint(bp, "/delegations/{delegation_id}/revoke", methods=["POST"], roles=ADMIN_OR_AGENT, prefetch=True)
def revoke_delegation(ctx: Ctx, delegation_id: str) -> dict[str, Any]:
    if ctx.request.raw_body:
        fields(ctx.json(), {}, {"reason": text(500)})
    return ctx.container.revocation.revoke(ctx.call, delegation_id)
