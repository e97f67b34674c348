"""Receiving-side policies of the caller's tenant (admins only)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._spec import BOOLEAN, INTEGER, STRING, Answer, enum, links, maybe, obj
from chalicelib.api._validation import (
    Check,
    Fields,
    Query,
    action,
    action_pattern,
    check,
    integer,
    nullable,
    one_of,
    tenant_id,
)
from chalicelib.domain.delegation import (
    DEFAULT_STEPUP_EXPIRY_SECONDS,
    DEFAULT_TTL_SECONDS,
    MAX_STEPUP_EXPIRY_SECONDS,
    MAX_TTL_SECONDS,
    MIN_STEPUP_EXPIRY_SECONDS,
    MIN_TTL_SECONDS,
)
from chalicelib.domain.policy import Effect, Policy
from chalicelib.domain.principal import AMR_CLIENT_SECRET, AMR_FEDERATED, AMR_PRIVATE_KEY_JWT, Role
from chalicelib.errors import InvalidRequest

bp = Blueprint(__name__)

ADMIN = frozenset({Role.ADMIN})


def _requester(name: str, value: Any) -> str | None:
    return None if value is None else str(tenant_id(name, value))


@check(
    {
        "type": "boolean",
        "description": "Delegations under this policy must be bound to the agent's key (DPoP, "
        "RFC 9449): a request without a DPoP proof is refused (400 invalid_dpop_proof). Default false.",
    }
)
def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name} must be true or false.")
    return value


key_only = Check(
    flag,
    {
        "type": "boolean",
        "description": "Only agents that authenticated with keys (private_key_jwt, or a federated "
        "identity) get delegations under this policy; an agent that used a client secret gets the "
        "same 403 as a BLOCK (nothing tells it why; the receiving tenant's log does). Default false.",
    },
)
MAX_TTL = Check(
    integer(MIN_TTL_SECONDS, MAX_TTL_SECONDS),
    {
        "type": "integer",
        "minimum": MIN_TTL_SECONDS,
        "maximum": MAX_TTL_SECONDS,
        "description": "The maximum token lifetime for the action, in seconds: a request asking for "
        "more gets this (capped, not refused), one asking for none gets this too. "
        f"Default {DEFAULT_TTL_SECONDS}.",
    },
)
AMR = one_of(AMR_CLIENT_SECRET, AMR_PRIVATE_KEY_JWT, AMR_FEDERATED)

NEW_POLICY = Fields(
    {"action": action_pattern, "effect": one_of(*(e.value for e in Effect))},
    {
        "requesting_tenant_id": Check(
            _requester,
            {**nullable(tenant_id.schema), "description": "The requesting tenant; absent or null: any."},
        ),
        "ttl_seconds": MAX_TTL,
        "stepup_expiry_seconds": integer(MIN_STEPUP_EXPIRY_SECONDS, MAX_STEPUP_EXPIRY_SECONDS),
        "require_dpop": flag,
        "require_private_key_jwt": key_only,
    },
)
NO_PARAMS = Query()
POLICY = obj(
    {
        "policy_id": STRING,
        "action": STRING,
        "effect": enum(*(e.value for e in Effect)),
        "requesting_tenant_id": maybe(STRING),
        "ttl_seconds": {**INTEGER, "description": "The maximum token lifetime (requests are capped to it)."},
        "stepup_expiry_seconds": INTEGER,
        "require_dpop": BOOLEAN,
        "require_private_key_jwt": BOOLEAN,
        "created_at": STRING,
        "updated_at": maybe(STRING),
    },
    title="Policy",
)
EVALUATION = Fields(
    {
        "requesting_tenant_id": Check(
            tenant_id, {**tenant_id.schema, "description": "The tenant whose request is simulated."}
        ),
        "action": action,
    },
    {
        "auth_method": Check(
            AMR,
            {**AMR.schema, "description": "How the simulated agent authenticated (its token's amr); "
             "absent: not considered."},
        ),
        "ttl_seconds": Check(
            integer(MIN_TTL_SECONDS, MAX_TTL_SECONDS), {**MAX_TTL.schema, "description": "The TTL asked for."}
        ),
    },
)
EVALUATED = obj(
    {
        "decision": enum(*(e.value for e in Effect)),
        "policy": {
            "anyOf": [POLICY, {"type": "null"}],
            "description": "The deciding policy; null: none matches (BLOCK).",
        },
        "explanation": STRING,
        "granted_ttl_seconds": {
            **maybe(INTEGER),
            "description": "The token lifetime the request would get (the policy's maximum caps it); "
            "null: no token (BLOCK).",
        },
    },
    title="PolicyEvaluation",
)
DELETED = obj({"policy_id": STRING, "deleted": BOOLEAN}, title="PolicyDeleted")
POLICIES = obj({"policies": {"type": "array", "items": POLICY}})


@endpoint(
    bp,
    "/policies",
    methods=["PUT"],
    roles=ADMIN,
    body=NEW_POLICY,
    responses={
        200: Answer(POLICY, links=links("policy_id", "deletePolicy")),
        201: Answer(POLICY, links=links("policy_id", "deletePolicy")),
    },
)
def upsert_policy(ctx: Ctx) -> Reply:
    """Create or replace the policy for (action, requesting tenant): 201 when it is new."""
    body = NEW_POLICY(ctx.json())
    policy = Policy(
        action=body["action"],
        effect=Effect(body["effect"]),
        requesting_tenant_id=body["requesting_tenant_id"],
        ttl_seconds=body["ttl_seconds"] or DEFAULT_TTL_SECONDS,
        stepup_expiry_seconds=body["stepup_expiry_seconds"] or DEFAULT_STEPUP_EXPIRY_SECONDS,
        require_dpop=bool(body["require_dpop"]),
        require_private_key_jwt=bool(body["require_private_key_jwt"]),
    )
    created, view = ctx.container.policies.upsert(ctx.call, policy)
    return Reply(view, 201 if created else 200)


@endpoint(bp, "/policies", roles=ADMIN, query=NO_PARAMS, responses={200: POLICIES})
def list_policies(ctx: Ctx) -> dict[str, Any]:
    NO_PARAMS(ctx.query())
    return ctx.container.policies.list(ctx.call)


@endpoint(
    bp,
    "/policies/evaluate",
    methods=["POST"],
    roles=ADMIN,
    prefetch=True,
    body=EVALUATION,
    responses={200: EVALUATED},
)
def evaluate_policies(ctx: Ctx) -> dict[str, Any]:
    """A dry run: the decision a delegation request by `requesting_tenant_id` for `action`
    would get from the caller's policies, and the policy that decides it. Creates nothing."""
    body = EVALUATION(ctx.json())
    return ctx.container.policies.evaluate(
        ctx.call,
        body["requesting_tenant_id"],
        body["action"],
        auth_method=body["auth_method"],
        ttl_seconds=body["ttl_seconds"],
    )


@endpoint(
    bp, "/policies/{policy_id}", methods=["DELETE"], roles=ADMIN, prefetch=True, responses={200: DELETED}
)
def delete_policy(ctx: Ctx, policy_id: str) -> dict[str, Any]:
    return ctx.container.policies.delete(ctx.call, policy_id)
