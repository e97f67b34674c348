"""Delegations: request, list, read, revoke, verify."""

from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._permissions import AUTHENTICATED, Permission
from chalicelib.api._spec import (
    DELEGATION,
    ERROR,
    INTEGER,
    INTROSPECTION,
    STRING,
    Answer,
    const,
    links,
    obj,
)
from chalicelib.api._validation import (
    Fields,
    Query,
    action,
    check,
    cursor,
    integer,
    limit,
    one_of,
    receiving_tenant,
    tenant_id,
    text,
    token,
)
from chalicelib.domain import ids
from chalicelib.domain.delegation import MAX_TTL_SECONDS, MIN_TTL_SECONDS, Status
from chalicelib.domain.principal import Role
from chalicelib.errors import InvalidRequest, TenantMismatch
from chalicelib.services.delegations import DelegationRequest

bp = Blueprint(__name__)

AGENT = frozenset({Role.AGENT})
ADMIN_OR_AGENT = frozenset({Role.ADMIN, Role.AGENT})
READERS = frozenset({Role.ADMIN, Role.AGENT, Role.APPROVER, Role.AUDITOR})  # agents: their own only
REVOKERS = frozenset({Role.ADMIN, Role.AGENT, Role.APPROVER})  # approvers: inbound, agents: their own
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")
OWN_TENANT_FIELDS = ("requesting_tenant_id", "tenant_id")


@check(
    {
        "type": "string",
        "pattern": IDEMPOTENCY_KEY.pattern,
        "description": "A repeated request with the same key and body answers as the first did.",
    }
)
def idempotency_key(name: str, value: str) -> str:
    if not IDEMPOTENCY_KEY.fullmatch(value):
        raise InvalidRequest(f"{name} must be 8 to 128 characters of [A-Za-z0-9_.:-].")
    return value


@check({"type": "string", "description": "The caller's own tenant id, if given; any other is refused (403)."})
def _own_tenant(name: str, value: Any) -> Any:
    return value  # compared with the caller's tenant before the other fields are parsed


DELEGATION_REQUEST = Fields(
    {"receiving_tenant_id": receiving_tenant, "action": action},
    {
        "ttl_seconds": integer(MIN_TTL_SECONDS, MAX_TTL_SECONDS),
        "purpose": text(500),
        "binding_message": text(128),
    },
)
DELEGATION_REQUEST_DOC = Fields(
    DELEGATION_REQUEST.required,
    {**DELEGATION_REQUEST.optional, **dict.fromkeys(OWN_TENANT_FIELDS, _own_tenant)},
)
ALLOWED = obj(
    {
        "delegation_id": STRING,
        "decision": const("ALLOW"),
        "status": const("ACTIVE"),
        "access_token": STRING,
        "token_type": const("Bearer"),
        "expires_in": INTEGER,
        "expires_at": STRING,
        "scope": STRING,
    },
    title="DelegationAllowed",
)
STEP_UP = obj(
    {
        "delegation_id": STRING,
        "decision": const("STEP_UP"),
        "status": const("PENDING"),
        "auth_req_id": STRING,
        "expires_in": INTEGER,
        "interval": INTEGER,
    },
    title="DelegationStepUp",
    description="Poll POST /oauth/token (grant_type=urn:openid:params:grant-type:ciba) every `interval` s.",
)
BLOCKED = obj(
    {**ERROR["properties"], "decision": const("BLOCK")},
    title="DelegationBlocked",
    description="The same answer for an explicit BLOCK, no matching policy, an unknown receiving tenant "
    "and a disabled one. A role that may not request delegations gets the plain error (`forbidden`), "
    "a body naming another tenant as the caller's own `tenant_mismatch`.",
)


@check(
    {
        "type": "string",
        "pattern": ids.TENANT_ID.pattern,
        "description": "Only delegations with this tenant on the other side (the requesting tenant of "
        "inbound ones, the receiving tenant of outbound ones).",
    }
)
def counterpart(name: str, value: Any) -> str:
    return tenant_id(name, value)


LIST_QUERY = Query(
    {
        "direction": one_of("inbound", "outbound"),
        "status": one_of(*(s.value for s in Status)),
        "counterpart_tenant_id": counterpart,
        "limit": limit(),
        "cursor": cursor,
    }
)
DELEGATIONS = obj(
    {"delegations": {"type": "array", "items": DELEGATION}, "next_cursor": {"type": ["string", "null"]}}
)
VERIFY = Fields({"token": token})
REASON = Fields({}, {"reason": text(500)})


@endpoint(
    bp,
    "/delegations/request",
    permissions=AUTHENTICATED | {Permission.KMS_SIGN},
    methods=["POST"],
    roles=AGENT,
    prefetch=True,
    body=DELEGATION_REQUEST_DOC,
    headers={"Idempotency-Key": idempotency_key},
    responses={
        201: Answer(
            ALLOWED,
            "ALLOW: the delegation token at once.",
            links=links("delegation_id", "getDelegation", "revokeDelegation"),
        ),
        202: Answer(
            STEP_UP,
            "STEP_UP: a human of the receiving tenant decides; poll for the token.",
            links={
                **links("delegation_id", "getDelegation", "approveDelegation", "rejectDelegation"),
                **links("auth_req_id", "getStepUpStatus", "completeStepUp"),
            },
        ),
        403: Answer(
            {"anyOf": [BLOCKED, ERROR]},
            "BLOCK: no token (or, without `decision`, a caller that may not ask).",
        ),
    },
    errors=(409, 422),
)
def request_delegation(ctx: Ctx) -> Reply:
    """Ask the receiving tenant's policy for a delegation: ALLOW 201, STEP_UP 202, BLOCK 403."""
    raw = ctx.json()
    assert ctx.principal is not None
    for own in OWN_TENANT_FIELDS:
        named = raw.pop(own, None)  # null, as for every optional field: not given
        if named is not None and named != ctx.principal.tenant_id:
            raise TenantMismatch()
    body = DELEGATION_REQUEST(raw)
    key = ctx.headers.get("idempotency-key")
    if key is not None:
        idempotency_key("Idempotency-Key", key)
    assert ctx.gate is not None  # a DPoP proof with the request binds the delegation to its key
    req = DelegationRequest(**body, dpop_jkt=ctx.gate.dpop_binding())
    outcome = ctx.container.delegations.request(ctx.call, req, key)
    return Reply(outcome.body, outcome.status_code, NO_STORE)


@endpoint(bp, "/delegations", roles=READERS, query=LIST_QUERY, responses={200: DELEGATIONS})
def list_delegations(ctx: Ctx) -> dict[str, Any]:
    """The caller's delegations: inbound (received; the default for admins) or outbound."""
    query = LIST_QUERY(ctx.query())
    assert ctx.principal is not None
    default = "inbound" if ctx.principal.role is Role.ADMIN else "outbound"
    status = query["status"]
    return ctx.container.delegations.list(
        ctx.call,
        direction=query["direction"] or default,
        status=Status(status) if status else None,
        limit=query["limit"],
        cursor=query["cursor"],
        counterpart_tenant_id=query["counterpart_tenant_id"],
    )


@endpoint(
    bp,
    "/delegations/verify",
    methods=["POST"],
    roles=ADMIN_OR_AGENT,
    prefetch=True,
    body=VERIFY,
    responses={200: INTROSPECTION},
)
def verify_delegation(ctx: Ctx) -> Reply:
    """Check a delegation token addressed to the caller's tenant: signature and registry."""
    body = VERIFY(ctx.json())
    return Reply(ctx.container.verification.verify(ctx.call, body["token"]), headers=NO_STORE)


@endpoint(bp, "/delegations/{delegation_id}", roles=READERS, responses={200: DELEGATION})
def get_delegation(ctx: Ctx, delegation_id: str) -> dict[str, Any]:
    return ctx.container.delegations.get(ctx.call, delegation_id)


@endpoint(
    bp,
    "/delegations/{delegation_id}/revoke",
    methods=["POST"],
    roles=REVOKERS,
    prefetch=True,
    body=REASON,
    responses={200: DELEGATION},
    errors=(409,),
)
def revoke_delegation(ctx: Ctx, delegation_id: str) -> dict[str, Any]:
    """Revoke a live delegation at once (an admin of either side, an approver of the receiving
    side, or its requesting agent); the optional reason goes into the audit events."""
    reason = REASON(ctx.json()).get("reason") if ctx.request.raw_body else None
    return ctx.container.revocation.revoke(ctx.call, delegation_id, reason)
